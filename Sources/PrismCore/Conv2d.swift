/// 2-D convolution of one image x [C, H, W] with weight [O, C, kH, kW] (PyTorch layout) as
/// im2col + one GEMM: out [O, OH·OW] = W [O, C·kH·kW] · cols [C·kH·kW, OH·OW], in the weight's precision.
public func conv2d(_ x: Tensor, weight: TensorView, bias: TensorView? = nil,
                   stride: Int = 1, padding: Int = 0) -> Tensor {
    precondition(x.rank == 3 && weight.shape.count == 4 && weight.shape[1] == x.shape[0],
                 "conv2d \(weight.name): input \(x.shape), weight \(weight.shape)")
    let c = x.shape[0], h = x.shape[1], w = x.shape[2]
    let o = weight.shape[0], kh = weight.shape[2], kw = weight.shape[3]
    let oh = (h + 2 * padding - kh) / stride + 1, ow = (w + 2 * padding - kw) / stride + 1
    precondition(oh > 0 && ow > 0, "conv2d \(weight.name): input \(h)×\(w) smaller than kernel \(kh)×\(kw)")
    let k = c * kh * kw, n = oh * ow
    // cols[(ci, ky, kx), (oy, ox)]
    let cols = Tensor(shape: [k, n], unsafeUninitialized: { col in
        x.data.withUnsafeBufferPointer { src in
            Parallel.forEach(k, minChunk: 4) { range in
                for row in range {
                    let ci = row / (kh * kw), ky = (row / kw) % kh, kx = row % kw
                    for oy in 0..<oh {
                        let iy = oy * stride + ky - padding
                        for ox in 0..<ow {
                            let ix = ox * stride + kx - padding
                            col[row * n + oy * ow + ox] =
                                (iy >= 0 && iy < h && ix >= 0 && ix < w) ? src[(ci * h + iy) * w + ix] : 0
                        }
                    }
                }
            }
        }
    })
    var y = Tensor(shape: [o, oh, ow], unsafeUninitialized: { out in
        weight.withFloatPointer { wp in cols.data.withUnsafeBufferPointer { cp in
            GEMM.multiply(weight.precision, m: o, n: n, k: k, a: wp, lda: k, b: cp.baseAddress!, ldb: n, c: out.baseAddress!, ldc: n)
        }}
    })
    if let bias {
        let b = bias.toTensor().data
        y.data.withUnsafeMutableBufferPointer { p in for oc in 0..<o { for j in 0..<n { p[oc * n + j] += b[oc] } } }
    }
    return y
}
