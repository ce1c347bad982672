import PrismCore
@testable import PrismSAM
import PrismTestSupport
import XCTest

final class TwoWayTransformerTests: XCTestCase {
    /// The transformer's outputs for the one-click case, captured in transformers by a forward hook.
    func testQueriesAndKeysMatchTransformers() {
        let g = TinySam.golden
        let c = 32, n = 100
        // tokens = [iou token, mask tokens, sparse], assembled by the decoder
        let outputs = TinySam.model.maskDecoder.transformerOutputs(
            image: g.tensor("embedding"), imagePE: g.tensor("dense_pe"), sparse: g.tensor("point.sparse"),
            dense: g.tensor("point.dense"))
        XCTAssertEqual(outputs.keys.shape, [n, c])
        assertClose(outputs.queries, g.tensor("transformer.queries"), atol: 1e-4, rtol: 1e-4, "queries")
        assertClose(outputs.keys, g.tensor("transformer.keys"), atol: 1e-4, rtol: 1e-4, "keys")
    }
}
