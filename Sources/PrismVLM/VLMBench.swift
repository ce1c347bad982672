import Foundation
import PrismCore
import PrismIO

/// Timings of the Kimi-VL model in `modelDirectory` (any scale; e.g. the full A3B shape with a few layers from
/// Tools/make_random_checkpoint.py), with their matrix-product FLOPs so callers can compare against a GEMM rate:
///   vision   MoonViT + projector on one random side×side image (896² = 4096 patches),
///   prefill  `tokens` random text tokens on a fresh cache (lm_head on the last position only),
///   ttft     one image and `question` text tokens, vision + prefill to the first logits (what `prism ask` waits for).
/// Each is the best of `runs` after a warm-up on a small input (which also JITs kernels and packs the weights the
/// warm-up touches).
public struct VLMBenchResult: Sendable {
    public var visionSeconds: Double, visionFLOPs: Double, patches: Int
    public var prefillSeconds: Double, prefillFLOPs: Double, tokens: Int
    public var ttftSeconds: Double, ttftTokens: Int
}

public func benchmarkVLM(_ model: KimiVL, imageSide: Int = 896, tokens: Int = 1024,
                         question: Int = 20, runs: Int = 1) throws -> VLMBenchResult {
    let text = model.textConfig
    var rng = SplitMix64(seed: 7)
    func image(_ side: Int) throws -> ProcessedImage {
        try model.imageProcessor(RGBImage(width: side, height: side, pixels: (0..<(side * side * 3)).map { _ in UInt8(rng.next() & 255) }))
    }
    func words(_ n: Int) -> [Int] {
        (0..<n).map { _ in var id: Int; repeat { id = Int(rng.next() % UInt64(text.vocabSize)) } while id == model.mediaPadId; return id }
    }
    func best(_ body: () throws -> Void) rethrows -> Double {
        var t = Double.infinity
        for _ in 0..<max(1, runs) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            t = min(t, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        return t
    }
    // warm-up: every vision and text weight once, small
    let hasVision = model.vision != nil
    if hasVision { _ = try model.imageEmbeddings([try image(4 * 28)]) }
    _ = try model.prefill(Prompt(tokens: words(16)), cache: model.newCache())

    var r = VLMBenchResult(visionSeconds: 0, visionFLOPs: 0, patches: 0, prefillSeconds: 0, prefillFLOPs: 0, tokens: tokens,
                           ttftSeconds: 0, ttftTokens: 0)
    let prompt = Prompt(tokens: words(tokens))
    r.prefillSeconds = try best { _ = try model.prefill(prompt, cache: model.newCache()) }
    r.prefillFLOPs = prefillFLOPs(text, tokens: tokens)
    if hasVision, let vision = model.visionConfig {
        let img = try image(imageSide)
        r.patches = img.grid.patches
        r.visionSeconds = try best { _ = try model.imageEmbeddings([img]) }
        r.visionFLOPs = visionFLOPs(vision, textHidden: text.hiddenSize, patches: img.grid.patches)
        let ask = Prompt(tokens: Array(repeating: model.mediaPadId, count: img.tokenCount) + words(question), images: [img])
        r.ttftTokens = ask.tokens.count
        r.ttftSeconds = try best { _ = try model.prefill(ask, cache: model.newCache()) }
    }
    return r
}

/// Matrix-product FLOPs of MoonViT + projector on one image of `patches` patches.
func visionFLOPs(_ c: VisionConfig, textHidden: Int, patches l: Int) -> Double {
    let L = Double(l), d = Double(c.hiddenSize), i = Double(c.intermediateSize), p = Double(c.patchSize)
    let perLayer = 2 * L * d * 3 * d + 2 * L * d * d + 2 * 2 * L * d * i + 2 * 2 * L * L * d
    let merged = Double(c.mergeKernelSize[0] * c.mergeKernelSize[1]) * d, n = L / Double(c.mergeKernelSize[0] * c.mergeKernelSize[1])
    return 2 * L * 3 * p * p * d + Double(c.numHiddenLayers) * perLayer + 2 * n * merged * merged + 2 * n * merged * Double(textHidden)
}

/// Matrix-product FLOPs of a prefill of `tokens` on an empty cache, logits for the last position only.
func prefillFLOPs(_ c: TextConfig, tokens t: Int) -> Double {
    let T = Double(t), d = Double(c.hiddenSize), h = Double(c.numAttentionHeads)
    let qk = Double(c.qkNopeHeadDim + c.qkRopeHeadDim), dv = Double(c.vHeadDim), r = Double(c.kvLoraRank)
    let attention = 2 * T * d * h * qk + 2 * T * d * (r + Double(c.qkRopeHeadDim)) + 2 * T * r * h * (Double(c.qkNopeHeadDim) + dv)
        + 2 * T * h * dv * d + 2 * (T * (T + 1) / 2) * h * (qk + dv)
    var total = 0.0
    for layer in 0..<c.numHiddenLayers {
        total += attention
        if c.isMoE(layer: layer) {
            let moe = Double(c.moeIntermediateSize)
            total += 2 * T * d * Double(c.nRoutedExperts) + 2 * T * 3 * d * moe * Double(c.nSharedExperts)
                + 2 * T * Double(c.numExpertsPerTok) * 3 * d * moe
        } else {
            total += 2 * T * 3 * d * Double(c.intermediateSize)
        }
    }
    return total + 2 * d * Double(c.vocabSize)
}
