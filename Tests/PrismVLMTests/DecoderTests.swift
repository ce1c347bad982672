import Foundation
import PrismCore
import PrismIO
import PrismTestSupport
@testable import PrismVLM
import XCTest

/// Parity with transformers' DeepseekV3ForCausalLM (Tools/reference/deepseek_decoder.py), loaded from the
/// bare DeepseekV3 layout that save_pretrained writes.
final class DecoderTests: XCTestCase {
    static let model = try! KimiVL.load(directory: fixtureURL("deepseek_tiny"))
    let g = try! Golden("decoder_golden.safetensors")

    /// max |Δ| / max |expected|
    func relativeError(_ a: Tensor, _ e: Tensor) -> Float {
        a.maxAbsDifference(e) / e.data.map(abs).max()!
    }

    func logits(_ m: KimiVL, _ ids: [Int], cache: KVCache? = nil) -> Tensor {
        let c = cache ?? m.newCache()
        return m.decoder.logits(m.decoder.forward(m.decoder.embed(ids), lengths: [ids.count], caches: [c]))
    }

    func testLogitsMatchTransformersWithBothAttentionOrders() {
        let m = Self.model
        defer { m.decoder.attentionStrategy = .automatic }
        for strategy in [MLAStrategy.expanded, .absorbed] {
            m.decoder.attentionStrategy = strategy
            for i in 0..<3 {
                let out = logits(m, g.ints("prompt\(i).ids"))
                let expected = g.tensor("prompt\(i).logits")
                let rel = relativeError(out, expected)
                XCTAssertLessThan(rel, 1e-4, "prompt \(i), \(strategy): relative error \(rel)")
                print("decoder parity prompt \(i) \(strategy): max|Δ| \(out.maxAbsDifference(expected)), relative \(rel)")
                assertClose(out, expected, atol: 1e-4, rtol: 1e-4, "prompt \(i) \(strategy)")
            }
        }
    }

    /// Prefill 7 tokens, then decode 3 one at a time from the latent cache: each step equals the full run.
    func testIncrementalDecodeEqualsFullRecompute() throws {
        let m = Self.model
        let ids = g.ints("extended.ids"), full = g.tensor("extended.logits")
        let cache = m.newCache()
        let pre = logits(m, Array(ids[0..<7]), cache: cache)
        XCTAssertLessThan(relativeError(pre, full.slice(rows: 0..<7)), 1e-4)
        XCTAssertEqual(cache.count, 7)
        XCTAssertEqual(cache.byteCount, 7 * 3 * (32 + 8) * 4, "cache holds kv_lora_rank + rope floats per token and layer")
        let swiftFull = logits(m, ids)
        for t in 7..<ids.count {
            let step = Tensor(shape: [1, full.lastDim], data: try m.decode(token: ids[t], cache: cache))
            XCTAssertLessThan(relativeError(step, full.slice(rows: t..<(t + 1))), 1e-4, "step \(t)")
            XCTAssertLessThan(step.maxAbsDifference(swiftFull.slice(rows: t..<(t + 1))), 1e-4, "step \(t) vs Swift full run")
        }
        XCTAssertEqual(cache.count, ids.count)
        // truncating rolls the cache back: re-decoding the last token gives the same logits
        cache.truncate(to: ids.count - 1)
        let again = try m.decode(token: ids.last!, cache: cache)
        XCTAssertLessThan(Tensor(shape: [1, full.lastDim], data: again).maxAbsDifference(swiftFull.slice(rows: (ids.count - 1)..<ids.count)), 1e-4)
    }

    /// A decode step of several sequences per core, run as one whole forward per core (`decodeLogits`), gives the
    /// packed forward's logits and cache rows (to float rounding: f32 products are blocked by batch size).
    func testDecodeStepPerCoreEqualsPackedForward() {
        let m = Self.model, n = 4 * Parallel.threads
        XCTAssertLessThanOrEqual(m.decoder.weightBytes, TextDecoder.perCoreForwardBytes, "the fixture takes the per-core path")
        let prompts = (0..<n).map { i in (0..<(3 + i % 5)).map { (7 * i + 3 * $0) % m.textConfig.vocabSize } }
        let packed = prompts.map { p -> KVCache in let c = m.newCache(); _ = logits(m, p, cache: c); return c }
        let perCore = prompts.map { p -> KVCache in let c = m.newCache(); _ = logits(m, p, cache: c); return c }
        for step in 0..<3 {
            let tokens = (0..<n).map { (11 * $0 + step + 1) % m.textConfig.vocabSize }
            let expected = m.decoder.logits(m.decoder.forward(m.decoder.embed(tokens), lengths: Array(repeating: 1, count: n),
                                                              caches: packed))
            let out = m.decoder.decodeLogits(tokens, caches: perCore)
            XCTAssertEqual(out.shape, expected.shape)
            XCTAssertLessThan(relativeError(out, expected), 1e-6, "step \(step)")
        }
        for (a, b) in zip(packed, perCore) {
            XCTAssertEqual(a.count, b.count)
            for layer in 0..<m.textConfig.numHiddenLayers {
                let ra = a.rows(layer: layer), rb = b.rows(layer: layer)
                XCTAssertEqual(ra.count, rb.count)
                XCTAssertLessThan(zip(ra, rb).map { abs($0 - $1) }.max()!, 1e-5, "layer \(layer) cache rows")
            }
        }
    }

    func testEmbeddingRejectsOutOfVocabularyIds() {
        assertThrowsMessage("token id 96 is outside the vocabulary (0..<96)") {
            try Self.model.embed(tokens: [1, 96], imageEmbeddings: nil)
        }
    }

    /// `rope_interleave: false` (rotate-half pairing) with the same weights.
    func testHalfSplitRopeWhenNotInterleaved() throws {
        var config = Self.model.textConfig
        config.ropeInterleave = false
        let loader = WeightLoader(try Checkpoint(directory: fixtureURL("deepseek_tiny")), remap: KimiVLRemap.modelName)
        let decoder = TextDecoder(config: config, weights: loader.scope(""))
        try loader.finish()
        let ids = g.ints("prompt0.ids")
        let out = decoder.logits(decoder.forward(decoder.embed(ids), lengths: [ids.count], caches: [KVCache(config: config)]))
        assertClose(out, g.tensor("halfsplit.prompt0.logits"), atol: 1e-4, rtol: 1e-4)
        XCTAssertGreaterThan(out.maxAbsDifference(g.tensor("prompt0.logits")), 1e-3, "the pairing must matter")
    }

    /// Every layer's attention, FFN and block output against the torch hooks' dump: names the first divergence.
    func testTraceMatchesReferenceLayerByLayer() {
        let m = Self.model
        let trace = Trace()
        m.decoder.trace = trace
        defer { m.decoder.trace = nil }
        _ = logits(m, g.ints("prompt0.ids"))
        for i in 0..<m.textConfig.numHiddenLayers {
            for name in ["decoder.attention", "decoder.ffn", "decoder.layer"] {
                guard let t = trace.tensor(name, layer: i) else { return XCTFail("\(name).\(i) not recorded") }
                assertClose(t, g.tensor("trace.\(name).\(i)"), atol: 1e-5, rtol: 1e-4, "\(name).\(i)")
            }
        }
        XCTAssertNotNil(trace.tensor("decoder.norm"))
    }
}
