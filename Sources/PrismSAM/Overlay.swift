import PrismIO

// The picture `prism segment` writes next to the masks: the image with the mask tinted in, the clicks drawn
// as dots (green positive, red negative, white rim) and the box as a rectangle outline. For segment-everything,
// every mask in its own colour, largest first so smaller masks stay visible on top (as SAM's notebooks draw them).

public enum Overlay {
    public static let maskColor: (UInt8, UInt8, UInt8) = (30, 144, 255)

    /// `mask`: H × W bytes, non-zero = inside. Points and box in image pixels.
    public static func render(_ image: RGBImage, mask: [UInt8], points: [SamPoint], box: SamBox?, alpha: Float = 0.5) -> RGBImage {
        precondition(mask.count == image.width * image.height, "Overlay: mask \(mask.count) for \(image.width)×\(image.height)")
        let w = image.width, h = image.height
        var px = image.pixels
        let tint = [maskColor.0, maskColor.1, maskColor.2].map(Float.init)
        for i in 0..<(w * h) where mask[i] != 0 {
            for c in 0..<3 { px[i * 3 + c] = UInt8((1 - alpha) * Float(px[i * 3 + c]) + alpha * tint[c] + 0.5) }
        }
        func set(_ x: Int, _ y: Int, _ color: (UInt8, UInt8, UInt8)) {
            guard x >= 0, x < w, y >= 0, y < h else { return }
            let i = (y * w + x) * 3
            px[i] = color.0; px[i + 1] = color.1; px[i + 2] = color.2
        }
        if let b = box {
            let (x0, y0, x1, y1) = (Int(b.x0), Int(b.y0), Int(b.x1), Int(b.y1))
            let thick = max(1, min(w, h) / 200)
            for t in 0..<thick {
                for x in x0...max(x0, x1) { set(x, y0 + t, (255, 215, 0)); set(x, y1 - t, (255, 215, 0)) }
                for y in y0...max(y0, y1) { set(x0 + t, y, (255, 215, 0)); set(x1 - t, y, (255, 215, 0)) }
            }
        }
        let r = max(3, min(w, h) / 100)
        for p in points {
            let cx = Int(p.x), cy = Int(p.y)
            let fill: (UInt8, UInt8, UInt8) = p.label == .positive ? (0, 220, 0) : (230, 0, 0)
            for dy in -(r + 1)...(r + 1) { for dx in -(r + 1)...(r + 1) {
                let d2 = dx * dx + dy * dy
                if d2 <= r * r { set(cx + dx, cy + dy, fill) } else if d2 <= (r + 1) * (r + 1) { set(cx + dx, cy + dy, (255, 255, 255)) }
            }}
        }
        return RGBImage(width: w, height: h, pixels: px)
    }

    /// Colour k of the segment-everything overlay: hues spaced by the golden angle, so neighbours differ.
    public static func color(_ k: Int) -> (UInt8, UInt8, UInt8) {
        let h = (Double(k) * 0.618033988749895).truncatingRemainder(dividingBy: 1) * 6, s = 0.75, v = 0.95
        let i = Int(h), f = h - Double(i)
        let p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f))
        let (r, g, b) = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i % 6]
        return (UInt8(r * 255 + 0.5), UInt8(g * 255 + 0.5), UInt8(b * 255 + 0.5))
    }

    /// `masks`: H × W bytes each, non-zero = inside; mask k tinted with `color(k)`, drawn largest first.
    public static func render(_ image: RGBImage, masks: [[UInt8]], alpha: Float = 0.5) -> RGBImage {
        let n = image.width * image.height
        var px = image.pixels
        let areas = masks.map { m in m.reduce(0) { $0 + ($1 != 0 ? 1 : 0) } }
        for k in masks.indices.sorted(by: { areas[$0] > areas[$1] || (areas[$0] == areas[$1] && $0 < $1) }) {
            precondition(masks[k].count == n, "Overlay: mask \(masks[k].count) for \(image.width)×\(image.height)")
            let c = color(k), tint = [Float(c.0), Float(c.1), Float(c.2)]
            for i in 0..<n where masks[k][i] != 0 {
                for ch in 0..<3 { px[i * 3 + ch] = UInt8((1 - alpha) * Float(px[i * 3 + ch]) + alpha * tint[ch] + 0.5) }
            }
        }
        return RGBImage(width: image.width, height: image.height, pixels: px)
    }
}
