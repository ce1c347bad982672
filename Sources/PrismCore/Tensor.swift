// A small dense tensor: a shape and contiguous row-major Float32 storage.
// Value semantics come from Swift's copy-on-write Array; kernels work on its buffer pointers.

public struct Tensor: Equatable, Sendable {
    public private(set) var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count,
                     "Tensor: shape \(shape) needs \(shape.reduce(1, *)) values, got \(data.count)")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, data: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    public init(repeating value: Float, shape: [Int]) {
        self.init(shape: shape, data: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    /// Builds a tensor by letting `fill` write every element of a fresh buffer once.
    public init(shape: [Int], unsafeUninitialized fill: (UnsafeMutableBufferPointer<Float>) -> Void) {
        let n = shape.reduce(1, *)
        self.shape = shape
        self.data = [Float](unsafeUninitializedCapacity: n) { buf, count in
            fill(buf)
            count = n
        }
    }

    public var count: Int { data.count }
    public var rank: Int { shape.count }
    /// Size of the last axis (the "row" length every row-wise op works on).
    public var lastDim: Int { shape.last ?? 1 }
    /// Number of rows when the tensor is seen as [rows, lastDim].
    public var rows: Int { lastDim == 0 ? 0 : count / lastDim }

    public func reshaped(_ newShape: [Int]) -> Tensor {
        var s = newShape
        if let i = s.firstIndex(of: -1) {
            let known = s.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            s[i] = known == 0 ? 0 : count / known
        }
        precondition(s.reduce(1, *) == count, "reshape \(shape) → \(newShape): element count differs")
        return Tensor(shape: s, data: data)
    }

    public subscript(flat i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }

    /// Element access by full index (slow path, for tests and small glue code).
    public subscript(_ index: Int...) -> Float {
        get { data[offset(index)] }
        set { data[offset(index)] = newValue }
    }

    private func offset(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index rank \(index.count) for shape \(shape)")
        var o = 0
        for (i, d) in zip(index, shape) { precondition(i >= 0 && i < d, "index \(index) out of \(shape)"); o = o * d + i }
        return o
    }

    /// Rows [start, end) of the tensor seen as [rows, lastDim...] along its first axis.
    public func slice(rows range: Range<Int>) -> Tensor {
        let inner = shape.dropFirst().reduce(1, *)
        precondition(range.lowerBound >= 0 && range.upperBound <= (shape.first ?? 0), "slice \(range) of \(shape)")
        var s = shape; s[0] = range.count
        return Tensor(shape: s, data: Array(data[(range.lowerBound * inner)..<(range.upperBound * inner)]))
    }

    /// Columns [start, end) of the last axis.
    public func slice(lastAxis range: Range<Int>) -> Tensor {
        let d = lastDim, w = range.count
        precondition(range.lowerBound >= 0 && range.upperBound <= d, "slice \(range) of last axis \(d)")
        var s = shape; s[s.count - 1] = w
        return Tensor(shape: s, unsafeUninitialized: { out in
            data.withUnsafeBufferPointer { src in
                for r in 0..<rows {
                    for j in 0..<w { out[r * w + j] = src[r * d + range.lowerBound + j] }
                }
            }
        })
    }

    /// Concatenation along the first axis.
    public static func concatenate(rows parts: [Tensor]) -> Tensor {
        precondition(!parts.isEmpty, "concatenate of nothing")
        let inner = Array(parts[0].shape.dropFirst())
        for p in parts { precondition(Array(p.shape.dropFirst()) == inner, "concatenate: \(p.shape) vs \(inner)") }
        var data: [Float] = []
        data.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        for p in parts { data += p.data }
        return Tensor(shape: [parts.reduce(0) { $0 + $1.shape[0] }] + inner, data: data)
    }

    /// Concatenation along the last axis.
    public static func concatenate(lastAxis parts: [Tensor]) -> Tensor {
        precondition(!parts.isEmpty, "concatenate of nothing")
        let rows = parts[0].rows
        for p in parts { precondition(p.rows == rows, "concatenate(lastAxis): row counts differ") }
        let total = parts.reduce(0) { $0 + $1.lastDim }
        var s = parts[0].shape; s[s.count - 1] = total
        return Tensor(shape: s, unsafeUninitialized: { out in
            var col = 0
            for p in parts {
                let w = p.lastDim
                p.data.withUnsafeBufferPointer { src in
                    for r in 0..<rows { for j in 0..<w { out[r * total + col + j] = src[r * w + j] } }
                }
                col += w
            }
        })
    }

    /// Moves axes: `permuted([1, 0])` transposes a matrix. Output is contiguous.
    public func permuted(_ axes: [Int]) -> Tensor {
        precondition(axes.sorted() == Array(0..<rank), "permutation \(axes) for rank \(rank)")
        let newShape = axes.map { shape[$0] }
        var strides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * shape[i + 1] }
        let srcStrides = axes.map { strides[$0] }
        return Tensor(shape: newShape, unsafeUninitialized: { out in
            data.withUnsafeBufferPointer { src in
                var idx = [Int](repeating: 0, count: rank)
                var srcOff = 0
                for o in 0..<out.count {
                    out[o] = src[srcOff]
                    var a = rank - 1   // odometer increment over the output index
                    while a >= 0 {
                        idx[a] += 1; srcOff += srcStrides[a]
                        if idx[a] < newShape[a] { break }
                        srcOff -= srcStrides[a] * newShape[a]; idx[a] = 0; a -= 1
                    }
                }
            }
        })
    }

    /// Matrix transpose of a rank-2 tensor.
    public var transposed: Tensor {
        precondition(rank == 2, "transposed needs rank 2, got \(shape)")
        return permuted([1, 0])
    }
}

// MARK: - Elementwise arithmetic

extension Tensor {
    public func map(_ f: (Float) -> Float) -> Tensor {
        Tensor(shape: shape, data: data.map(f))
    }

    public static func + (a: Tensor, b: Tensor) -> Tensor {
        guard a.shape == b.shape else { return a.zipWith(b, +) }
        // same shape: a plain loop the compiler vectorises, large tensors over the cores
        return Tensor(shape: a.shape, unsafeUninitialized: { out in
            a.data.withUnsafeBufferPointer { x in b.data.withUnsafeBufferPointer { y in
                let o = out.baseAddress!, xs = x.baseAddress!, ys = y.baseAddress!
                Parallel.forEach(out.count, minChunk: 1 << 16) { r in
                    for i in r { o[i] = xs[i] + ys[i] }
                }
            }}
        })
    }
    public static func - (a: Tensor, b: Tensor) -> Tensor { a.zipWith(b, -) }
    public static func * (a: Tensor, b: Tensor) -> Tensor { a.zipWith(b, *) }
    public static func * (a: Tensor, s: Float) -> Tensor { a.map { $0 * s } }
    public static func += (a: inout Tensor, b: Tensor) { a.addInPlace(b) }

    /// Elementwise op with numpy-style broadcasting of a trailing-shape operand (e.g. a bias row).
    public func zipWith(_ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
        if b.shape == shape {
            return Tensor(shape: shape, unsafeUninitialized: { out in
                data.withUnsafeBufferPointer { x in b.data.withUnsafeBufferPointer { y in
                    for i in 0..<out.count { out[i] = f(x[i], y[i]) }
                }}
            })
        }
        precondition(b.count > 0 && count % b.count == 0 && Array(shape.suffix(b.rank)) == b.shape,
                     "cannot broadcast \(b.shape) onto \(shape)")
        let n = b.count
        return Tensor(shape: shape, unsafeUninitialized: { out in
            data.withUnsafeBufferPointer { x in b.data.withUnsafeBufferPointer { y in
                for i in 0..<out.count { out[i] = f(x[i], y[i % n]) }
            }}
        })
    }

    public mutating func addInPlace(_ b: Tensor, scale: Float = 1) {
        precondition(b.count > 0 && count % b.count == 0, "cannot add \(b.shape) to \(shape)")
        let n = b.count
        data.withUnsafeMutableBufferPointer { x in b.data.withUnsafeBufferPointer { y in
            // row by row: a remainder per element (the broadcast of a bias) costs a division each and does not
            // vectorise; a bias add over a vision tower's activations took 5% of `ask --batch`
            for base in stride(from: 0, to: x.count, by: n) {
                for i in 0..<n { x[base + i] += scale * y[i] }
            }
        }}
    }

    public func maxAbsDifference(_ other: Tensor) -> Float {
        precondition(count == other.count, "compare \(shape) with \(other.shape)")
        var m: Float = 0
        for i in 0..<count { m = Swift.max(m, abs(data[i] - other.data[i])) }
        return m
    }
}
