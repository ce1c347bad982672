import Foundation
import PrismCore
import PrismIO
@testable import PrismSAM
import PrismTestSupport
import XCTest

/// transformers → original segment-anything names (the inverse of convert_sam_to_hf.py), for the test only.
func originalName(_ hf: String, iouHeadDepth: Int = 3) -> String {
    if hf == SamRemap.fourierName { return "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix" }
    var n = hf
    for head in ["iou_prediction_head"] + (0..<4).map({ "output_hypernetworks_mlps.\($0)" }) {
        let depth = head == "iou_prediction_head" ? iouHeadDepth : 3
        let p = "mask_decoder.\(head)."
        guard n.hasPrefix(p) else { continue }
        var rest = String(n.dropFirst(p.count))
        if rest.hasPrefix("proj_in.") { rest = "layers.0." + rest.dropFirst("proj_in.".count) }
        else if rest.hasPrefix("proj_out.") { rest = "layers.\(depth - 1)." + rest.dropFirst("proj_out.".count) }
        else if rest.hasPrefix("layers.") {
            let parts = rest.split(separator: ".", maxSplits: 2)
            rest = "layers.\(Int(parts[1])! + 1).\(parts[2])"
        }
        n = p + rest
    }
    let pairs: [(String, String)] = [
        ("vision_encoder.", "image_encoder."), (".layers.", ".blocks."), ("patch_embed.projection.", "patch_embed.proj."),
        ("neck.conv1.", "neck.0."), ("neck.layer_norm1.", "neck.1."), ("neck.conv2.", "neck.2."), ("neck.layer_norm2.", "neck.3."),
        ("mask_embed.conv1.", "mask_downscaling.0."), ("mask_embed.layer_norm1.", "mask_downscaling.1."),
        ("mask_embed.conv2.", "mask_downscaling.3."), ("mask_embed.layer_norm2.", "mask_downscaling.4."),
        ("mask_embed.conv3.", "mask_downscaling.6."), ("point_embed.", "point_embeddings."),
        ("upscale_conv1.", "output_upscaling.0."), ("upscale_layer_norm.", "output_upscaling.1."),
        ("upscale_conv2.", "output_upscaling.3."), (".layer_norm", ".norm"),
    ]
    for (a, b) in pairs { n = n.replacingOccurrences(of: a, with: b) }
    // the mask decoder's transformer layers keep `layers` in the original (only the ViT uses `blocks`)
    if n.hasPrefix("mask_decoder.") { n = n.replacingOccurrences(of: ".blocks.", with: ".layers.") }
    return n
}

final class RemapTests: XCTestCase {
    func testOriginalNamesMapToTransformersNames() {
        let r = SamRemap(layout: .original, iouHeadDepth: 3)
        XCTAssertEqual(r("image_encoder.blocks.3.norm1.weight"), "vision_encoder.layers.3.layer_norm1.weight")
        XCTAssertEqual(r("image_encoder.patch_embed.proj.weight"), "vision_encoder.patch_embed.projection.weight")
        XCTAssertEqual(r("image_encoder.neck.3.bias"), "vision_encoder.neck.layer_norm2.bias")
        XCTAssertEqual(r("prompt_encoder.mask_downscaling.6.weight"), "prompt_encoder.mask_embed.conv3.weight")
        XCTAssertEqual(r("prompt_encoder.point_embeddings.2.weight"), "prompt_encoder.point_embed.2.weight")
        XCTAssertEqual(r("prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"), SamRemap.fourierName)
        XCTAssertEqual(r("mask_decoder.transformer.norm_final_attn.weight"), "mask_decoder.transformer.layer_norm_final_attn.weight")
        XCTAssertEqual(r("mask_decoder.transformer.layers.1.norm4.bias"), "mask_decoder.transformer.layers.1.layer_norm4.bias")
        XCTAssertEqual(r("mask_decoder.output_upscaling.1.weight"), "mask_decoder.upscale_layer_norm.weight")
        XCTAssertEqual(r("mask_decoder.iou_prediction_head.layers.0.weight"), "mask_decoder.iou_prediction_head.proj_in.weight")
        XCTAssertEqual(r("mask_decoder.iou_prediction_head.layers.1.bias"), "mask_decoder.iou_prediction_head.layers.0.bias")
        XCTAssertEqual(r("mask_decoder.iou_prediction_head.layers.2.weight"), "mask_decoder.iou_prediction_head.proj_out.weight")
        XCTAssertEqual(r("mask_decoder.output_hypernetworks_mlps.3.layers.2.bias"), "mask_decoder.output_hypernetworks_mlps.3.proj_out.bias")
        XCTAssertNil(r("pixel_mean"))
        XCTAssertEqual(SamRemap(layout: .transformers, iouHeadDepth: 3)("mask_decoder.iou_prediction_head.layers.0.weight"),
                       "mask_decoder.iou_prediction_head.layers.0.weight")
    }

    /// The tiny checkpoint renamed to original segment-anything names (plus pixel_mean/std buffers)
    /// loads through the remap and gives the same masks.
    func testOriginalCheckpointGivesTheSameOutputs() throws {
        let dir = try writeTinyVariant { ts in
            ts.map { (originalName($0.name), $0.tensor) } + [("pixel_mean", Tensor(zeros: [3, 1, 1])), ("pixel_std", Tensor(zeros: [3, 1, 1]))]
        }
        defer { try? FileManager.default.removeItem(at: dir) }
        let names = try Checkpoint(directory: dir).names
        XCTAssertTrue(names.contains("image_encoder.blocks.0.norm1.weight"))
        XCTAssertTrue(names.contains("mask_decoder.iou_prediction_head.layers.2.weight"))
        let model = try SamModel(directory: dir)
        let p = SamPredictor(model: model)
        let pixels = TinySam.golden.tensor("pre_up.pixel_values")
        let e = p.embed(pixels: pixels, originalWidth: TinySam.width, originalHeight: TinySam.height)
        XCTAssertEqual(e.features, TinySam.model.imageEncoder(pixels))
        let a = try p.masks(e, points: TinySam.points("multipoint"))
        let b = try TinySam.predictor.masks(e, points: TinySam.points("multipoint"))
        XCTAssertEqual(a.lowResLogits, b.lowResLogits)
        XCTAssertEqual(a.iouScores, b.iouScores)
    }
}

/// The real ViT-B key list (names + shapes of transformers' save_pretrained, committed as a manifest): a checkpoint
/// with every name present but 1-element tensors must produce exactly one shape problem per tensor, with the
/// manifest's shape, and nothing missing or unexpected, in both the transformers and the original layout.
final class ViTBManifestTests: XCTestCase {
    private func manifest() throws -> [(name: String, shape: [Int])] {
        let text = try String(contentsOf: fixtureURL("sam-vit-base.manifest.txt"), encoding: .utf8)
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
            let p = line.split(separator: " ")
            return (String(p[0]), p[1].split(separator: ",").map { Int($0)! })
        }
    }

    private func problems(names: [String]) throws -> [WeightLoader.Problem] {
        let dir = temporaryDirectory("sam-vitb-names")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(#"{"vision_config": {}, "prompt_encoder_config": {}, "mask_decoder_config": {}}"#.utf8)
            .write(to: dir.appendingPathComponent("config.json"))
        try SafetensorsWriter.write(to: dir.appendingPathComponent("model.safetensors"),
                                    tensors: names.map { ($0, Tensor(zeros: [1])) })
        do { _ = try SamModel(directory: dir) } catch let e as WeightLoader.LoadError { return e.problems }
        XCTFail("a checkpoint of 1-element tensors loaded")
        return []
    }

    func testEveryViTBTensorIsBoundWithItsShape() throws {
        let m = try manifest()
        XCTAssertEqual(m.count, 314)
        let expected = Dictionary(uniqueKeysWithValues: m.map { ($0.name, $0.shape) })
        for (layout, names) in [("transformers", m.map(\.name)), ("original", m.map { originalName($0.name) })] {
            let found = try problems(names: names)
            var shapes: [String: [Int]] = [:]
            for p in found {
                guard case let .shape(e, a) = p.kind, a == [1] else { XCTFail("\(layout): \(p)"); continue }
                shapes[p.name] = e
            }
            XCTAssertEqual(shapes, expected, layout)
        }
    }
}
