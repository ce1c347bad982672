// What `prism bench` needs from the compute seam: a oneDNN matmul at a precision with the weights pre-packed as
// `linear` packs them (the "GEMM rate" other benchmarks are compared with), and the name of the kernel oneDNN chose.
import CDNNL
import Foundation

public final class MatmulBenchmark {
    /// oneDNN's implementation string, e.g. `brg:avx512_core_amx_bf16`, `gemm:jit`.
    public let implementation: String
    /// Floating-point operations of one run (2·m·n·k).
    public let flops: Double
    private let primitive: MatmulPrimitive
    private let src, weights, dst: UnsafeMutableRawPointer

    /// x[m, k] · W[k, n] with W packed in oneDNN's chosen layout; nil when this CPU has no native kernel for
    /// `precision` (bf16 without AVX-512-BF16).
    public init?(precision: Precision, m: Int, n: Int, k: Int) {
        if precision == .bf16 && !OneDNN.hasNativeBF16 { return nil }
        let type = precision == .bf16 ? dnnl_bf16 : dnnl_f32, size = precision == .bf16 ? 2 : 4
        guard let p = MatmulPrimitive(src: MatrixDesc(rows: m, cols: k, type: type, rowStride: k),
                                      weights: MatrixDesc(anyRows: k, cols: n, type: type),
                                      dst: MatrixDesc(rows: m, cols: n, type: dnnl_f32, rowStride: n)) else { return nil }
        primitive = p
        implementation = p.implementation
        flops = 2 * Double(m) * Double(n) * Double(k)
        src = .allocate(byteCount: m * k * size, alignment: 64)
        dst = .allocate(byteCount: m * n * 4, alignment: 64)
        weights = .allocate(byteCount: max(64, p.weights.byteCount), alignment: 64)
        // small exact values (multiples of 1/8 fit bf16): the results stay finite
        let plain = UnsafeMutablePointer<Float>.allocate(capacity: k * n)
        defer { plain.deallocate() }
        for i in 0..<(k * n) { plain[i] = Float(i % 7) * 0.125 }
        OneDNNReorder.run(MatrixDesc(rows: k, cols: n, type: dnnl_f32, rowStride: n), plain, p.weights, weights)
        let xs = UnsafeMutablePointer<Float>.allocate(capacity: m * k)
        defer { xs.deallocate() }
        for i in 0..<(m * k) { xs[i] = Float(i % 5) * 0.25 }
        if precision == .bf16 {
            Convert.f32ToBF16(xs, src.assumingMemoryBound(to: UInt16.self), count: m * k)
        } else {
            src.copyMemory(from: xs, byteCount: m * k * 4)
        }
    }

    deinit { src.deallocate(); weights.deallocate(); dst.deallocate() }

    public func run() { primitive.execute(src: src, weights: weights, dst: dst) }

    /// The kernel `linear` gets for x[m, k] · Wᵀ (W [n, k]) at `precision` with the weight packed.
    public static func linearImplementation(precision: Precision, m: Int, n: Int, k: Int) -> String {
        MatmulBenchmark(precision: precision, m: m, n: n, k: k)?.implementation ?? "emulated on the f32 GEMM (\(OneDNN.isaName))"
    }
}

extension ComputeCPU {
    /// oneDNN's version, e.g. "2.6.3".
    public static var oneDNNVersion: String { OneDNN.version }

    /// The CPU's marketing name from /proc/cpuinfo (Linux), else "unknown CPU".
    public static var modelName: String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown CPU" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") { return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
        }
        return "unknown CPU"
    }
}
