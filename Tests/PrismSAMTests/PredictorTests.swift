import Foundation
import PrismCore
import PrismIO
@testable import PrismSAM
import PrismTestSupport
import XCTest

final class PredictorTests: XCTestCase {
    private func image(_ tag: String) -> RGBImage {
        let t = TinySam.golden.tensor("pre_\(tag).image")            // [H, W, 3] uint8
        return RGBImage(width: t.shape[1], height: t.shape[0], pixels: t.data.map { UInt8($0) })
    }

    /// Resize (Pillow bilinear, antialiased when shrinking), rescale, normalise and pad like SamImageProcessor.
    func testPreprocessingMatchesSamImageProcessor() {
        for tag in ["up", "down"] {
            let (pixels, w, h) = TinySam.predictor.preprocess(image(tag))
            let reshaped = TinySam.golden.tensor("pre_\(tag).reshaped").data
            XCTAssertEqual([Float(h), Float(w)], reshaped, tag)
            assertClose(pixels, TinySam.golden.tensor("pre_\(tag).pixel_values"), atol: 1e-5, rtol: 1e-5, tag)
        }
    }

    /// End to end from the image: our pre-processing, encoder, prompt mapping, decoder and post-processing.
    func testFinalMasksMatchTransformers() throws {
        let p = TinySam.predictor
        let embedding = p.embed(image("up"))
        XCTAssertLessThanOrEqual(relativeError(embedding.features, TinySam.golden.tensor("embedding")), 1e-4)
        for name in TinySam.cases {
            let r = try p.masks(embedding, points: TinySam.points(name), box: TinySam.box(name),
                                maskInput: TinySam.maskInput(name), multimask: TinySam.multimask(name))
            let low = TinySam.golden.tensor("\(name).low_res"), iou = TinySam.golden.tensor("\(name).iou")
            let expected = TinySam.golden.tensor("\(name).masks")                 // [M, H, W] 0/1
            XCTAssertEqual(r.logits.shape, expected.shape, name)
            assertClose(r.lowResLogits, low, atol: 1e-3, rtol: 1e-3, "\(name) low-res")
            assertClose(Tensor(shape: [r.count], data: r.iouScores), iou, atol: 1e-3, rtol: 1e-3, "\(name) iou")
            let n = r.width * r.height
            for i in 0..<r.count {
                let want = expected.data[(i * n)..<((i + 1) * n)].map { UInt8($0) }
                let score = maskIoU(r.mask(i), want)
                print("\(name) mask \(i): IoU \(score), low-res max |Δ| \(r.lowResLogits.maxAbsDifference(low))")
                XCTAssertGreaterThanOrEqual(score, 0.999, "\(name) mask \(i)")
                XCTAssertEqual(r.area(i), want.reduce(0) { $0 + Int($1) }, accuracy: 10, "\(name) area \(i)")
            }
        }
    }

    func testEmbeddingCacheRoundTrip() throws {
        let dir = temporaryDirectory("sam-cache")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("emb.safetensors")
        let p = TinySam.predictor, img = image("up")
        let (first, cached1) = try p.embedding(for: img, cache: url)
        XCTAssertFalse(cached1)
        let (second, cached2) = try p.embedding(for: img, cache: url)
        XCTAssertTrue(cached2)
        XCTAssertEqual(second.features, first.features)
        XCTAssertEqual([second.originalWidth, second.originalHeight, second.inputWidth, second.inputHeight], [150, 100, 160, 107])
        let a = try p.masks(first, points: TinySam.points("point")), b = try p.masks(second, points: TinySam.points("point"))
        XCTAssertEqual(a.logits, b.logits)
        // another image must not reuse the cache
        let (_, cached3) = try p.embedding(for: image("down"), cache: url)
        XCTAssertFalse(cached3)
        // a file that is not an embedding is reported in one line
        let junk = dir.appendingPathComponent("junk.safetensors")
        try SafetensorsWriter.write(to: junk, tensors: [("x", Tensor(zeros: [2]))])
        assertThrowsMessage("\(junk.path): not a usable SAM embedding file: format is 'none', expected prism-sam-embedding-1") {
            try ImageEmbedding(contentsOf: junk)
        }
    }

    func testPromptValidation() {
        let p = TinySam.predictor, e = TinySam.goldenEmbedding
        assertThrowsMessage("point (150, 20) is outside the 150×100 image") { try p.masks(e, points: [SamPoint(x: 150, y: 20)]) }
        assertThrowsMessage("point (-1, 20) is outside the 150×100 image") { try p.masks(e, points: [SamPoint(x: -1, y: 20)]) }
        assertThrowsMessage("box 0,0,151,50 is outside the 150×100 image") {
            try p.masks(e, box: SamBox(x0: 0, y0: 0, x1: 151, y1: 50))
        }
        assertThrowsMessage("no prompt: give at least one point, a box or a mask input") { try p.masks(e) }
        assertThrowsMessage("mask input must be 40×40 low-res logits, got [10, 10]") {
            try p.masks(e, maskInput: Tensor(zeros: [10, 10]))
        }
    }
}
