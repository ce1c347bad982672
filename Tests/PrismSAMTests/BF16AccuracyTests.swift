import Foundation
import PrismCore
import PrismIO
@testable import PrismSAM
import PrismTestSupport
import XCTest

/// The image encoder in bf16 against f32, through the whole predictor: masks IoU ≥ 0.99 and predicted IoU scores
/// within 0.02. On CPUs without native bf16 this runs the emulation (same numerics), so it checks the bf16 design
/// everywhere; where the CPU has bf16 it checks oneDNN's kernels.
final class BF16AccuracyTests: XCTestCase {
    func compare(_ f32: MaskPrediction, _ bf16: MaskPrediction, _ label: String) {
        XCTAssertEqual(f32.count, bf16.count, label)
        for i in 0..<f32.count {
            let iou = maskIoU(f32.mask(i), bf16.mask(i))
            XCTAssertGreaterThanOrEqual(iou, 0.99, "\(label) mask \(i)")
            XCTAssertEqual(f32.iouScores[i], bf16.iouScores[i], accuracy: 0.02, "\(label) IoU score \(i)")
        }
    }

    /// The committed golden image and prompts on the tiny test checkpoint.
    func testGoldenCasesOnTinyCheckpoint() throws {
        let bf16 = try SamPredictor(directory: TinySam.directory, precision: .bf16)
        XCTAssertNotEqual(bf16.model.fingerprint, TinySam.model.fingerprint)
        let t = TinySam.golden.tensor("pre_up.image")
        let img = RGBImage(width: t.shape[1], height: t.shape[0], pixels: t.data.map { UInt8($0) })
        let e32 = TinySam.predictor.embed(img), e16 = bf16.embed(img)
        let rel = relativeError(e16.features, e32.features)
        XCTAssertLessThanOrEqual(rel, 2e-2, "embedding")
        XCTAssertGreaterThan(rel, 0, "the bf16 encoder computed exactly the f32 embedding: precision not applied")
        for name in TinySam.cases {
            let args = (TinySam.points(name), TinySam.box(name), TinySam.maskInput(name), TinySam.multimask(name))
            compare(try TinySam.predictor.masks(e32, points: args.0, box: args.1, maskInput: args.2, multimask: args.3),
                    try bf16.masks(e16, points: args.0, box: args.1, maskInput: args.2, multimask: args.3), name)
        }
    }

    /// The embedded trained model on the shipped example scene: a click on each object's centre (3 masks) and its box.
    func testEmbeddedModelOnExampleScene() throws {
        let weights = fixtureURL("../../../Weights")
        let model = weights.appendingPathComponent("prism-sam-tiny")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: model.path), "Weights/prism-sam-tiny is not installed")
        let f32 = try SamPredictor(directory: model), bf16 = try SamPredictor(directory: model, precision: .bf16)
        let img = try RGBImage(contentsOf: weights.appendingPathComponent("examples/scene.png"))
        let e32 = f32.embed(img), e16 = bf16.embed(img)
        XCTAssertLessThanOrEqual(relativeError(e16.features, e32.features), 2e-2, "embedding")
        struct Scene: Decodable { struct Object: Decodable { let center: [Float]; let box: [Float] }; let objects: [Object] }
        let scene = try JSONDecoder().decode(Scene.self, from: Data(contentsOf: weights.appendingPathComponent("examples/scene.json")))
        for (i, o) in scene.objects.enumerated() {
            let click = [SamPoint(x: o.center[0], y: o.center[1])]
            compare(try f32.masks(e32, points: click, multimask: true), try bf16.masks(e16, points: click, multimask: true), "object \(i) click")
            let box = SamBox(x0: o.box[0], y0: o.box[1], x1: o.box[2], y1: o.box[3])
            compare(try f32.masks(e32, box: box), try bf16.masks(e16, box: box), "object \(i) box")
        }
    }
}
