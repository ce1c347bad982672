import Foundation

/// How the rotated dimensions pair up.
public enum RotaryLayout: Sendable {
    /// GPT-J / DeepSeek `rope_interleave`: pairs (2i, 2i+1).
    case interleaved
    /// GPT-NeoX / LLaMA `rotate_half`: pairs (i, i + d/2).
    case halfSplit
}

public enum Rotary {
    /// Inverse frequencies θ^(−2i/d), i < d/2, in Float32 like PyTorch's `inv_freq`.
    public static func inverseFrequencies(dim: Int, theta: Float) -> [Float] {
        (0..<(dim / 2)).map { 1 / powf(theta, Float(2 * $0) / Float(dim)) }
    }

    /// 1-D angles [T, d/2]: position · inv_freq.
    public static func angles(positions: [Int], dim: Int, theta: Float) -> Tensor {
        let inv = inverseFrequencies(dim: dim, theta: theta)
        var out = [Float](); out.reserveCapacity(positions.count * inv.count)
        for p in positions { for f in inv { out.append(Float(p) * f) } }
        return Tensor(shape: [positions.count, inv.count], data: out)
    }
}

/// Rotates dims `start ..< start + 2·angles.lastDim` of every head of x [T, H, headDim] by the
/// per-token angles [T, pairs]: (a, b) → (a cos − b sin, a sin + b cos). Cos/sin in Float32.
public func applyRotary(_ x: inout Tensor, angles: Tensor, start: Int = 0, layout: RotaryLayout) {
    precondition(x.rank == 3 && angles.rank == 2 && angles.shape[0] == x.shape[0],
                 "applyRotary: x \(x.shape) angles \(angles.shape)")
    let t = x.shape[0], h = x.shape[1], hd = x.shape[2], pairs = angles.shape[1]
    precondition(start + 2 * pairs <= hd, "applyRotary: \(2 * pairs) dims from \(start) exceed head dim \(hd)")
    let cosT = angles.map { cos($0) }.data, sinT = angles.map { sin($0) }.data
    x.data.withUnsafeMutableBufferPointer { p in
        for ti in 0..<t {
            for hi in 0..<h {
                let base = (ti * h + hi) * hd + start
                for i in 0..<pairs {
                    let (ia, ib) = layout == .interleaved ? (base + 2 * i, base + 2 * i + 1) : (base + i, base + i + pairs)
                    let c = cosT[ti * pairs + i], s = sinT[ti * pairs + i]
                    let a = p[ia], b = p[ib]
                    p[ia] = a * c - b * s
                    p[ib] = a * s + b * c
                }
            }
        }
    }
}
