import Foundation

/// Resizes interleaved 8-bit pixels [H, W, channels] exactly as Pillow's `Image.resize(…, BILINEAR)` does:
/// a triangle filter whose support grows with the downscale factor (so shrinking is antialiased), separable,
/// horizontal pass first, each pass in Pillow's 22-bit fixed point with rounding and clipping to 8 bits.
/// This is the resize of segment-anything's ResizeLongestSide and of transformers' SamImageProcessor.
public func resizeBilinearPIL(_ pixels: [UInt8], width: Int, height: Int, channels: Int,
                              toWidth ow: Int, toHeight oh: Int) -> [UInt8] {
    precondition(pixels.count == width * height * channels && ow > 0 && oh > 0,
                 "resizeBilinearPIL: \(pixels.count) bytes for \(width)×\(height)×\(channels) → \(ow)×\(oh)")
    var img = pixels, w = width, h = height
    if ow != w {
        img = pilPass(img, lines: h, inSize: w, outSize: ow, channels: channels, horizontal: true)
        w = ow
    }
    if oh != h {
        img = pilPass(img, lines: w, inSize: h, outSize: oh, channels: channels, horizontal: false)
        h = oh
    }
    return img
}

private let pilPrecisionBits = 32 - 8 - 2

/// Pillow's precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter (support 1).
private func pilCoefficients(inSize: Int, outSize: Int) -> (bounds: [(Int, Int)], kk: [Int32], ksize: Int) {
    let scale = Double(inSize) / Double(outSize)
    let filterScale = max(scale, 1.0)
    let support = 1.0 * filterScale
    let ksize = Int(support.rounded(.up)) * 2 + 1
    var bounds: [(Int, Int)] = []
    var kk = [Int32](repeating: 0, count: outSize * ksize)
    for xx in 0..<outSize {
        let center = (Double(xx) + 0.5) * scale
        let ss = 1.0 / filterScale
        let xmin = max(0, Int(center - support + 0.5))
        let xmax = min(inSize, Int(center + support + 0.5)) - xmin
        var weights = [Double](repeating: 0, count: max(0, xmax))
        var ww = 0.0
        for x in 0..<max(0, xmax) {
            let t = abs((Double(x + xmin) - center + 0.5) * ss)
            let wgt = t < 1 ? 1 - t : 0
            weights[x] = wgt
            ww += wgt
        }
        for x in 0..<weights.count {
            let v = ww != 0 ? weights[x] / ww : weights[x]
            let scaled = v * Double(1 << pilPrecisionBits)
            kk[xx * ksize + x] = Int32(v < 0 ? (-0.5 + scaled).rounded(.towardZero) : (0.5 + scaled).rounded(.towardZero))
        }
        bounds.append((xmin, max(0, xmax)))
    }
    return (bounds, kk, ksize)
}

private func pilPass(_ src: [UInt8], lines: Int, inSize: Int, outSize: Int, channels: Int, horizontal: Bool) -> [UInt8] {
    let (bounds, kk, ksize) = pilCoefficients(inSize: inSize, outSize: outSize)
    let half = Int64(1) << (pilPrecisionBits - 1)
    var out = [UInt8](repeating: 0, count: lines * outSize * channels)
    src.withUnsafeBufferPointer { sp in out.withUnsafeMutableBufferPointer { op in
        let s = sp.baseAddress!, o = op.baseAddress!
        Parallel.forEach(lines, minChunk: 16) { range in
            for line in range {
                for xx in 0..<outSize {
                    let (xmin, n) = bounds[xx]
                    for ch in 0..<channels {
                        var acc = half
                        for x in 0..<n {
                            // horizontal: pixel (line, xmin + x); vertical: pixel (xmin + x, line); width = lines
                            let idx = horizontal ? (line * inSize + xmin + x) : ((xmin + x) * lines + line)
                            acc += Int64(s[idx * channels + ch]) * Int64(kk[xx * ksize + x])
                        }
                        let v = acc >> Int64(pilPrecisionBits)
                        let dst = horizontal ? (line * outSize + xx) : (xx * lines + line)
                        o[dst * channels + ch] = UInt8(clamping: v)
                    }
                }
            }
        }
    }}
    return out
}
