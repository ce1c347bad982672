// `linear` for GGUF block-quantised weights (Q4_0, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K), which stay in their
// blocks in the memory map. Two paths:
//  - integer: the input rows are quantised to int8 blocks once (llama.cpp's scheme: 32-value blocks for the
//    32-types, 256-value blocks with 16-value sums for the K-types) and fused dequantise+dot kernels run
//    over the weight rows, split across the cores. Each weight byte is read once for all input rows, which
//    is what bandwidth-bound decoding needs; for several input rows the kernels unpack each weight block once
//    and multiply 4 weight rows by 4 input rows at a time, an int8 GEMM for prompts (quant_dot.c).
//  - dequantised GEMM: tiles of weight rows are widened to float and handed to the dense path, so prompt
//    processing uses the float GEMM backend (and whatever that backend becomes).
import CPrismKernels

public enum QuantizedLinearPath: Sendable {
    /// Integer kernels up to `quantizedIntegerRows` input rows, the dequantised GEMM above.
    case automatic, integer, dequantizedGEMM
}

/// Input rows up to which the integer kernels beat widening tiles for the float GEMM, per weight type. The
/// multi-row kernels (quant_dot.c: weights unpacked once, 4 weight rows × 4 input rows at a time) win at every
/// prompt length `prism bench vlm` sweeps on the AVX2 Zen 3, 2 threads: Q4_K [1408, 2048] 4.3 ms integer vs 8.3 ms
/// widened at 128 rows, 15.9 vs 20.6 ms at 512; Q8_0 5.9 vs 7.6 and 22.8 vs 25.2 ms (Tools/bench/vlm/README.md).
/// Longer inputs (large images) take the float GEMM, whose backend may be faster elsewhere (oneDNN on AVX-512).
/// Float weights keep the few-row limit of the batched decode paths.
public func quantizedIntegerRows(_ dtype: DType) -> Int {
    dtype.isBlockQuantized ? 512 : 32
}

/// y = x · Wᵀ for a block-quantised W [out, in]. x: [..., in] → [..., out].
public func quantizedLinear(_ x: Tensor, _ w: TensorView, path: QuantizedLinearPath = .automatic) -> Tensor {
    precondition(w.dtype.isBlockQuantized && w.shape.count == 2 && w.shape[1] == x.lastDim,
                 "quantizedLinear \(w.name): \(w.dtype.rawValue) \(w.shape) for input \(x.shape)")
    let useInteger: Bool
    switch path {
    case .automatic: useInteger = x.rows <= quantizedIntegerRows(w.dtype)
    case .integer: useInteger = true
    case .dequantizedGEMM: useInteger = false
    }
    return useInteger ? integerLinear(x, w) : dequantizedLinear(x, w)
}

/// The input rows quantised for `w`'s integer kernels: m rows of `stride` bytes.
public struct QuantizedActivations {
    let bytes: UnsafeMutableRawBufferPointer
    public let rows: Int, stride: Int
    let type: Int32

    public init(_ x: Tensor, for dtype: DType) {
        let type = dtype.ggmlType!, k = x.lastDim
        self.type = type
        rows = x.rows
        stride = Int(prism_q_act_row_bytes(type, k))
        bytes = .allocate(byteCount: max(1, rows * stride), alignment: 64)
        let (b, s, r) = (bytes, stride, rows)
        x.data.withUnsafeBufferPointer { px in
            Parallel.forEach(r, minChunk: 8) { range in
                for i in range { prism_quantize_activation(type, px.baseAddress! + i * k, b.baseAddress! + i * s, k) }
            }
        }
    }

    public func deallocate() { bytes.deallocate() }

    /// y[i, r] for weight rows `range` of w (y has `ldy` columns).
    func gemv(_ w: WeightRows, rows range: Range<Int>, into y: UnsafeMutablePointer<Float>, ldy: Int) {
        prism_qgemv(type, w.base, w.rowBytes, w.cols, bytes.baseAddress!, stride, rows, range.lowerBound, range.upperBound, y, ldy)
    }
}

/// Pieces for the cores to take as they free up: at least 4 per thread, and about one per MiB of weights. Decoding
/// streams the weights, and a core that ends early cannot take over the other's bandwidth; with 8 pieces of the
/// 275 MB lm_head, one core idled for 14% of the decode time (perf, Q4_K_M, 2 threads).
func integerPieces(weightBytes: Int) -> Int {
    max(4 * Parallel.threads, min(1024, weightBytes >> 20))
}

func integerLinear(_ x: Tensor, _ w: TensorView) -> Tensor {
    let outF = w.shape[0]
    var outShape = x.shape; outShape[outShape.count - 1] = outF
    let xq = QuantizedActivations(x, for: w.dtype)
    defer { xq.deallocate() }
    return Tensor(shape: outShape, unsafeUninitialized: { out in
        let y = out.baseAddress!
        let bounds = balancedBounds(rows: [outF], costPerRow: [1], pieces: integerPieces(weightBytes: outF * w.rowBytes),
                                    minRows: 16)
        let rows = w.weightRows
        Parallel.forEach(bounds.count - 1, pieces: bounds.count - 1) { p in
            xq.gemv(rows, rows: bounds[p.lowerBound]..<bounds[p.upperBound], into: y, ldy: outF)
        }
    })
}

/// Widens tiles of weight rows (in parallel) and runs the dense float path on each.
func dequantizedLinear(_ x: Tensor, _ w: TensorView) -> Tensor {
    let outF = w.shape[0], inF = w.shape[1], m = x.rows
    var outShape = x.shape; outShape[outShape.count - 1] = outF
    let tileRows = max(1, min(outF, widenBlockElements / max(1, inF)))
    let x2 = x.reshaped([m, inF])
    return Tensor(shape: outShape, unsafeUninitialized: { out in
        var r0 = 0
        while r0 < outF {
            let r = min(tileRows, outF - r0)
            let tile = Tensor(shape: [r, inF], unsafeUninitialized: { t in
                Parallel.forEach(r, minChunk: 8) { rows in
                    w.widen(from: (r0 + rows.lowerBound) * inF, count: rows.count * inF, into: t.baseAddress! + rows.lowerBound * inF)
                }
            })
            // [m, r], the tile seen in place as an f32 weight
            let y = tile.data.withUnsafeBytes { raw in
                denseLinear(x2, TensorView(name: w.name, dtype: .f32, shape: [r, inF], bytes: raw, owner: nil))
            }
            y.data.withUnsafeBufferPointer { py in
                for i in 0..<m { (out.baseAddress! + i * outF + r0).update(from: py.baseAddress! + i * r, count: r) }
            }
            r0 += r
        }
    })
}

/// Several products y_j = x_j · W_jᵀ computed in one pass over the cores: decoding runs a handful of small
/// GEMVs per layer (every routed expert's gate and up projections), and one split of all their rows keeps
/// both cores busy without a thread hand-off per matrix. Inputs shared by several weights (the same tensor
/// storage) are quantised once. Prompts on block-quantised experts come here too (up to `quantizedIntegerRows`
/// rows), and so do 16-bit weights with decode-sized inputs (up to `smallBatchRows`, the fused widening kernel).
/// Falls back to `linear` per job unless every job is of one of those two kinds.
public func linearBatch(_ jobs: [(x: Tensor, w: TensorView)]) -> [Tensor] {
    func streamsRows(_ x: Tensor, _ w: TensorView) -> Bool {
        guard w.shape.count == 2 && w.shape[1] == x.lastDim else { return false }
        if w.dtype.isBlockQuantized { return x.rows <= quantizedIntegerRows(w.dtype) }
        return (w.dtype == .bf16 || w.dtype == .f16) && x.rows <= smallBatchRows
    }
    guard jobs.allSatisfy({ streamsRows($0.x, $0.w) }) else { return jobs.map { linear($0.x, $0.w) } }
    // prepare each distinct (input storage, input format) once: int8 blocks for the quantised kernels, the fused
    // 16-bit kernel's order for bf16/f16
    var acts: [QuantizedActivations] = [], w16: [W16Input] = [], inputIndex: [Int] = []
    // (storage, floats, format); not a string: a decode step builds a few hundred of these
    struct InputKey: Hashable { let base: Int, count: Int, format: Int }
    var seen: [InputKey: Int] = [:]
    for j in jobs {
        let quantized = j.w.dtype.isBlockQuantized
        // the K-types share one activation format; each 32-value type has its own (its offset term is in the blocks)
        let format = quantized ? (j.w.dtype.blockElements == 256 ? -1 : Int(j.w.dtype.ggmlType!)) : 1000 + Int(W16Input.kind(for: j.w))
        let key = j.x.data.withUnsafeBufferPointer { InputKey(base: Int(bitPattern: $0.baseAddress), count: $0.count, format: format) }
        if let i = seen[key] { inputIndex.append(i); continue }
        let index = quantized ? acts.count : w16.count
        seen[key] = index
        inputIndex.append(index)
        if quantized {
            acts.append(QuantizedActivations(j.x, for: j.w.dtype))
        } else {
            w16.append(j.x.data.withUnsafeBufferPointer { W16Input($0.baseAddress!, rows: j.x.rows, cols: j.x.lastDim, for: j.w) })
        }
    }
    defer { for a in acts { a.deallocate() }; for i in w16 { i.deallocate() } }
    let outs = jobs.map { j -> UnsafeMutablePointer<Float> in .allocate(capacity: max(1, j.x.rows * j.w.shape[0])) }
    defer { for o in outs { o.deallocate() } }
    // one index space over every job's rows, cut into pieces of equal work: a weight row costs one unpacking plus
    // one product per input row, so a prompt's shared expert (every token) weighs far more per row than a routed
    // expert with a few tokens. Splitting by rows alone left one core idle for a quarter of prompt processing.
    var starts = [0]
    for j in jobs { starts.append(starts.last! + j.w.shape[0]) }
    // no piece below `productsPerHandOff` (a decoding token's per-head products stay on one core)
    let products = jobs.reduce(0) { $0 + $1.x.rows * $1.w.shape[0] * $1.w.shape[1] }
    let pieces = min(max(1, products / productsPerHandOff),
                     max(8 * Parallel.threads, integerPieces(weightBytes: jobs.reduce(0) { $0 + $1.w.shape[0] * $1.w.rowBytes })))
    let bounds = balancedBounds(rows: jobs.map { $0.w.shape[0] }, costPerRow: jobs.map { $0.x.rows + 1 },
                                pieces: pieces, minRows: 16)
    let weights = jobs.map(\.w.weightRows), quantized = jobs.map(\.w.dtype.isBlockQuantized)
    Parallel.forEach(bounds.count - 1, pieces: bounds.count - 1) { pieces in
        let range = bounds[pieces.lowerBound]..<bounds[pieces.upperBound]
        var i = range.lowerBound
        var job = starts.lastIndex { $0 <= i }!
        while i < range.upperBound {
            while starts[job + 1] <= i { job += 1 }
            let outF = starts[job + 1] - starts[job]
            let r0 = i - starts[job], r1 = min(outF, range.upperBound - starts[job])
            if quantized[job] {
                acts[inputIndex[job]].gemv(weights[job], rows: r0..<r1, into: outs[job], ldy: outF)
            } else {
                w16[inputIndex[job]].product(weights[job], rows: r0..<r1, into: outs[job], ldy: outF)
            }
            i = starts[job] + r1
        }
    }
    return jobs.enumerated().map { n, j in
        var shape = j.x.shape; shape[shape.count - 1] = j.w.shape[0]
        return Tensor(shape: shape, unsafeUninitialized: { $0.baseAddress!.update(from: outs[n], count: $0.count) })
    }
}

/// Boundaries (in the concatenated row space of several matrices) of up to `pieces` contiguous pieces, each at least
/// `minRows` rows: [0, b1, …, total]. Piece k ends where the running cost reaches total·(1 − (1 − k/n)²), so the pieces
/// get smaller toward the end (the first twice the mean, the last 1/n² of the whole): the cores take pieces in order,
/// and the one that finishes first then waits for at most a small last piece, not half a mean one.
func balancedBounds(rows: [Int], costPerRow: [Int], pieces: Int, minRows: Int) -> [Int] {
    let totalRows = rows.reduce(0, +)
    let total = zip(rows, costPerRow).reduce(0) { $0 + $1.0 * $1.1 }
    let n = max(1, min(pieces, totalRows / max(1, minRows)))
    guard n > 1, total > 0 else { return [0, totalRows] }
    // boundary k goes after the first row where the running cost·n² reaches total·share(k), at least minRows past
    // the last (integers throughout: the bounds are exact)
    func share(_ k: Int) -> Int { n * n - (n - k) * (n - k) }
    var bounds = [0]
    var rowBase = 0, costBase = 0
    for (r, c) in zip(rows, costPerRow) where r > 0 {
        let step = max(1, c) * n * n
        while true {
            let need = total * share(bounds.count) - costBase * n * n   // j rows into this job reach it when j·c·n² ≥ need
            let j = max(need <= 0 ? 1 : (need + step - 1) / step, bounds.last! + max(1, minRows) - rowBase)
            guard j <= r, rowBase + j < totalRows else { break }
            bounds.append(rowBase + j)
        }
        rowBase += r; costBase += r * c
    }
    bounds.append(totalRows)
    return bounds
}
