import CPrismKernels

/// A typed, read-only view of tensor bytes that live elsewhere (usually a memory-mapped checkpoint).
/// The view keeps its owner alive; nothing is copied until `toTensor()` or a kernel widens it.
public struct TensorView: @unchecked Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public let bytes: UnsafeRawBufferPointer
    private let owner: AnyObject?
    /// The precision `linear` computes in with this weight: the model's choice, set when it binds its weights.
    public var precision: Precision = .f32
    /// What the compute seam has made of this weight (its pre-packed bf16 form): shared by the view's copies,
    /// freed with the last of them.
    let packs = PackedWeight()

    public init(name: String, dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer, owner: AnyObject?) {
        precondition(dtype.byteCount(shape: shape) == bytes.count,
                     "TensorView \(name): \(shape) of \(dtype.rawValue) is not \(bytes.count) B")
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
        self.owner = owner
    }

    /// A view of an in-memory Float tensor (it keeps its own copy of the storage alive).
    public init(_ t: Tensor, name: String = "") {
        let box = FloatBox(t.data)
        self.init(name: name, dtype: .f32, shape: t.shape, bytes: UnsafeRawBufferPointer(start: box.buffer.baseAddress, count: t.count * 4), owner: box)
    }

    /// The same weight computed in `precision`.
    public func computed(in precision: Precision) -> TensorView {
        var v = self
        v.precision = precision
        return v
    }

    /// A view owning freshly allocated bytes that `fill` writes (prepared weight layouts, converted tensors).
    public init(name: String, dtype: DType, shape: [Int], filling fill: (UnsafeMutableRawBufferPointer) -> Void) {
        let n = dtype.byteCount(shape: shape)!
        let box = ByteStorage(byteCount: n)
        fill(box.buffer)
        self.init(name: name, dtype: dtype, shape: shape, bytes: UnsafeRawBufferPointer(box.buffer), owner: box)
    }

    public var count: Int { shape.reduce(1, *) }
    public var lastDim: Int { shape.last ?? 1 }
    public var rows: Int { lastDim == 0 ? 0 : count / lastDim }
    /// Bytes of one row of the last dimension (whole blocks for the block-quantised types).
    public var rowBytes: Int { dtype.byteCount(elements: lastDim)! }

    /// The rows of a 2-D weight as plain values, for the loops that run on every core: copying the view there
    /// reference-counts its name, shape and owner from both cores at once, whose cache lines then bounce between
    /// them (a few per cent of decoding, perf).
    var weightRows: WeightRows { WeightRows(base: bytes.baseAddress!, rowBytes: rowBytes, cols: lastDim) }

    /// The `index`-th slice along the first axis, zero-copy: expert `e` of a stacked [E, out, in] GGUF
    /// tensor, or head `h` of [H, r, d]. It keeps the same owner alive.
    public func slice(_ index: Int) -> TensorView {
        precondition(shape.count >= 2 && index >= 0 && index < shape[0], "TensorView \(name): slice \(index) of \(shape)")
        let sub = Array(shape.dropFirst())
        let n = dtype.byteCount(shape: sub)!
        return TensorView(name: "\(name)[\(index)]", dtype: dtype, shape: sub,
                          bytes: UnsafeRawBufferPointer(rebasing: bytes[(index * n)..<((index + 1) * n)]), owner: owner)
            .computed(in: precision)
    }

    /// The same bytes seen with another shape of the same element count (rows must stay whole blocks).
    public func reshaped(_ newShape: [Int]) -> TensorView {
        precondition(newShape.reduce(1, *) == count && dtype.byteCount(shape: newShape) == bytes.count,
                     "TensorView \(name): cannot view \(shape) as \(newShape)")
        return TensorView(name: name, dtype: dtype, shape: newShape, bytes: bytes, owner: owner).computed(in: precision)
    }

    /// Widens elements [start, start+n) to Float32 into `dst`.
    public func widen(from start: Int, count n: Int, into dst: UnsafeMutablePointer<Float>) {
        precondition(start >= 0 && start + n <= count, "widen \(start)+\(n) of \(name) (\(count))")
        let base = bytes.baseAddress!
        switch dtype {
        case .f32:
            dst.update(from: base.assumingMemoryBound(to: Float.self) + start, count: n)
        case .bf16:
            Convert.bf16ToF32(base.assumingMemoryBound(to: UInt16.self) + start, dst, count: n)
        case .f16:
            Convert.f16ToF32(base.assumingMemoryBound(to: UInt16.self) + start, dst, count: n)
        case .f64: widen(Double.self, start, n, dst)
        case .i64: widen(Int64.self, start, n, dst)
        case .i32: widen(Int32.self, start, n, dst)
        case .i16: widen(Int16.self, start, n, dst)
        case .i8: widen(Int8.self, start, n, dst)
        case .u8, .bool: widen(UInt8.self, start, n, dst)
        case .q4_0, .q5_0, .q8_0, .q4K, .q5K, .q6K:
            let be = dtype.blockElements
            precondition(start % be == 0 && n % be == 0, "widen \(name): [\(start), +\(n)) is not whole \(dtype.rawValue) blocks")
            if n > 0 { prism_dequantize_row(dtype.ggmlType!, base + start / be * dtype.blockBytes, dst, n) }
        }
    }

    private func widen<T: BinaryInteger>(_: T.Type, _ start: Int, _ n: Int, _ dst: UnsafeMutablePointer<Float>) {
        let p = bytes.baseAddress!.assumingMemoryBound(to: T.self) + start
        for i in 0..<n { dst[i] = Float(p[i]) }
    }

    private func widen(_: Double.Type, _ start: Int, _ n: Int, _ dst: UnsafeMutablePointer<Float>) {
        let p = bytes.baseAddress!.assumingMemoryBound(to: Double.self) + start
        for i in 0..<n { dst[i] = Float(p[i]) }
    }

    /// The whole tensor as Float32 (a copy).
    public func toTensor() -> Tensor {
        Tensor(shape: shape, unsafeUninitialized: { out in
            if out.count > 0 { widen(from: 0, count: out.count, into: out.baseAddress!) }
        })
    }

    /// Calls `body` with the elements as Float32: in place for F32, else from a temporary widened copy.
    public func withFloatPointer<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        if dtype == .f32 { return try body(bytes.baseAddress!.assumingMemoryBound(to: Float.self)) }
        let tmp = UnsafeMutablePointer<Float>.allocate(capacity: max(1, count))
        defer { tmp.deallocate() }
        widen(from: 0, count: count, into: tmp)
        return try body(tmp)
    }

    /// Integer elements (for index tensors, I64/I32/U8/BOOL).
    public func toInts() -> [Int] {
        let base = bytes.baseAddress!
        switch dtype {
        case .i64: return (0..<count).map { Int(base.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
        case .i32: return (0..<count).map { Int(base.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
        case .i16: return (0..<count).map { Int(base.loadUnaligned(fromByteOffset: $0 * 2, as: Int16.self)) }
        case .i8: return (0..<count).map { Int(base.loadUnaligned(fromByteOffset: $0, as: Int8.self)) }
        case .u8, .bool: return (0..<count).map { Int(base.load(fromByteOffset: $0, as: UInt8.self)) }
        default: return toTensor().data.map { Int($0) }
        }
    }
}

/// Owns a Float buffer for views made from in-memory tensors.
final class FloatBox {
    let buffer: UnsafeMutableRawBufferPointer
    init(_ values: [Float]) {
        buffer = .allocate(byteCount: max(1, values.count * 4), alignment: 64)
        values.withUnsafeBytes { buffer.copyMemory(from: $0) }
        if values.isEmpty { buffer.storeBytes(of: 0, as: UInt8.self) }
    }
    deinit { buffer.deallocate() }
}

/// Owns raw bytes for views made with `TensorView(name:dtype:shape:filling:)`.
final class ByteStorage {
    let buffer: UnsafeMutableRawBufferPointer
    init(byteCount: Int) {
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, byteCount), alignment: 64)
        buffer = UnsafeMutableRawBufferPointer(rebasing: raw[0..<byteCount])
    }
    deinit { buffer.baseAddress.map { UnsafeMutableRawPointer($0).deallocate() } }
}

/// A weight's rows: `rowBytes` apart from `base`, `cols` values each (TensorView.weightRows).
struct WeightRows {
    let base: UnsafeRawPointer
    let rowBytes: Int, cols: Int
}
