/// Transposed 2-D convolution of one image x [C, H, W] with weight [C, O, k, k] (PyTorch ConvTranspose2d
/// layout) for the non-overlapping case stride == kernel (SAM's 2×2, stride 2 upscaling): every input pixel
/// writes one k×k block, out[o, k·y + a, k·x + b] = bias[o] + Σ_c x[c, y, x] · W[c, o, a, b].
/// One GEMM: blocks [(o, a, b), H·W] = Wᵀ [(o, a, b), C] · x [C, H·W], then a scatter into place.
public func convTranspose2d(_ x: Tensor, weight: TensorView, bias: TensorView? = nil, stride: Int) -> Tensor {
    precondition(x.rank == 3 && weight.shape.count == 4 && weight.shape[0] == x.shape[0],
                 "convTranspose2d \(weight.name): input \(x.shape), weight \(weight.shape)")
    let c = x.shape[0], h = x.shape[1], w = x.shape[2]
    let o = weight.shape[1], k = weight.shape[2]
    precondition(weight.shape[3] == k && k == stride,
                 "convTranspose2d \(weight.name): only square kernels with stride == kernel are supported, got \(weight.shape) stride \(stride)")
    let hw = h * w, rowsOut = o * k * k
    let blocks = Tensor(shape: [rowsOut, hw], unsafeUninitialized: { out in
        weight.withFloatPointer { wp in x.data.withUnsafeBufferPointer { xp in
            BLAS.sgemm(transA: true, m: rowsOut, n: hw, k: c, a: wp, lda: rowsOut,
                       b: xp.baseAddress!, ldb: hw, c: out.baseAddress!, ldc: hw)
        }}
    })
    let b = bias?.toTensor().data ?? [Float](repeating: 0, count: o)
    precondition(b.count == o, "convTranspose2d: bias \(b.count) for \(o) outputs")
    let oh = h * k, ow = w * k
    return Tensor(shape: [o, oh, ow], unsafeUninitialized: { out in
        blocks.data.withUnsafeBufferPointer { src in
            let s = src.baseAddress!, d = out.baseAddress!
            Parallel.forEach(o * k, minChunk: 4) { range in
                for row in range {                      // row = (oc, a): output rows oy = k·y + a
                    let oc = row / k, a = row % k
                    for bb in 0..<k {
                        let plane = s + ((oc * k + a) * k + bb) * hw
                        for y in 0..<h {
                            let dst = d + (oc * oh + y * k + a) * ow + bb
                            let line = plane + y * w
                            for xx in 0..<w { dst[xx * k] = line[xx] + b[oc] }
                        }
                    }
                }
            }
        }
    })
}
