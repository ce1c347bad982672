import CPrismKernels
import Foundation

// Row-wise reductions over the last axis: softmax, RMSNorm, LayerNorm. Accumulation in Float
// (what PyTorch does for float32 inputs on CPU), rows spread over the cores.

extension Tensor {
    /// Runs `body(row, input, output)` for every row of length `lastDim`, in parallel.
    func mapRows(_ body: (Int, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> Tensor {
        let d = lastDim
        return Tensor(shape: shape, unsafeUninitialized: { out in
            data.withUnsafeBufferPointer { x in
                let xb = x.baseAddress!, ob = out.baseAddress!
                Parallel.forEach(rows, minChunk: max(1, 8192 / max(1, d))) { range in
                    for r in range { body(r, xb + r * d, ob + r * d) }
                }
            }
        })
    }
}

/// Softmax over the last axis, max-subtracted. Rows that are all −∞ give zeros (masked-out rows).
public func softmax(_ x: Tensor) -> Tensor {
    let d = x.lastDim
    return x.mapRows { _, src, dst in softmaxRow(src, dst, d) }
}

@inline(__always)
public func softmaxRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ d: Int) {
    prism_softmax_row(src, dst, d)   // vectorised exp (CPrismKernels)
}

/// Softmax of each of `count` consecutive segments of `length` values, in place (vectorised across segments,
/// for many short rows such as attention over a handful of tokens).
@inline(__always)
public func softmaxSegments(_ x: UnsafeMutablePointer<Float>, count: Int, length: Int) {
    prism_softmax_segments(x, count, length)
}

/// RMSNorm: x · rsqrt(mean(x²) + eps) · weight (weight optional).
public func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float) -> Tensor {
    let d = x.lastDim
    if let weight { precondition(weight.count == d, "rmsNorm: weight \(weight.shape) for rows of \(d)") }
    let w = weight?.data
    return x.mapRows { _, src, dst in
        var ss: Float = 0
        for i in 0..<d { ss += src[i] * src[i] }
        let inv = 1 / (ss / Float(d) + eps).squareRoot()
        if let w { for i in 0..<d { dst[i] = src[i] * inv * w[i] } } else { for i in 0..<d { dst[i] = src[i] * inv } }
    }
}

/// LayerNorm over the last axis with biased variance (PyTorch semantics).
public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
    let d = x.lastDim
    if let weight { precondition(weight.count == d, "layerNorm: weight \(weight.shape) for rows of \(d)") }
    if let bias { precondition(bias.count == d, "layerNorm: bias \(bias.shape) for rows of \(d)") }
    return withOptionalPointers(weight, bias) { w, b in
        x.mapRows { _, src, dst in layerNormRow(src, dst, d, weight: w, bias: b, eps: eps) }
    }
}

/// LayerNorm of one row of `d` values (vectorised kernel); `src` and `dst` may be the same.
@inline(__always)
public func layerNormRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ d: Int,
                         weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?, eps: Float) {
    prism_layernorm_row(src, dst, d, weight, bias, eps)
}

/// Calls `body` with the storage of two optional tensors (nil stays nil).
public func withOptionalPointers<R>(_ a: Tensor?, _ b: Tensor?,
                                    _ body: (UnsafePointer<Float>?, UnsafePointer<Float>?) -> R) -> R {
    func with(_ t: Tensor?, _ f: (UnsafePointer<Float>?) -> R) -> R {
        guard let t else { return f(nil) }
        return t.data.withUnsafeBufferPointer { f($0.baseAddress) }
    }
    return with(a) { pa in with(b) { pb in body(pa, pb) } }
}

/// LayerNorm over the channel axis of a [C, H, W] map (SAM's LayerNorm2d).
public func layerNorm2d(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float) -> Tensor {
    precondition(x.rank == 3 && weight.count == x.shape[0], "layerNorm2d: \(x.shape) with weight \(weight.shape)")
    let hwc = layerNorm(x.reshaped([x.shape[0], -1]).transposed, weight: weight, bias: bias, eps: eps)
    return hwc.transposed.reshaped(x.shape)
}
