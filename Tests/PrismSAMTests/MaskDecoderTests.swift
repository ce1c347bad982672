import PrismCore
@testable import PrismSAM
import PrismTestSupport
import XCTest

final class MaskDecoderTests: XCTestCase {
    /// HF embedding + HF prompt embeddings in, low-res logits and IoU out, for every prompt kind.
    func testLogitsAndIoUMatchTransformers() {
        let g = TinySam.golden
        for name in TinySam.cases {
            let sparse = g.file.contains("\(name).sparse") ? g.tensor("\(name).sparse") : Tensor(zeros: [0, 32])
            let (logits, iou) = TinySam.model.maskDecoder(image: g.tensor("embedding"), imagePE: g.tensor("dense_pe"),
                                                           sparse: sparse, dense: g.tensor("\(name).dense"),
                                                           multimask: TinySam.multimask(name))
            let el = g.tensor("\(name).low_res"), ei = g.tensor("\(name).iou")
            print("\(name): logits max |Δ| \(logits.maxAbsDifference(el)), iou max |Δ| \(iou.maxAbsDifference(ei))")
            assertClose(logits, el, atol: 1e-3, rtol: 1e-3, "\(name) logits")
            assertClose(iou, ei, atol: 1e-3, rtol: 1e-3, "\(name) iou")
        }
    }

    func testMultimaskPicksTokensOneToThreeAndSingleTokenZero() {
        let g = TinySam.golden
        let run = { (m: Bool) in
            TinySam.model.maskDecoder(image: g.tensor("embedding"), imagePE: g.tensor("dense_pe"),
                                      sparse: g.tensor("point.sparse"), dense: g.tensor("point.dense"), multimask: m)
        }
        let multi = run(true), single = run(false)
        XCTAssertEqual(multi.logits.shape, [3, 40, 40])
        XCTAssertEqual(single.logits.shape, [1, 40, 40])
        XCTAssertNotEqual(single.logits.data, multi.logits.slice(rows: 0..<1).data)
    }
}
