import CPrismKernels
import Foundation

// Elementwise activations, exactly as PyTorch defines them.

public enum Activation: String, Codable, Sendable {
    case gelu, geluTanh = "gelu_pytorch_tanh", silu, sigmoid, relu, identity

    public func apply(_ x: Float) -> Float {
        switch self {
        case .gelu: return Activations.gelu(x)
        case .geluTanh: return Activations.geluTanh(x)
        case .silu: return Activations.silu(x)
        case .sigmoid: return Activations.sigmoid(x)
        case .relu: return max(0, x)
        case .identity: return x
        }
    }
}

extension Activation {
    /// Applies the activation in place to `count` values at `x` on the calling thread (vectorised kernels).
    public func apply(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        switch self {
        case .gelu: prism_activation(x, n, Int32(PRISM_ACT_GELU))
        case .geluTanh: prism_activation(x, n, Int32(PRISM_ACT_GELU_TANH))
        case .silu: prism_activation(x, n, Int32(PRISM_ACT_SILU))
        case .sigmoid: prism_activation(x, n, Int32(PRISM_ACT_SIGMOID))
        case .relu: for i in 0..<n { x[i] = max(0, x[i]) }
        case .identity: break
        }
    }
}

public enum Activations {
    /// Exact GELU: x·Φ(x) = 0.5·x·(1 + erf(x/√2)).
    @inline(__always) public static func gelu(_ x: Float) -> Float {
        0.5 * x * (1 + erf(x * 0.70710678118654752))
    }

    /// tanh-approximate GELU (PyTorch `approximate="tanh"`).
    @inline(__always) public static func geluTanh(_ x: Float) -> Float {
        0.5 * x * (1 + tanh(0.79788456080286536 * (x + 0.044715 * x * x * x)))
    }

    @inline(__always) public static func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }

    @inline(__always) public static func silu(_ x: Float) -> Float { x / (1 + exp(-x)) }
}

extension Tensor {
    /// Applies an activation in place: vectorised kernels (CPrismKernels), both cores for large tensors.
    public mutating func apply(_ act: Activation) {
        if act == .identity { return }
        data.withUnsafeMutableBufferPointer { p in
            guard let base = p.baseAddress else { return }
            Parallel.forEach(p.count, minChunk: 1 << 14) { r in act.apply(base + r.lowerBound, count: r.count) }
        }
    }

    public func applying(_ act: Activation) -> Tensor {
        var y = self
        y.apply(act)
        return y
    }
}

/// SwiGLU core: silu(gate) ⊙ up, the FFN of LLaMA/DeepSeek-style blocks.
public func siluMul(_ gate: Tensor, _ up: Tensor) -> Tensor {
    precondition(gate.shape == up.shape, "siluMul: \(gate.shape) vs \(up.shape)")
    return gate.applying(.silu) * up
}

/// dst[j] += a · src[j] for j < count: the scatter-add of an expert's output rows, in a loop the compiler
/// vectorises (indexing the buffers with checked products kept it scalar, about 1% of decoding), with the same
/// multiply and add per element.
@inlinable
public func addScaled(_ src: UnsafePointer<Float>, _ a: Float, into dst: UnsafeMutablePointer<Float>, count: Int) {
    for j in 0..<count { dst[j] += a * src[j] }
}
