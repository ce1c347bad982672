// The compute precision of matrix products. A model is loaded with one (every weight view it binds carries it,
// and its attention asks for it), so two models of different precision can live in one process.
//
//   f32   Float32 operands and accumulation: the path the parity tests check against PyTorch.
//   bf16  Operands rounded to bfloat16 (round-to-nearest-even), products accumulated in Float32, Float32 out —
//         what oneDNN's AMX / AVX-512-BF16 kernels do and what PyTorch's bf16 autocast does to matmuls.
//         Softmax, norms, activations and residuals stay Float32. Decode-sized products of bf16 weights round
//         their inputs the same way (vdpbf16ps where the CPU has AVX512-BF16), so a token's numerics do not
//         depend on how many tokens share its step.
//
// Where the CPU has no native bf16 kernels, `.bf16` still runs, through the emulation (operands rounded to bf16,
// Float32 GEMM): same numerics, f32 speed. That lets the bf16 accuracy tests run on every CPU; the CLI refuses
// `--precision bf16` there instead (`PrecisionChoice.resolve`).

public enum Precision: String, Sendable, CaseIterable, CustomStringConvertible {
    case f32, bf16
    public var description: String { rawValue }
}

/// What a user asks for: `auto` is bf16 where oneDNN reports native bf16 kernels, f32 elsewhere.
public enum PrecisionChoice: String, Sendable, CaseIterable {
    case auto, bf16, f32

    /// The environment variable that sets the default (`--precision` overrides it).
    public static let environmentVariable = "PRISM_PRECISION"

    /// The choice for this run: `explicit` if given, else `PRISM_PRECISION`, else `auto`.
    public static func from(explicit: PrecisionChoice?, environment: [String: String]) throws -> PrecisionChoice {
        if let explicit { return explicit }
        guard let raw = environment[environmentVariable], !raw.isEmpty else { return .auto }
        guard let choice = PrecisionChoice(rawValue: raw.lowercased()) else {
            throw PrecisionError.badEnvironment(value: raw)
        }
        return choice
    }

    /// Set to 1, `bf16` is accepted on CPUs without native bf16 and runs the emulation (bf16 numerics at f32 speed
    /// or below): for accuracy checks such as Tools/bench/precision_eval.sh, never for speed.
    public static let emulationVariable = "PRISM_BF16_EMULATION"

    /// The precision to compute in on this CPU (`cpu` defaults to what oneDNN reports here).
    public func resolve(cpu: ComputeCPU = .current, allowEmulation: Bool = false) throws -> Precision {
        switch self {
        case .f32: return .f32
        case .auto: return cpu.hasNativeBF16 ? .bf16 : .f32
        case .bf16:
            guard cpu.hasNativeBF16 || allowEmulation else { throw PrecisionError.noNativeBF16(isa: cpu.isa) }
            return .bf16
        }
    }
}

public enum PrecisionError: Error, CustomStringConvertible, Equatable {
    case noNativeBF16(isa: String)
    case badEnvironment(value: String)

    public var description: String {
        switch self {
        case let .noNativeBF16(isa):
            "--precision bf16: this CPU has no native bf16 matrix kernels (oneDNN reports \(isa)); use --precision f32 or auto"
        case let .badEnvironment(v):
            "\(PrecisionChoice.environmentVariable)=\(v): expected auto, bf16 or f32"
        }
    }
}

/// The CPU as the compute seam sees it: oneDNN's ISA name and whether bf16 GEMMs run natively.
public struct ComputeCPU: Sendable, Equatable {
    public var isa: String
    public var hasNativeBF16: Bool

    public init(isa: String, hasNativeBF16: Bool) { self.isa = isa; self.hasNativeBF16 = hasNativeBF16 }

    /// This machine, from oneDNN's ISA detection.
    public static var current: ComputeCPU { ComputeCPU(isa: OneDNN.isaName, hasNativeBF16: OneDNN.hasNativeBF16) }
}
