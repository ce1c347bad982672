import Foundation
import PrismCore
import PrismIO

// ViTDet-style image encoder of SAM (spec §1): patch embed 16 → + absolute position → blocks with windowed
// or global attention and decomposed relative-position bias → neck to outputChannels × grid × grid.
// Tokens are kept channels-last as [grid·grid, C] (row-major over the grid), as the reference does.

public final class ImageEncoder: @unchecked Sendable {
    public let config: SamVisionConfig
    private let patchWeight: TensorView, patchBias: TensorView
    private let posEmbed: Tensor?                      // [grid·grid, C]
    private let layers: [VisionLayer]
    private let neck: Neck

    init(config: SamVisionConfig, weights: WeightScope) {
        self.config = config
        let c = config.hiddenSize, g = config.gridSize, p = config.patchSize
        patchWeight = weights.tensor("patch_embed.projection.weight", [c, config.numChannels, p, p])
        patchBias = weights.tensor("patch_embed.projection.bias", [c])
        posEmbed = config.useAbsPos ? weights.float("pos_embed", [1, g, g, c]).reshaped([g * g, c]) : nil
        layers = (0..<config.numHiddenLayers).map {
            VisionLayer(config: config, window: config.windowSize(layer: $0), weights: weights.scope("layers.\($0)"))
        }
        neck = Neck(config: config, weights: weights.scope("neck"))
    }

    /// pixels: [3, imageSize, imageSize], normalised and padded → image embedding [outputChannels, grid, grid].
    public func callAsFunction(_ pixels: Tensor) -> Tensor {
        let g = config.gridSize, c = config.hiddenSize
        precondition(pixels.shape == [config.numChannels, config.imageSize, config.imageSize],
                     "ImageEncoder: pixels \(pixels.shape), expected [\(config.numChannels), \(config.imageSize), \(config.imageSize)]")
        // [C, g, g] → [g·g, C]
        var x = transpose2d(conv2d(pixels, weight: patchWeight, bias: patchBias, stride: config.patchSize)
            .reshaped([c, g * g]))
        if let posEmbed { x.addInPlace(posEmbed) }
        for layer in layers { x = layer(x) }
        return neck(x)
    }
}

// MARK: - Transformer block

/// Pre-norm block: x + Attn(LN1(x)), then x + MLP(LN2(x)). Window 0 = global attention.
private struct VisionLayer {
    let ln1w: Tensor, ln1b: Tensor, ln2w: Tensor, ln2b: Tensor
    let attention: VisionAttention
    let lin1w: TensorView, lin1b: TensorView, lin2w: TensorView, lin2b: TensorView
    let eps: Float, act: Activation, grid: Int, window: Int

    init(config: SamVisionConfig, window: Int, weights: WeightScope) {
        let c = config.hiddenSize
        ln1w = weights.float("layer_norm1.weight", [c]); ln1b = weights.float("layer_norm1.bias", [c])
        ln2w = weights.float("layer_norm2.weight", [c]); ln2b = weights.float("layer_norm2.bias", [c])
        attention = VisionAttention(config: config, side: window > 0 ? window : config.gridSize, weights: weights.scope("attn"))
        lin1w = weights.tensor("mlp.lin1.weight", [config.mlpDim, c]); lin1b = weights.tensor("mlp.lin1.bias", [config.mlpDim])
        lin2w = weights.tensor("mlp.lin2.weight", [c, config.mlpDim]); lin2b = weights.tensor("mlp.lin2.bias", [c])
        eps = config.layerNormEps; act = config.hiddenAct; grid = config.gridSize; self.window = window
    }

    func callAsFunction(_ x: Tensor) -> Tensor {                       // x: [g·g, C]
        let normed = layerNorm(x, weight: ln1w, bias: ln1b, eps: eps)
        var h: Tensor
        if window > 0 {
            // [g·g, C] → [windows·w·w, C], zero-padded at bottom/right; padded tokens stay unmasked (spec §1)
            let windows = partition(normed, grid: grid, window: window)
            h = unpartition(attention(windows), grid: grid, window: window)
        } else {
            h = attention(normed)
        }
        h.addInPlace(x)
        var m = linear(layerNorm(h, weight: ln2w, bias: ln2b, eps: eps), lin1w, bias: lin1b)
        m.apply(act)
        var y = linear(m, lin2w, bias: lin2b)
        y.addInPlace(h)
        return y
    }
}

/// Rows of a [g·g, C] token grid regrouped window by window (row-major over windows, then within a window),
/// after zero padding the grid to a multiple of the window side.
private func partition(_ x: Tensor, grid g: Int, window w: Int) -> Tensor {
    let c = x.lastDim, n = (g + w - 1) / w
    var out = Tensor(zeros: [n * n * w * w, c])
    x.data.withUnsafeBufferPointer { src in out.data.withUnsafeMutableBufferPointer { dst in
        for wy in 0..<n { for wx in 0..<n { for iy in 0..<w { for ix in 0..<w {
            let y = wy * w + iy, xx = wx * w + ix
            guard y < g && xx < g else { continue }
            let row = ((wy * n + wx) * w + iy) * w + ix
            (dst.baseAddress! + row * c).update(from: src.baseAddress! + (y * g + xx) * c, count: c)
        }}}}
    }}
    return out
}

/// Inverse of `partition`, dropping the padded rows.
private func unpartition(_ x: Tensor, grid g: Int, window w: Int) -> Tensor {
    let c = x.lastDim, n = (g + w - 1) / w
    return Tensor(shape: [g * g, c], unsafeUninitialized: { dst in
        x.data.withUnsafeBufferPointer { src in
            for y in 0..<g { for xx in 0..<g {
                let row = (((y / w) * n + xx / w) * w + y % w) * w + xx % w
                (dst.baseAddress! + (y * g + xx) * c).update(from: src.baseAddress! + row * c, count: c)
            }}
        }
    })
}

// MARK: - Attention with decomposed relative position bias

/// Multi-head attention over square segments of side S (a window, or the whole grid), with
/// bias[(qh,qw),(kh,kw)] = q·Rh[qh−kh+S−1] + q·Rw[qw−kw+S−1] computed from the unscaled q (MViTv2, spec §1).
private struct VisionAttention {
    let qkvw: TensorView, qkvb: TensorView?, projw: TensorView, projb: TensorView
    let relH: Tensor?, relW: Tensor?                  // [2S−1, D]
    let heads: Int, headDim: Int, side: Int

    init(config: SamVisionConfig, side: Int, weights: WeightScope) {
        let c = config.hiddenSize
        qkvw = weights.tensor("qkv.weight", [3 * c, c])
        qkvb = config.qkvBias ? weights.tensor("qkv.bias", [3 * c]) : nil
        projw = weights.tensor("proj.weight", [c, c]); projb = weights.tensor("proj.bias", [c])
        heads = config.numAttentionHeads; headDim = config.headDim; self.side = side
        if config.useRelPos {
            relH = weights.float("rel_pos_h", [2 * side - 1, config.headDim])
            relW = weights.float("rel_pos_w", [2 * side - 1, config.headDim])
        } else {
            relH = nil; relW = nil
        }
    }

    /// x: [segments·S·S, C] → [segments·S·S, C]; segments (windows) are independent.
    func callAsFunction(_ x: Tensor) -> Tensor {
        let c = x.lastDim, tokens = side * side, segments = x.rows / tokens
        // [N, 3C] → q, k, v: [N, H, D] each (qkv rows are ordered q | k | v, each split per head)
        let qkv = linear(x, qkvw, bias: qkvb)
        let q = qkv.slice(lastAxis: 0..<c), k = qkv.slice(lastAxis: c..<(2 * c)), v = qkv.slice(lastAxis: (2 * c)..<(3 * c))
        let scale = 1 / Float(headDim).squareRoot()
        // [N, C] → [N, H, D]; tiled attention over every (window, head, block of queries) on all cores, QKᵀ and PV in
        // the encoder's precision, softmax and the relative-position bias in f32
        let qs = q.reshaped([-1, heads, headDim]), ks = k.reshaped([-1, heads, headDim]), vs = v.reshaped([-1, heads, headDim])
        let cu = (0...segments).map { $0 * tokens }
        let merged = flashAttention(q: qs, k: ks, v: vs, cuSeqlensQ: cu, cuSeqlensK: cu, scale: scale, precision: qkvw.precision,
                                    bias: relH == nil ? nil : { segment, head, rows in
                                        relativeBias(q: qs, segment: segment, head: head, rows: rows)
                                    }).reshaped([x.rows, c])
        return linear(merged, projw, bias: projb)
    }

    /// The bias for query rows of one segment and head, added tile by tile: scores[i, (kh, kw)] += rel_h[i, kh] + rel_w[i, kw]
    /// with rel_h[i, kh] = q_i · Rh[qh − kh + S − 1] (q unscaled), rel_w likewise with columns.
    private func relativeBias(q: Tensor, segment: Int, head: Int, rows: Range<Int>) -> AttentionBiasTile {
        let s = side, t = s * s, span = 2 * s - 1, d = headDim, n = rows.count
        // ph[i, r] = q_i · relH[r], r = qh − kh + S − 1; pw likewise with columns: [n, 2S − 1] each, once per item
        var ph = [Float](repeating: 0, count: n * span), pw = [Float](repeating: 0, count: n * span)
        q.data.withUnsafeBufferPointer { pq in
            let a = pq.baseAddress! + ((segment * t + rows.lowerBound) * heads + head) * d
            relH!.data.withUnsafeBufferPointer { r in ph.withUnsafeMutableBufferPointer { o in
                BLAS.sgemm(transB: true, m: n, n: span, k: d, a: a, lda: heads * d, b: r.baseAddress!, ldb: d,
                           c: o.baseAddress!, ldc: span)
            }}
            relW!.data.withUnsafeBufferPointer { r in pw.withUnsafeMutableBufferPointer { o in
                BLAS.sgemm(transB: true, m: n, n: span, k: d, a: a, lda: heads * d, b: r.baseAddress!, ldb: d,
                           c: o.baseAddress!, ldc: span)
            }}
        }
        return { keys, scores, ld in
            ph.withUnsafeBufferPointer { hp in pw.withUnsafeBufferPointer { wp in
                for i in 0..<n {
                    let qi = rows.lowerBound + i, qh = qi / s, qw = qi % s
                    let hrow = hp.baseAddress! + i * span + qh + s - 1, wrow = wp.baseAddress! + i * span + qw + s - 1
                    let dst = scores + i * ld - keys.lowerBound
                    var key = keys.lowerBound
                    while key < keys.upperBound {
                        // one key row kh at a time: columns kw of it inside this tile
                        let kh = key / s, kw0 = key % s, kwEnd = min(s, kw0 + keys.upperBound - key)
                        let bh = hrow[-kh], row = dst + kh * s
                        for kw in kw0..<kwEnd { row[kw] += bh + wrow[-kw] }
                        key += kwEnd - kw0
                    }
                }
            }}
        }
    }
}

// MARK: - Neck

/// [g·g, C] → conv 1×1 (no bias) → LayerNorm2d → conv 3×3 pad 1 (no bias) → LayerNorm2d → [out, g, g].
private struct Neck {
    let conv1: TensorView, conv2: TensorView
    /// conv1's weight seen as [out, in]: a 1×1 conv on channels-last tokens is a linear layer
    let conv1Linear: TensorView
    let ln1w: Tensor, ln1b: Tensor, ln2w: Tensor, ln2b: Tensor
    let grid: Int

    init(config: SamVisionConfig, weights: WeightScope) {
        let o = config.outputChannels
        conv1 = weights.tensor("conv1.weight", [o, config.hiddenSize, 1, 1])
        conv2 = weights.tensor("conv2.weight", [o, o, 3, 3])
        conv1Linear = TensorView(name: conv1.name, dtype: conv1.dtype, shape: [o, config.hiddenSize], bytes: conv1.bytes,
                                 owner: nil).computed(in: conv1.precision)
        ln1w = weights.float("layer_norm1.weight", [o]); ln1b = weights.float("layer_norm1.bias", [o])
        ln2w = weights.float("layer_norm2.weight", [o]); ln2b = weights.float("layer_norm2.bias", [o])
        grid = config.gridSize
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        let o = conv1.shape[0]
        // [g·g, C] · W[o, C]ᵀ → [g·g, o]
        let y = linear(x, conv1Linear)
        // LayerNorm2d over channels = LayerNorm over the last axis of [g·g, o]; then to [o, g, g]
        let n1 = transpose2d(layerNorm(y, weight: ln1w, bias: ln1b, eps: 1e-6)).reshaped([o, grid, grid])
        let y2 = conv2d(n1, weight: conv2, stride: 1, padding: 1)
        return layerNorm2d(y2, weight: ln2w, bias: ln2b, eps: 1e-6)
    }
}
