// The GGUF block types from Swift: llama.cpp's deterministic quantisers (used by `prism quantize`, so files
// are byte-identical to llama.cpp's), dequantisation, and the CPU variants of the fused dot kernels
// (layouts and algorithms are documented in CPrismKernels/quant_blocks.h and quant_ref.c).
import CPrismKernels

public enum QuantizedBlocks {
    /// Quantises `count` floats (whole blocks) into `out` (dtype.byteCount(elements: count) bytes).
    public static func quantize(_ x: UnsafePointer<Float>, count: Int, as dtype: DType, into out: UnsafeMutableRawPointer) {
        precondition(dtype.isBlockQuantized && count % dtype.blockElements == 0, "quantize \(count) values as \(dtype.rawValue)")
        prism_quantize_row(dtype.ggmlType!, x, out, count)
    }

    public static func quantize(_ x: [Float], as dtype: DType) -> [UInt8] {
        let n = dtype.byteCount(elements: x.count)!
        return [UInt8](unsafeUninitializedCapacity: n) { out, k in
            x.withUnsafeBufferPointer { quantize($0.baseAddress!, count: x.count, as: dtype, into: out.baseAddress!) }
            k = n
        }
    }

    public static func dequantize(_ bytes: [UInt8], as dtype: DType) -> [Float] {
        let n = bytes.count / dtype.blockBytes * dtype.blockElements
        precondition(dtype.byteCount(elements: n) == bytes.count, "dequantize: \(bytes.count) bytes are not whole \(dtype.rawValue) blocks")
        return [Float](unsafeUninitializedCapacity: n) { out, k in
            bytes.withUnsafeBytes { _ = prism_dequantize_row(dtype.ggmlType!, $0.baseAddress!, out.baseAddress!, n) }
            k = n
        }
    }

    /// The fused dequantise+dot kernels exist in these variants; the best one the CPU supports is used.
    public enum Variant: Int32, CaseIterable, Sendable {
        case portable = 0, avx2 = 1, avxVNNI = 2, avx512VNNI = 3

        public var isSupported: Bool { prism_q_isa_supported(rawValue) != 0 }
        public var name: String { String(cString: prism_q_isa_name(rawValue)) }
        public static var selected: Variant { Variant(rawValue: prism_q_isa_selected())! }
    }

    /// The int8 activation blocks the kernels multiply `dtype` weights with (prism_quantize_activation), as bytes.
    public static func quantizeActivation(_ x: [Float], for dtype: DType) -> [UInt8] {
        var act = [UInt8](repeating: 0, count: Int(prism_q_act_row_bytes(dtype.ggmlType!, x.count)))
        act.withUnsafeMutableBytes { a in x.withUnsafeBufferPointer { px in
            _ = prism_quantize_activation(dtype.ggmlType!, px.baseAddress!, a.baseAddress!, x.count)
        }}
        return act
    }

    /// w · x for one weight row in `dtype` blocks and float activations (quantised to int8 blocks first),
    /// computed by `variant`; nil when the CPU lacks it.
    public static func dot(_ w: [UInt8], _ x: [Float], as dtype: DType, variant: Variant) -> Float? {
        precondition(dtype.byteCount(elements: x.count) == w.count, "dot: \(w.count) bytes for \(x.count) values")
        let act = quantizeActivation(x, for: dtype)
        var out: Float = 0
        let ok = act.withUnsafeBytes { a in w.withUnsafeBytes { wb in
            prism_qdot_isa(variant.rawValue, dtype.ggmlType!, wb.baseAddress!, a.baseAddress!, x.count / dtype.blockElements, &out)
        }}
        return ok == 0 ? out : nil
    }
}
