import PrismCore
@testable import PrismSAM
import PrismTestSupport
import XCTest

final class PromptEncoderTests: XCTestCase {
    func testDensePositionalEmbeddingMatchesTransformers() {
        assertClose(TinySam.model.densePE, TinySam.golden.tensor("dense_pe"), atol: 1e-5, rtol: 1e-5)
    }

    /// Sparse tokens (points, padding point, box corners) and dense prompts for every golden case.
    func testSparseAndDenseMatchTransformers() {
        let p = TinySam.predictor, g = TinySam.golden, e = TinySam.goldenEmbedding
        let sx = Float(e.inputWidth) / Float(e.originalWidth), sy = Float(e.inputHeight) / Float(e.originalHeight)
        for name in TinySam.cases {
            let points = TinySam.points(name).map { SamPoint(x: $0.x * sx, y: $0.y * sy, label: $0.label) }
            let box = TinySam.box(name).map { SamBox(x0: $0.x0 * sx, y0: $0.y0 * sy, x1: $0.x1 * sx, y1: $0.y1 * sy) }
            let sparse = p.model.promptEncoder.sparse(points: points, box: box)
            assertClose(sparse, g.tensor("\(name).sparse"), atol: 1e-4, rtol: 1e-4, "\(name) sparse")
            let dense = p.model.promptEncoder.dense(maskInput: TinySam.maskInput(name))
            assertClose(dense, g.tensor("\(name).dense"), atol: 1e-4, rtol: 1e-4, "\(name) dense")
        }
    }

    func testOneClickGetsAPaddingTokenAndABoxDoesNot() {
        let pe = TinySam.model.promptEncoder
        XCTAssertEqual(pe.sparse(points: [SamPoint(x: 3, y: 4)], box: nil).shape, [2, 32])
        XCTAssertEqual(pe.sparse(points: [SamPoint(x: 3, y: 4)], box: SamBox(x0: 1, y0: 1, x1: 9, y1: 9)).shape, [3, 32])
        XCTAssertEqual(pe.sparse(points: [], box: SamBox(x0: 1, y0: 1, x1: 9, y1: 9)).shape, [2, 32])
    }
}
