import PrismCore
@testable import PrismSAM
import PrismTestSupport
import XCTest

final class ImageEncoderTests: XCTestCase {
    /// Same pixel_values as transformers → same image embedding (padded windows, global layer, neck).
    func testEmbeddingMatchesTransformers() {
        let g = TinySam.golden
        let out = TinySam.model.imageEncoder(g.tensor("pre_up.pixel_values"))
        let expected = g.tensor("embedding")
        XCTAssertEqual(out.shape, [32, 10, 10])
        let rel = relativeError(out, expected)
        print("image embedding: max |Δ| \(out.maxAbsDifference(expected)), relative \(rel)")
        XCTAssertLessThanOrEqual(rel, 1e-4)
        assertClose(out, expected, atol: 1e-4, rtol: 1e-4)
    }
}
