import Foundation
import PrismCore
import PrismIO
import PrismTestSupport
@testable import PrismVLM
import XCTest

/// The model loaded in bf16 against f32: image features (MoonViT + projector) within 2e-2 relative error, and the
/// decoder's next-token argmax unchanged wherever the f32 logits' top-2 margin exceeds 0.1. Runs the emulation on
/// CPUs without native bf16 (same numerics), oneDNN's kernels where the CPU has them.
final class BF16AccuracyTests: XCTestCase {
    /// (relative error of the image features, positions compared, positions whose argmax moved)
    func compare(directory: URL, images: (KimiVL) throws -> [ProcessedImage], text: [Int],
                 file: StaticString = #filePath, line: UInt = #line) throws {
        let f32 = try KimiVL.load(directory: directory), bf16 = try KimiVL.load(directory: directory, precision: .bf16)
        let imgs = try images(f32)
        let features32 = try f32.imageEmbeddings(imgs), features16 = try bf16.imageEmbeddings(imgs)
        let rel = features16.maxAbsDifference(features32) / features32.data.map(abs).max()!
        XCTAssertLessThanOrEqual(rel, 2e-2, "image features", file: file, line: line)
        XCTAssertGreaterThan(rel, 0, "bf16 computed exactly the f32 features: precision not applied", file: file, line: line)

        let tokens = Array(repeating: f32.mediaPadId, count: features32.rows) + text
        let logits32 = f32.decoder.logits(try f32.prefillHidden([Prompt(tokens: tokens, images: imgs)], caches: [f32.newCache()]))
        let logits16 = bf16.decoder.logits(try bf16.prefillHidden([Prompt(tokens: tokens, images: imgs)], caches: [bf16.newCache()]))
        let v = logits32.lastDim
        var compared = 0
        for row in 0..<logits32.rows {
            let a = Array(logits32.data[(row * v)..<((row + 1) * v)]), b = Array(logits16.data[(row * v)..<((row + 1) * v)])
            let top = topK(a, k: 2)
            guard top.values[0] - top.values[1] > 0.1 else { continue }
            compared += 1
            XCTAssertEqual(topK(b, k: 1).indices[0], top.indices[0], "position \(row): argmax moved", file: file, line: line)
        }
        XCTAssertGreaterThan(compared, logits32.rows / 2, "too few confident positions to compare", file: file, line: line)
        print("bf16 vs f32 \(directory.lastPathComponent): features relative error \(rel), \(compared)/\(logits32.rows) positions compared")
    }

    /// The committed tiny checkpoint and reference images (random weights).
    func testTinyCheckpointWithReferenceImages() throws {
        let g = try Golden("vision_golden.safetensors")
        try compare(directory: fixtureURL("kimivl_tiny"), images: { m in
            try (0..<2).map { i in
                let t = g.tensor("image\(i).pixels")
                return try m.imageProcessor(RGBImage(width: t.shape[1], height: t.shape[0], pixels: t.data.map { UInt8($0) }))
            }
        }, text: [5, 17, 91, 3, 42, 7, 60, 11])
    }

    /// The embedded trained model on the shipped example scene.
    func testEmbeddedModelOnExampleScene() throws {
        let weights = fixtureURL("../../../Weights")
        let dir = weights.appendingPathComponent("prism-vl-tiny")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: dir.path), "Weights/prism-vl-tiny is not installed")
        try compare(directory: dir, images: { m in [try m.preprocess(imageAt: weights.appendingPathComponent("examples/scene.png"))] },
                    text: [12, 40, 77, 301, 5, 9, 150, 600, 33, 2])
    }
}
