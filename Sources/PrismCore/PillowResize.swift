import Foundation

// Pillow's `Image.resize(size, BILINEAR | BICUBIC)` on 8-bit interleaved pixels, reproduced bit for bit
// (libImaging/Resample.c): a separable convolution, two passes (order below), whose support widens with the
// downscale factor (so shrinking is antialiased), in 22-bit fixed point with rounding and clipping to 8 bits
// after each pass. Kimi-VL's processor shrinks oversized images with BICUBIC, segment-anything and transformers'
// SamImageProcessor resize with BILINEAR; matching Pillow keeps the pixels fed to both models identical.

public enum PillowFilter: Sendable {
    case bilinear, bicubic

    var support: Double { self == .bilinear ? 1 : 2 }

    func weight(_ x0: Double) -> Double {
        let x = abs(x0)
        switch self {
        case .bilinear: return x < 1 ? 1 - x : 0
        case .bicubic:
            let a = -0.5   // Pillow's cubic constant (PyTorch uses −0.75)
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        }
    }
}

/// Which pass runs first; the two orders round differently (each pass clips to 8 bits).
public enum PillowPassOrder: String, Sendable, CaseIterable {
    /// Pillow ≥ 13 (ImagingResampleInner in 13.0.0's Resample.c): vertical first when the height shrinks by more
    /// than twice as many pixels as the width, (inH − outH) > 0 and (inH − outH) > 2·(inW − outW); else horizontal.
    case pillow13
    /// Pillow ≤ 12: always horizontal first.
    case pillow12

    /// The newest Pillow's order, unless PRISM_PILLOW_ORDER=pillow12 asks for the old one (to match a
    /// reference produced under Pillow ≤ 12).
    public static let preferred: PillowPassOrder = {
        ProcessInfo.processInfo.environment["PRISM_PILLOW_ORDER"].flatMap(PillowPassOrder.init(rawValue:)) ?? .pillow13
    }()

    public func verticalFirst(width w: Int, height h: Int, toWidth ow: Int, toHeight oh: Int) -> Bool {
        self == .pillow13 && h - oh > 0 && h - oh > 2 * (w - ow)
    }
}

/// Resizes `pixels` (height × width × channels, row-major, interleaved) to toWidth × toHeight.
public func pillowResize(_ pixels: [UInt8], width: Int, height: Int, channels: Int,
                         toWidth ow: Int, toHeight oh: Int, filter: PillowFilter,
                         order: PillowPassOrder = .preferred) -> [UInt8] {
    precondition(pixels.count == width * height * channels && ow > 0 && oh > 0,
                 "pillowResize: \(pixels.count) bytes for \(width)×\(height)×\(channels) → \(ow)×\(oh)")
    var img = pixels, w = width, h = height
    func horizontal() {
        guard ow != w else { return }
        img = pillowPass(img, lines: h, inSize: w, outSize: ow, channels: channels, horizontal: true, filter: filter)
        w = ow
    }
    func vertical() {
        guard oh != h else { return }
        img = pillowPass(img, lines: w, inSize: h, outSize: oh, channels: channels, horizontal: false, filter: filter)
        h = oh
    }
    if order.verticalFirst(width: width, height: height, toWidth: ow, toHeight: oh) { vertical(); horizontal() } else { horizontal(); vertical() }
    return img
}

private let precisionBits = 32 - 8 - 2

/// Pillow's precompute_coeffs + normalize_coeffs_8bpc: per output coordinate the first source index, the
/// tap count and fixed-point weights (C truncation toward zero, as Pillow's casts do).
private func coefficients(inSize: Int, outSize: Int, filter: PillowFilter) -> (bounds: [(Int, Int)], kk: [Int32], ksize: Int) {
    let scale = Double(inSize) / Double(outSize)
    let filterScale = max(scale, 1.0)
    let support = filter.support * filterScale
    let ksize = Int(support.rounded(.up)) * 2 + 1
    var bounds: [(Int, Int)] = []
    var kk = [Int32](repeating: 0, count: outSize * ksize)
    for xx in 0..<outSize {
        let center = (Double(xx) + 0.5) * scale
        let xmin = max(0, Int(center - support + 0.5))
        let n = max(0, min(inSize, Int(center + support + 0.5)) - xmin)
        let weights = (0..<n).map { filter.weight((Double($0 + xmin) - center + 0.5) / filterScale) }
        let total = weights.reduce(0, +)
        for (x, w) in weights.enumerated() {
            let v = total != 0 ? w / total : w
            kk[xx * ksize + x] = Int32((v * Double(1 << precisionBits) + (v < 0 ? -0.5 : 0.5)).rounded(.towardZero))
        }
        bounds.append((xmin, n))
    }
    return (bounds, kk, ksize)
}

private func pillowPass(_ src: [UInt8], lines: Int, inSize: Int, outSize: Int, channels: Int,
                        horizontal: Bool, filter: PillowFilter) -> [UInt8] {
    let (bounds, kk, ksize) = coefficients(inSize: inSize, outSize: outSize, filter: filter)
    let half = Int64(1) << (precisionBits - 1)
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
                            // horizontal: pixel (line, xmin + x); vertical: pixel (xmin + x, line), rows `lines` wide
                            let idx = horizontal ? (line * inSize + xmin + x) : ((xmin + x) * lines + line)
                            acc += Int64(s[idx * channels + ch]) * Int64(kk[xx * ksize + x])
                        }
                        let dst = horizontal ? (line * outSize + xx) : (xx * lines + line)
                        o[dst * channels + ch] = UInt8(clamping: acc >> Int64(precisionBits))
                    }
                }
            }
        }
    }}
    return out
}
