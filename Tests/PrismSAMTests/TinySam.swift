import Foundation
import PrismCore
import PrismIO
@testable import PrismSAM
import PrismTestSupport
import XCTest

/// The committed tiny checkpoint (transformers save_pretrained layout) and its goldens, loaded once.
enum TinySam {
    static let directory = fixtureURL("tiny-sam")
    static let golden = try! Golden("sam_golden.safetensors")
    static let model = try! SamModel(directory: directory)
    static let predictor = SamPredictor(model: model)
    /// The golden image is 150 × 100 (non-square: every case exercises the crop and both resizes).
    static let width = 150, height = 100
    static let cases = ["point", "multipoint", "box", "boxpoint", "maskinput", "single"]

    /// The HF embedding, with this image's sizes, as a decoder input independent of our encoder.
    static var goldenEmbedding: ImageEmbedding {
        let (w, h) = SamPredictor.resizedSize(width: width, height: height, longest: 160)
        return ImageEmbedding(features: golden.tensor("embedding"), originalWidth: width, originalHeight: height,
                              inputWidth: w, inputHeight: h)
    }

    static func points(_ name: String) -> [SamPoint] {
        guard golden.file.contains("\(name).points") else { return [] }
        let t = golden.tensor("\(name).points")
        return (0..<t.shape[0]).map { SamPoint(x: t[$0, 0], y: t[$0, 1], label: t[$0, 2] == 1 ? .positive : .negative) }
    }

    static func box(_ name: String) -> SamBox? {
        guard golden.file.contains("\(name).box") else { return nil }
        let b = golden.tensor("\(name).box").data
        return SamBox(x0: b[0], y0: b[1], x1: b[2], y1: b[3])
    }

    static func maskInput(_ name: String) -> Tensor? {
        golden.file.contains("\(name).mask_input") ? golden.tensor("\(name).mask_input") : nil
    }

    static func multimask(_ name: String) -> Bool { golden.tensor("\(name).multimask").data[0] == 1 }
}

/// max |a − b| / max |b|: the "relative" error the parity targets are stated in.
func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
    a.maxAbsDifference(b) / max(b.data.map(abs).max() ?? 1, 1e-12)
}

/// Intersection over union of two 0/1 masks.
func maskIoU(_ a: [UInt8], _ b: [UInt8]) -> Double {
    var inter = 0, union = 0
    for (x, y) in zip(a, b) { inter += Int(x & y); union += Int(x | y) }
    return union == 0 ? 1 : Double(inter) / Double(union)
}
