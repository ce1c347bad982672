// Image-style resizing of [C, H, W] tensors with PyTorch `F.interpolate(..., align_corners=False)`
// semantics (no antialias): source coordinate s = (d + 0.5)·(in/out) − 0.5.

public enum ResizeMode: Sendable { case bilinear, bicubic }

public func resize(_ x: Tensor, height oh: Int, width ow: Int, mode: ResizeMode) -> Tensor {
    precondition(x.rank == 3 && oh > 0 && ow > 0, "resize: \(x.shape) → \(oh)×\(ow)")
    let c = x.shape[0], ih = x.shape[1], iw = x.shape[2]
    let ys = taps(inSize: ih, outSize: oh, mode: mode), xs = taps(inSize: iw, outSize: ow, mode: mode)
    return Tensor(shape: [c, oh, ow], unsafeUninitialized: { out in
        x.data.withUnsafeBufferPointer { src in
            let s = src.baseAddress!, o = out.baseAddress!
            Parallel.forEach(c * oh, minChunk: 16) { range in
                for row in range {
                    let ch = row / oh, oy = row % oh
                    let plane = s + ch * ih * iw
                    let ty = ys[oy]
                    for ox in 0..<ow {
                        let tx = xs[ox]
                        var acc: Float = 0
                        for a in 0..<ty.index.count {
                            var racc: Float = 0
                            let line = plane + ty.index[a] * iw
                            for b in 0..<tx.index.count { racc += tx.weight[b] * line[tx.index[b]] }
                            acc += ty.weight[a] * racc
                        }
                        o[row * ow + ox] = acc
                    }
                }
            }
        }
    })
}

/// Source indices (clamped) and weights for one output coordinate.
struct Taps { var index: [Int]; var weight: [Float] }

func taps(inSize: Int, outSize: Int, mode: ResizeMode) -> [Taps] {
    let scale = Float(inSize) / Float(outSize)
    return (0..<outSize).map { d in
        var s = scale * (Float(d) + 0.5) - 0.5
        switch mode {
        case .bilinear:
            s = max(s, 0)                                   // PyTorch clamps negative coords for linear modes
            let i0 = min(Int(s), inSize - 1)
            let i1 = i0 < inSize - 1 ? i0 + 1 : i0
            let l1 = s - Float(i0)
            return Taps(index: [i0, i1], weight: [1 - l1, l1])
        case .bicubic:
            let f = s.rounded(.down)
            let t = s - f, i = Int(f)
            let a: Float = -0.75                            // PyTorch's Keys kernel constant
            func near(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }
            func far(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
            let idx = (-1...2).map { min(max(i + $0, 0), inSize - 1) }
            return Taps(index: idx, weight: [far(t + 1), near(t), near(1 - t), far(2 - t)])
        }
    }
}

/// A bilinear resize planned once and run on many single-channel planes: the arithmetic of
/// `resize(_:height:width:mode: .bilinear)` (per output pixel wy₀·(wx₀·a + wx₁·b) + wy₁·(wx₀·c + wx₁·d)), done as a
/// row pass then a column pass so each source row is interpolated once. Only the top-left `keepHeight` ×
/// `keepWidth` of the outHeight × outWidth result is produced (SAM crops its upscaled masks).
public struct BilinearPlan: Sendable {
    public let inHeight: Int, inWidth: Int, keepHeight: Int, keepWidth: Int
    private let ys: [(i0: Int, i1: Int, w0: Float, w1: Float)], xs: [(i0: Int, i1: Int, w0: Float, w1: Float)]

    public init(inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int, keepHeight: Int? = nil, keepWidth: Int? = nil) {
        precondition(inHeight > 0 && inWidth > 0 && outHeight > 0 && outWidth > 0, "BilinearPlan: empty size")
        self.inHeight = inHeight; self.inWidth = inWidth
        self.keepHeight = min(keepHeight ?? outHeight, outHeight); self.keepWidth = min(keepWidth ?? outWidth, outWidth)
        func pairs(_ t: [Taps]) -> [(Int, Int, Float, Float)] { t.map { ($0.index[0], $0.index[1], $0.weight[0], $0.weight[1]) } }
        ys = pairs(Array(taps(inSize: inHeight, outSize: outHeight, mode: .bilinear).prefix(self.keepHeight)))
        xs = pairs(Array(taps(inSize: inWidth, outSize: outWidth, mode: .bilinear).prefix(self.keepWidth)))
    }

    /// src: inHeight × inWidth, dst: keepHeight × keepWidth, scratch: at least inHeight × keepWidth floats.
    public func apply(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let kw = keepWidth
        for r in 0..<inHeight {
            let line = src + r * inWidth, out = scratch + r * kw
            for x in 0..<kw { let t = xs[x]; out[x] = t.w0 * line[t.i0] + t.w1 * line[t.i1] }
        }
        for y in 0..<keepHeight {
            let t = ys[y], a = scratch + t.i0 * kw, b = scratch + t.i1 * kw, out = dst + y * kw
            for x in 0..<kw { out[x] = t.w0 * a[x] + t.w1 * b[x] }
        }
    }
}
