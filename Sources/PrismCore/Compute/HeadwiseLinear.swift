// One linear map per head: y[t, h] = W_h · x[t, h] for x [T, H, in] and a stacked weight [H, out, in] (MLA's
// absorbed W_UK / W_UV, stored so by llama.cpp as attn_k_b / attn_v_b). Block-quantised weights run every
// head in one pass of the integer kernels over the cores; float weights through `linearBatch`.
import CPrismKernels

public func headwiseLinear(_ x: Tensor, _ w: TensorView) -> Tensor {
    precondition(x.rank == 3 && w.shape.count == 3 && x.shape[1] == w.shape[0] && x.shape[2] == w.shape[2],
                 "headwiseLinear \(w.name): input \(x.shape) does not match weight \(w.shape)")
    let t = x.shape[0], heads = x.shape[1], inF = x.shape[2], outF = w.shape[1]
    if w.dtype.isBlockQuantized && t <= quantizedIntegerRows(w.dtype) {
        // activation rows in [T, H] order: head h of token i is row i·H + h
        let xq = QuantizedActivations(x.reshaped([t * heads, inF]), for: w.dtype)
        defer { xq.deallocate() }
        let headBytes = w.dtype.byteCount(shape: [outF, inF])!
        return Tensor(shape: [t, heads, outF], unsafeUninitialized: { out in
            let y = out.baseAddress!
            Parallel.forEach(heads * outF, pieces: 4 * Parallel.threads, minChunk: 16) { range in
                var i = range.lowerBound
                while i < range.upperBound {
                    let h = i / outF, r0 = i % outF, r1 = min(outF, r0 + (range.upperBound - i))
                    prism_qgemv(w.dtype.ggmlType!, w.bytes.baseAddress! + h * headBytes, w.rowBytes, inF,
                                xq.bytes.baseAddress! + h * xq.stride, heads * xq.stride, t, r0, r1, y + h * outF, heads * outF)
                    i += r1 - r0
                }
            }
        })
    }
    // each head's rows [T, in] gathered, every head's product in one pass over the cores (`linearBatch`: the
    // fused 16-bit kernel for decode-sized inputs, `linear` head by head otherwise), scattered back into [T, H, out]
    let xs = (0..<heads).map { h in
        Tensor(shape: [t, inF], unsafeUninitialized: { dst in
            x.data.withUnsafeBufferPointer { src in
                for i in 0..<t { (dst.baseAddress! + i * inF).update(from: src.baseAddress! + (i * heads + h) * inF, count: inF) }
            }
        })
    }
    let ys = linearBatch(xs.enumerated().map { (x: $0.element, w: w.slice($0.offset)) })
    return Tensor(shape: [t, heads, outF], unsafeUninitialized: { dst in
        for (h, yh) in ys.enumerated() {
            yh.data.withUnsafeBufferPointer { src in
                for i in 0..<t { (dst.baseAddress! + (i * heads + h) * outF).update(from: src.baseAddress! + i * outF, count: outF) }
            }
        }
    })
}
