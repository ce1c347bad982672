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
        precondition(shape.reduce(1, *) * dtype.byteSize == bytes.count,
                     "TensorView \(name): \(shape) × \(dtype.byteSize) B ≠ \(bytes.count) B")
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

    public var count: Int { shape.reduce(1, *) }
    public var lastDim: Int { shape.last ?? 1 }
    public var rows: Int { lastDim == 0 ? 0 : count / lastDim }

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
