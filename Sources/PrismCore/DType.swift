import CPrismKernels

/// Storage types of tensors: the element types of safetensors (their names) and the GGUF block-quantised
/// types (ggml's names), whose values are stored in blocks with shared scales.
public enum DType: String, CaseIterable, Sendable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"
    case q4_0 = "Q4_0", q5_0 = "Q5_0", q8_0 = "Q8_0", q4K = "Q4_K", q5K = "Q5_K", q6K = "Q6_K"

    /// Bytes per element of an element type (block types: use `byteCount(elements:)`).
    public var byteSize: Int {
        switch self {
        case .f64, .i64: 8
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .i8, .u8, .bool: 1
        case .q4_0, .q5_0, .q8_0, .q4K, .q5K, .q6K: preconditionFailure("\(rawValue) is stored in blocks; use byteCount(elements:)")
        }
    }

    public var isFloatingPoint: Bool { self == .f64 || self == .f32 || self == .f16 || self == .bf16 }


    /// ggml's type id for the types GGUF stores (nil for the safetensors-only integer types).
    public var ggmlType: Int32? {
        switch self {
        case .f32: 0
        case .f16: 1
        case .q4_0: 2
        case .q5_0: 6
        case .q8_0: 8
        case .q4K: 12
        case .q5K: 13
        case .q6K: 14
        case .i8: 24
        case .i16: 25
        case .i32: 26
        case .i64: 27
        case .f64: 28
        case .bf16: 30
        case .u8, .bool: nil
        }
    }

    public init?(ggmlType id: Int) {
        guard let t = DType.allCases.first(where: { $0.ggmlType.map(Int.init) == id }) else { return nil }
        self = t
    }

    /// Values per storage block (1 for element types).
    public var blockElements: Int {
        isBlockQuantized ? Int(prism_q_block_elems(ggmlType!)) : 1
    }

    /// Bytes per storage block.
    public var blockBytes: Int {
        isBlockQuantized ? Int(prism_q_block_bytes(ggmlType!)) : byteSize
    }

    /// GGUF block types: a row's values come in blocks of `blockElements` sharing scales.
    public var isBlockQuantized: Bool {
        switch self {
        case .q4_0, .q5_0, .q8_0, .q4K, .q5K, .q6K: true
        default: false
        }
    }

    /// Bytes of `elements` consecutive values, or nil when they are not whole blocks or the count overflows.
    public func byteCount(elements: Int) -> Int? {
        guard elements >= 0, elements % blockElements == 0 else { return nil }
        let (b, overflow) = (elements / blockElements).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : b
    }

    /// Bytes of a row-major tensor of `shape`: rows of the last dimension must be whole blocks.
    public func byteCount(shape: [Int]) -> Int? {
        guard shape.allSatisfy({ $0 >= 0 }), let row = byteCount(elements: shape.last ?? 1) else { return nil }
        var total = row
        for d in shape.dropLast() {
            let (p, overflow) = total.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            total = p
        }
        return total
    }
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
