// Pillow's `Image.resize(size, Image.BICUBIC)` on 8-bit interleaved pixels, reproduced bit for bit:
// separable convolution (horizontal pass, then vertical), support widened by the downscale factor
// (antialiasing), Keys kernel with a = −0.5, fixed-point coefficients with 22 fraction bits and
// rounding/clipping to 8 bits after each pass (libImaging/Resample.c). Kimi-VL's processor shrinks
// oversized images this way, so matching it keeps the pixels fed to the vision tower identical.

private let precisionBits = 32 - 8 - 2

private func bicubicFilter(_ x0: Double) -> Double {
    let a = -0.5, x = abs(x0)
    if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
    if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
    return 0
}

/// Per output coordinate: first source index, tap count and fixed-point weights (Pillow's precompute_coeffs).
private func coefficients(inSize: Int, outSize: Int) -> (bounds: [(min: Int, count: Int)], ksize: Int, kk: [Int]) {
    let support0 = 2.0
    let scale = Double(inSize) / Double(outSize)
    let filterScale = max(scale, 1)
    let support = support0 * filterScale
    let ksize = Int(support.rounded(.up)) * 2 + 1
    var bounds: [(Int, Int)] = []
    var kk = [Int](repeating: 0, count: outSize * ksize)
    for xx in 0..<outSize {
        let center = (Double(xx) + 0.5) * scale
        let ss = 1 / filterScale
        let xmin = max(0, Int(center - support + 0.5))               // C (int) truncation, then clamp
        let xmax = min(inSize, Int(center + support + 0.5)) - xmin
        var w = [Double](repeating: 0, count: max(0, xmax))
        var sum = 0.0
        for x in 0..<max(0, xmax) {
            w[x] = bicubicFilter((Double(x + xmin) - center + 0.5) * ss)
            sum += w[x]
        }
        for x in 0..<max(0, xmax) {
            let v = sum != 0 ? w[x] / sum : w[x]
            let f = v * Double(1 << precisionBits)
            kk[xx * ksize + x] = v < 0 ? Int(-0.5 + f) : Int(0.5 + f)
        }
        bounds.append((xmin, max(0, xmax)))
    }
    return (bounds, ksize, kk)
}

@inline(__always) private func clip8(_ v: Int) -> UInt8 { UInt8(clamping: v >> precisionBits) }

/// Resizes `pixels` (height × width × channels, row-major, interleaved) to toWidth × toHeight.
public func pilResizeBicubic(_ pixels: [UInt8], width: Int, height: Int, channels: Int,
                             toWidth ow: Int, toHeight oh: Int) -> [UInt8] {
    precondition(pixels.count == width * height * channels && ow > 0 && oh > 0,
                 "pilResizeBicubic: \(pixels.count) bytes for \(width)×\(height)×\(channels) → \(ow)×\(oh)")
    let horiz = coefficients(inSize: width, outSize: ow), vert = coefficients(inSize: height, outSize: oh)
    var src = pixels, sw = width, sh = height, rowOffset = 0
    var vBounds = vert.bounds
    if ow != width {
        // only the source rows the vertical pass will read
        let first = vBounds[0].min, last = vBounds[oh - 1].min + vBounds[oh - 1].count
        rowOffset = first
        for i in vBounds.indices { vBounds[i].min -= first }
        var tmp = [UInt8](repeating: 0, count: ow * (last - first) * channels)
        for y in 0..<(last - first) {
            let line = (y + rowOffset) * width * channels
            for xx in 0..<ow {
                let (xmin, n) = horiz.bounds[xx]
                for ch in 0..<channels {
                    var ss = 1 << (precisionBits - 1)
                    for x in 0..<n { ss += Int(src[line + (x + xmin) * channels + ch]) * horiz.kk[xx * horiz.ksize + x] }
                    tmp[(y * ow + xx) * channels + ch] = clip8(ss)
                }
            }
        }
        src = tmp; sw = ow; sh = last - first
    }
    guard oh != height else { return src }
    _ = sh
    var out = [UInt8](repeating: 0, count: ow * oh * channels)
    for yy in 0..<oh {
        let (ymin, n) = vBounds[yy]
        for xx in 0..<sw {
            for ch in 0..<channels {
                var ss = 1 << (precisionBits - 1)
                for y in 0..<n { ss += Int(src[((y + ymin) * sw + xx) * channels + ch]) * vert.kk[yy * vert.ksize + y] }
                out[(yy * ow + xx) * channels + ch] = clip8(ss)
            }
        }
    }
    return out
}
