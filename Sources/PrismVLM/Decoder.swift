// The DeepSeek-V3-style text model of Kimi-VL (specs/kimi_vl.md §5): embeddings, pre-norm blocks of
// MLA + (dense | MoE) FFN, final RMSNorm, separate lm_head. Works on packed batches: several sequences
// back to back in one [T, D] tensor, each continuing its own KV cache, causal within a sequence only.
import PrismCore
import PrismIO

/// Named TextDecoder, not Decoder, so importing PrismVLM never shadows Swift.Decoder in Codable code.
public final class TextDecoder {
    public let config: TextConfig
    /// How MLA evaluates attention (both orders are exact; `automatic` picks the cheaper one).
    public var attentionStrategy: MLAStrategy = .automatic
    /// Named activations of every forward (nil: nothing recorded).
    public var trace: Trace?
    let embedTokens: TensorView          // model.embed_tokens.weight [V, D]
    let layers: [DecoderLayer]
    let norm: Tensor
    let lmHead: TensorView               // lm_head.weight [V, D]
    /// Every text weight's bytes (`totalWeightBytes`), for choosing how decode steps use the cores.
    private(set) var weightBytes = 0

    /// `weights` is scoped where the checkpoint has `model.*` and `lm_head.weight` (after `KimiVL.remap`).
    public init(config: TextConfig, weights w: WeightScope) {
        self.config = config
        let m = w.scope("model")
        embedTokens = m.tensor("embed_tokens.weight", [config.vocabSize, config.hiddenSize])
        layers = (0..<config.numHiddenLayers).map { DecoderLayer(config, m.scope("layers.\($0)"), index: $0) }
        norm = m.float("norm.weight", [config.hiddenSize])
        lmHead = config.tieWordEmbeddings ? embedTokens : w.tensor("lm_head.weight", [config.vocabSize, config.hiddenSize])
        weightBytes = totalWeightBytes
    }

    /// Embedding rows for `ids` → [T, D]; ids must be < vocab_size.
    public func embed(_ ids: [Int]) -> Tensor {
        let d = config.hiddenSize
        return Tensor(shape: [ids.count, d], unsafeUninitialized: { out in
            for (i, id) in ids.enumerated() {
                precondition(id >= 0 && id < config.vocabSize, "token id \(id) outside the vocabulary (\(config.vocabSize))")
                embedTokens.widen(from: id * d, count: d, into: out.baseAddress! + i * d)
            }
        })
    }

    /// Runs the blocks on packed embeddings x [T, D] (segment s = `lengths[s]` rows continuing `caches[s]`)
    /// and returns the final-normed hidden states [T, D]. Each cache grows by its segment's length.
    public func forward(_ x: Tensor, lengths: [Int], caches: [KVCache]) -> Tensor {
        precondition(lengths.count == caches.count && lengths.reduce(0, +) == x.rows && x.lastDim == config.hiddenSize,
                     "TextDecoder.forward: \(x.shape) with lengths \(lengths) and \(caches.count) caches")
        precondition(Set(caches.map { ObjectIdentifier($0) }).count == caches.count, "TextDecoder.forward: a cache appears twice")
        let starts = cumulativeSeqlens(lengths)
        let segments = lengths.indices.map { Segment(start: starts[$0], count: lengths[$0], cache: caches[$0]) }
        trace?.record("decoder.input", x)
        var h = x
        for (i, layer) in layers.enumerated() {
            h = layer(h, segments: segments, index: i, strategy: attentionStrategy, trace: trace)
        }
        for (c, n) in zip(caches, lengths) { c.commit(n) }
        let out = rmsNorm(h, weight: norm, eps: config.rmsNormEps)
        trace?.record("decoder.norm", out)
        return out
    }

    /// Logits [N, V] for hidden rows [N, D].
    public func logits(_ hidden: Tensor) -> Tensor { linear(hidden, lmHead) }

    /// Text weights up to which a decode step runs one whole forward per core (`decodeLogits`): about what every core
    /// can re-read from the last-level cache on each step.
    public static let perCoreForwardBytes = 32 << 20

    /// Logits [N, V] for one new token per cache: a decode step of N sequences, each cache grown by one row.
    /// A model within `perCoreForwardBytes`, with at least two sequences per core, runs as one whole forward per core
    /// on its share of the sequences: its products are too small to be worth splitting over the cores one at a time
    /// (a hand-off per product, with the norms, routing and rotary between them on one core while the others wait).
    /// Each row is computed as in the packed forward (f32 products can round differently: they block by batch size).
    public func decodeLogits(_ tokens: [Int], caches: [KVCache]) -> Tensor {
        precondition(tokens.count == caches.count, "decodeLogits: \(tokens.count) tokens for \(caches.count) caches")
        let groups = Parallel.threads
        guard trace == nil, groups > 1, tokens.count >= 2 * groups, weightBytes <= Self.perCoreForwardBytes else {
            return logits(forward(embed(tokens), lengths: Array(repeating: 1, count: tokens.count), caches: caches))
        }
        for l in layers { l.attention.prepareAbsorbed() }   // lazily prepared weights: built before the cores share them
        var parts = [Tensor?](repeating: nil, count: groups)
        parts.withUnsafeMutableBufferPointer { out in
            Parallel.forEach(groups, pieces: groups) { range in
                for g in range {
                    let r = (tokens.count * g / groups)..<(tokens.count * (g + 1) / groups)
                    out[g] = logits(forward(embed(Array(tokens[r])), lengths: Array(repeating: 1, count: r.count),
                                            caches: Array(caches[r])))
                }
            }
        }
        return Tensor.concatenate(rows: parts.map { $0! })
    }
}

// MARK: - Block

final class DecoderLayer {
    enum FFN { case dense(SwiGLU), moe(MoE) }
    let inputNorm, postNorm: Tensor
    let attention: MLA
    let ffn: FFN
    let eps: Float

    init(_ c: TextConfig, _ w: WeightScope, index: Int) {
        eps = c.rmsNormEps
        inputNorm = w.float("input_layernorm.weight", [c.hiddenSize])
        postNorm = w.float("post_attention_layernorm.weight", [c.hiddenSize])
        attention = MLA(c, w.scope("self_attn"))
        ffn = c.isMoE(layer: index)
            ? .moe(MoE(c, w.scope("mlp")))
            : .dense(SwiGLU(w.scope("mlp"), hidden: c.hiddenSize, intermediate: c.intermediateSize))
    }

    func callAsFunction(_ x: Tensor, segments: [Segment], index: Int, strategy: MLAStrategy, trace: Trace?) -> Tensor {
        // x ← x + Attn(RMSNorm_in(x))
        let a = attention(rmsNorm(x, weight: inputNorm, eps: eps), segments: segments, layer: index, strategy: strategy)
        trace?.record("decoder.attention", layer: index, a)
        var h = x + a
        // x ← x + FFN(RMSNorm_post(x))
        let n = rmsNorm(h, weight: postNorm, eps: eps)
        let f: Tensor
        switch ffn {
        case .dense(let mlp): f = mlp(n)
        case .moe(let moe): f = moe(n)
        }
        trace?.record("decoder.ffn", layer: index, f)
        h += f
        trace?.record("decoder.layer", layer: index, h)
        return h
    }
}
