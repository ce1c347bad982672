import CPrismKernels

/// Element types found in checkpoints (safetensors names).
public enum DType: String, CaseIterable, Sendable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

    public var byteSize: Int {
        switch self {
        case .f64, .i64: 8
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .i8, .u8, .bool: 1
        }
    }

    public var isFloatingPoint: Bool { self == .f64 || self == .f32 || self == .f16 || self == .bf16 }
}

// MARK: - Vectorised conversions (C kernels with F16C/AVX2 dispatch)

public enum Convert {
    /// bf16 → f32: the bf16 bits are the top half of an f32.
    public static func bf16ToF32(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        prism_bf16_to_f32(src, dst, count)
    }

    public static func f16ToF32(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        prism_f16_to_f32(src, dst, count)
    }

    /// f32 → bf16 with round-to-nearest-even (what torch's `.to(torch.bfloat16)` does).
    public static func f32ToBF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count: Int) {
        prism_f32_to_bf16(src, dst, count)
    }

    public static func f32ToF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count: Int) {
        prism_f32_to_f16(src, dst, count)
    }

    /// Rounds to the nearest bf16 value (ties to even), kept as f32; `src` and `dst` may be the same.
    public static func roundToBF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        prism_round_bf16(src, dst, count)
    }

    public static func bf16ToF32(_ bits: [UInt16]) -> [Float] { convertArray(bits, bf16ToF32) }
    public static func f16ToF32(_ bits: [UInt16]) -> [Float] { convertArray(bits, f16ToF32) }
    public static func f32ToBF16(_ x: [Float]) -> [UInt16] { convertArray(x, f32ToBF16) }
    public static func f32ToF16(_ x: [Float]) -> [UInt16] { convertArray(x, f32ToF16) }

    private static func convertArray<S, D>(_ src: [S], _ kernel: (UnsafePointer<S>, UnsafeMutablePointer<D>, Int) -> Void) -> [D] {
        [D](unsafeUninitializedCapacity: src.count) { out, n in
            if !src.isEmpty { src.withUnsafeBufferPointer { kernel($0.baseAddress!, out.baseAddress!, src.count) } }
            n = src.count
        }
    }

    public static var hasF16C: Bool { prism_kernels_have_f16c() != 0 }
}
