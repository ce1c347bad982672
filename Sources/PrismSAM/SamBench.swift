import Foundation
import PrismCore

/// Times SAM on the model in `modelDirectory`: the image encoder on a 1024² (imageSize²) input, and one
/// prompt (prompt encoder + mask decoder, one click, multimask, low-res output) — the per-prompt cost once the
/// embedding is cached. Medians over `runs` encoder passes and 10 × `runs` decoder passes, after one warm-up each
/// (the decoder's warm-up prompt also prepares the embedding's decoder image side, as a first prompt does).
public func benchmarkSAM(modelDirectory: URL, runs: Int, precision: Precision = .f32) throws
    -> (encoderSeconds: Double, decoderMilliseconds: Double) {
    let predictor = try SamPredictor(directory: modelDirectory, precision: precision)
    let s = predictor.model.config.visionConfig.imageSize
    var rng = SplitMix64(seed: 42)
    let pixels = Tensor(shape: [3, s, s], data: (0..<(3 * s * s)).map { _ in Float(rng.nextUnit() * 4 - 2) })
    func seconds(_ body: () throws -> Void) rethrows -> Double {
        let t = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
    }
    var embedding = predictor.embed(pixels: pixels, originalWidth: s, originalHeight: s)   // warm-up
    var encoder: [Double] = []
    for _ in 0..<max(1, runs) {
        encoder.append(seconds { embedding = predictor.embed(pixels: pixels, originalWidth: s, originalHeight: s) })
    }
    let click = [SamPoint(x: Float(s) * 0.4, y: Float(s) * 0.3)]
    _ = try predictor.lowResMasks(embedding, points: click)
    var decoder: [Double] = []
    for _ in 0..<(10 * max(1, runs)) {
        decoder.append(try seconds { _ = try predictor.lowResMasks(embedding, points: click) })
    }
    return (median(encoder), 1000 * median(decoder))
}
