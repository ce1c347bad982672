// Attention for long packed sequences, tiled the FlashAttention way: each work item is one (segment, head,
// block of query rows); it walks the segment's keys a block at a time, keeping per row the running max m and sum l
// of the online softmax and an unnormalised output O:
//
//   S = scale · Q_blk · K_tileᵀ (+ bias, causal mask)          [rows, keys]   one GEMM
//   m' = max(m, rowmax S);  P = exp(S − m');  c = exp(m − m')
//   l ← c·l + rowsum P;  O ← c·O + P · V_tile                   [rows, dv]     one GEMM
//   out = O / l
//
// so no [T, T] score matrix exists: a worker holds one [rows, keys] tile. Work items are pulled by the cores from
// a shared counter (causal items differ in cost); the GEMMs inside run single-threaded on their core.
//
// Precision: f32 runs the tiles on the f32 GEMM. bf16 converts Q, K, V to bf16 once per call (head-major, dense)
// and runs both GEMMs on oneDNN's bf16 kernel with P rounded to bf16, the softmax in f32; where the CPU has no
// native bf16 the same numerics run on the f32 GEMM (Q, K, V and P rounded to bf16 values).
import CDNNL
import CPrismKernels
import Foundation

/// Adds a positional bias to score tiles. Called once per work item with its segment, head and query rows
/// (relative to the segment start); the returned function adds the bias for key columns `keys` (relative to the
/// segment start) to a [rows.count, keys.count] tile with row stride `ld`.
public typealias AttentionBias = (_ segment: Int, _ head: Int, _ rows: Range<Int>) -> AttentionBiasTile
public typealias AttentionBiasTile = (_ keys: Range<Int>, _ scores: UnsafeMutablePointer<Float>, _ ld: Int) -> Void

/// Scaled dot-product attention over packed segments, as `attention(...)` computes it (q: [Tq, H, Dk],
/// k: [Tk, Hkv, Dk], v: [Tk, Hkv, Dv], H a multiple of Hkv, segments by cu_seqlens, `causal` bottom-right aligned
/// per segment), tiled with the online softmax. → [Tq, H, Dv].
public func flashAttention(q: Tensor, k: Tensor, v: Tensor, cuSeqlensQ: [Int], cuSeqlensK: [Int],
                           causal: Bool = false, scale: Float, precision: Precision = .f32,
                           queryBlock: Int = 128, keyBlock: Int = 512, bias: AttentionBias? = nil) -> Tensor {
    flashAttention(q: q, k: k, v: v, cuSeqlensQ: cuSeqlensQ, cuSeqlensK: cuSeqlensK, causal: causal, scale: scale,
                   precision: precision, bf16Storage: BF16Storage.native, queryBlock: queryBlock, keyBlock: keyBlock, bias: bias)
}

/// bf16 runs on oneDNN tiles in `bf16Storage` (nil: the emulation on the f32 GEMM). Tests pass `.roundedF32` to run
/// the oneDNN tile code on CPUs without bf16, or nil to get the emulation where the CPU has bf16.
func flashAttention(q: Tensor, k: Tensor, v: Tensor, cuSeqlensQ: [Int], cuSeqlensK: [Int], causal: Bool, scale: Float,
                    precision: Precision, bf16Storage: BF16Storage?, queryBlock: Int, keyBlock: Int, bias: AttentionBias?) -> Tensor {
    precondition(q.rank == 3 && k.rank == 3 && v.rank == 3, "flashAttention: q \(q.shape) k \(k.shape) v \(v.shape)")
    let h = q.shape[1], dk = q.shape[2], hkv = k.shape[1], dv = v.shape[2]
    precondition(k.shape[2] == dk && v.shape[1] == hkv && v.shape[0] == k.shape[0] && hkv > 0 && h % hkv == 0,
                 "flashAttention: q \(q.shape) k \(k.shape) v \(v.shape)")
    precondition(cuSeqlensQ.count == cuSeqlensK.count && cuSeqlensQ.first == 0 && cuSeqlensK.first == 0
                 && cuSeqlensQ.last == q.shape[0] && cuSeqlensK.last == k.shape[0] && queryBlock > 0 && keyBlock > 0,
                 "flashAttention: cu_seqlens \(cuSeqlensQ) / \(cuSeqlensK) do not cover \(q.shape[0]) / \(k.shape[0]) rows")
    var items: [FlashItem] = []
    for s in 0..<(cuSeqlensQ.count - 1) {
        let nq = cuSeqlensQ[s + 1] - cuSeqlensQ[s], nk = cuSeqlensK[s + 1] - cuSeqlensK[s]
        precondition(nq >= 0 && nk >= 0, "flashAttention: cu_seqlens must not decrease")
        precondition(!causal || nk >= nq, "flashAttention: causal segment \(s) has \(nq) queries but \(nk) keys")
        for head in 0..<h {
            for r0 in stride(from: 0, to: nq, by: queryBlock) {
                items.append(FlashItem(segment: s, head: head, rows: r0..<min(nq, r0 + queryBlock)))
            }
        }
    }
    let shape = FlashShape(h: h, hkv: hkv, dk: dk, dv: dv, tq: q.shape[0], tk: k.shape[0], cuQ: cuSeqlensQ, cuK: cuSeqlensK,
                           causal: causal, scale: scale, keyBlock: keyBlock, queryBlock: queryBlock)
    var out = Tensor(zeros: [q.shape[0], h, dv])
    guard !items.isEmpty else { return out }
    out.data.withUnsafeMutableBufferPointer { po in
        let o = po.baseAddress!
        if precision == .bf16, let storage = bf16Storage, let tiles = OneDNNTiles(shape, q: q, k: k, v: v, storage: storage) {
            runItems(items, shape) { scratch, item in tiles.run(item, scratch: scratch, bias: bias, out: o) }
            return
        }
        let emulate = precision == .bf16
        let (qs, ks, vs) = emulate ? (q.roundedToBF16(), k.roundedToBF16(), v.roundedToBF16()) : (q, k, v)
        qs.data.withUnsafeBufferPointer { pq in ks.data.withUnsafeBufferPointer { pk in vs.data.withUnsafeBufferPointer { pv in
            let tiles = FloatTiles(shape: shape, q: pq.baseAddress!, k: pk.baseAddress!, v: pv.baseAddress!, roundP: emulate)
            runItems(items, shape) { scratch, item in tiles.run(item, scratch: scratch, bias: bias, out: o) }
        }}}
    }
    return out
}

// MARK: - Work items

struct FlashItem {
    let segment: Int, head: Int, rows: Range<Int>
}

struct FlashShape {
    let h, hkv, dk, dv, tq, tk: Int
    let cuQ, cuK: [Int]
    let causal: Bool
    let scale: Float
    let keyBlock, queryBlock: Int

    /// Keys a query block may see: all of the segment's, or with `causal` up to the block's last row's diagonal.
    func keyLimit(_ item: FlashItem) -> Int {
        let nq = cuQ[item.segment + 1] - cuQ[item.segment], nk = cuK[item.segment + 1] - cuK[item.segment]
        return causal ? min(nk, nk - nq + item.rows.upperBound) : nk
    }

    /// Sets scores of keys past query row i's diagonal to −∞ (rows relative to the segment, keys from `k0`).
    func mask(_ item: FlashItem, keys: Range<Int>, _ sc: UnsafeMutablePointer<Float>, ld: Int) {
        guard causal else { return }
        let nq = cuQ[item.segment + 1] - cuQ[item.segment], nk = cuK[item.segment + 1] - cuK[item.segment]
        for (i, row) in item.rows.enumerated() {
            let last = nk - nq + row          // the last key row `row` may see
            let from = max(keys.lowerBound, last + 1)
            if from < keys.upperBound {
                for j in from..<keys.upperBound { sc[i * ld + j - keys.lowerBound] = -.infinity }
            }
        }
    }
}

extension FlashShape {
    /// One work item: for each key tile from c0, `scores(c0, keys)` fills `scratch.scores` ([rows, keys], scaled),
    /// the bias and causal mask are added, the online softmax turns them into P, and `values(c0, keys)` adds P·V_tile
    /// to `scratch.o`; finally out = O / l. `wholeTiles` walks stored tiles whole (the mask removes keys past the
    /// diagonal) instead of stopping at the diagonal.
    func run(_ item: FlashItem, scratch: FlashScratch, bias: AttentionBias?, out: UnsafeMutablePointer<Float>, wholeTiles: Bool,
             scores: (_ c0: Int, _ keys: Int) -> Void, values: (_ c0: Int, _ keys: Int) -> Void) {
        let rows = item.rows.count, q0 = cuQ[item.segment] + item.rows.lowerBound
        let limit = keyLimit(item), nk = cuK[item.segment + 1] - cuK[item.segment]
        let addBias = bias?(item.segment, item.head, item.rows)
        scratch.reset(rows: rows, dv: dv)
        var c0 = 0
        while c0 < limit {
            let keys = min(keyBlock, (wholeTiles ? nk : limit) - c0)
            scores(c0, keys)
            addBias?(c0..<(c0 + keys), scratch.scores, keys)
            mask(item, keys: c0..<(c0 + keys), scratch.scores, ld: keys)
            scratch.softmaxStep(rows: rows, keys: keys, dv: dv)
            values(c0, keys)
            c0 += keys
        }
        scratch.finish(rows: rows, dv: dv, into: out + (q0 * h + item.head) * dv, rowStride: h * dv)
    }
}

/// Per-worker buffers: a score tile, the running max and sum, the unnormalised output.
final class FlashScratch {
    let scores: UnsafeMutablePointer<Float>
    /// P in the tile storage (bf16 bits or rounded f32) for the P·V GEMM.
    let probs: UnsafeMutableRawPointer
    let m: UnsafeMutablePointer<Float>, l: UnsafeMutablePointer<Float>, o: UnsafeMutablePointer<Float>

    init(_ s: FlashShape) {
        let rows = s.queryBlock, keys = s.keyBlock
        scores = .allocate(capacity: rows * keys)
        probs = .allocate(byteCount: rows * keys * 4, alignment: 64)
        m = .allocate(capacity: rows); l = .allocate(capacity: rows)
        o = .allocate(capacity: rows * max(1, s.dv))
    }

    deinit { scores.deallocate(); probs.deallocate(); m.deallocate(); l.deallocate(); o.deallocate() }

    func reset(rows: Int, dv: Int) {
        m.update(repeating: -.infinity, count: rows)
        l.update(repeating: 0, count: rows)
        o.update(repeating: 0, count: rows * dv)
    }

    /// Online-softmax step on a [rows, keys] tile (ld = keys): P in place, O rows rescaled by c.
    func softmaxStep(rows: Int, keys: Int, dv: Int) {
        for i in 0..<rows {
            let c = prism_online_softmax_row(scores + i * keys, keys, m + i, l + i)
            if c != 1 {
                let row = o + i * dv
                for j in 0..<dv { row[j] *= c }
            }
        }
    }

    /// out rows (q0 + rows, head) = O / l (0 where nothing was visible).
    func finish(rows: Int, dv: Int, into out: UnsafeMutablePointer<Float>, rowStride: Int) {
        for i in 0..<rows {
            let inv: Float = l[i] > 0 ? 1 / l[i] : 0
            let src = o + i * dv, dst = out + i * rowStride
            for j in 0..<dv { dst[j] = src[j] * inv }
        }
    }
}

/// Runs `body` for every item on all cores, items pulled from a shared counter, one scratch per worker.
private func runItems(_ items: [FlashItem], _ shape: FlashShape, _ body: (FlashScratch, FlashItem) -> Void) {
    let lock = NSLock()
    var next = 0
    Parallel.forEach(min(items.count, Parallel.threads)) { workers in
        for _ in workers {
            var scratch: FlashScratch?
            while true {
                let i: Int = lock.withLock { defer { next += 1 }; return next }
                guard i < items.count else { break }
                if scratch == nil { scratch = FlashScratch(shape) }
                body(scratch!, items[i])
            }
        }
    }
}

// MARK: - f32 tiles (and the bf16 emulation)

struct FloatTiles {
    let shape: FlashShape
    let q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>
    /// Round P to bf16 values before P·V (the emulation of the bf16 path).
    let roundP: Bool

    func run(_ item: FlashItem, scratch: FlashScratch, bias: AttentionBias?, out: UnsafeMutablePointer<Float>) {
        let s = shape, rows = item.rows.count, kh = item.head / (s.h / s.hkv)
        let q0 = s.cuQ[item.segment] + item.rows.lowerBound, k0 = s.cuK[item.segment]
        let qp = q + (q0 * s.h + item.head) * s.dk
        s.run(item, scratch: scratch, bias: bias, out: out, wholeTiles: false, scores: { c0, keys in
            // S = scale · Q_blk · K_tileᵀ; rows of one head are h·dk (hkv·dk) apart
            BLAS.sgemm(transB: true, m: rows, n: keys, k: s.dk, alpha: s.scale, a: qp, lda: s.h * s.dk,
                       b: k + ((k0 + c0) * s.hkv + kh) * s.dk, ldb: s.hkv * s.dk, c: scratch.scores, ldc: keys)
        }, values: { c0, keys in
            if roundP { Convert.roundToBF16(scratch.scores, scratch.scores, count: rows * keys) }
            // O += P · V_tile
            BLAS.sgemm(m: rows, n: s.dv, k: keys, a: scratch.scores, lda: keys, b: v + ((k0 + c0) * s.hkv + kh) * s.dv,
                       ldb: s.hkv * s.dv, beta: 1, c: scratch.o, ldc: s.dv)
        })
    }
}

// MARK: - oneDNN bf16 tiles

/// Q, V dense head-major ([H][Tq][dk], [Hkv][Tk][dv]) and K transposed tile by tile (each key tile of a segment a
/// dense [dk, keys] block) in `storage`, so every oneDNN operand is a plain dense row-major matrix; the tile primitives.
final class OneDNNTiles: @unchecked Sendable {
    let shape: FlashShape
    let storage: BF16Storage
    private let q16, k16, v16: UnsafeMutableRawPointer
    private let lock = NSLock()
    private var primitives: [Int: MatmulPrimitive] = [:]

    /// nil when oneDNN has no matmul for the tile shapes in this storage.
    init?(_ s: FlashShape, q: Tensor, k: Tensor, v: Tensor, storage: BF16Storage) {
        shape = s
        self.storage = storage
        q16 = OneDNNTiles.headMajor(q, storage); k16 = OneDNNTiles.transposedKeyTiles(k, s, storage)
        v16 = OneDNNTiles.headMajor(v, storage)
        if scoresPrimitive(rows: min(s.queryBlock, s.tq), keys: min(s.keyBlock, s.tk)) == nil { return nil }
    }

    deinit { q16.deallocate(); k16.deallocate(); v16.deallocate() }

    /// x [T, H, d] → [H][T][d] in `storage`.
    private static func headMajor(_ x: Tensor, _ storage: BF16Storage) -> UnsafeMutableRawPointer {
        let t = x.shape[0], h = x.shape[1], d = x.shape[2], size = storage.size
        let out = UnsafeMutableRawPointer.allocate(byteCount: max(1, t * h * d) * size, alignment: 64)
        x.data.withUnsafeBufferPointer { p in
            let src = p.baseAddress!
            Parallel.forEach(t, minChunk: 256) { rows in
                for i in rows { for head in 0..<h { storage.store(src + (i * h + head) * d, out + (head * t + i) * d * size, count: d) } }
            }
        }
        return out
    }

    /// k [Tk, Hkv, dk] → [Hkv][Tk·dk] in `storage`, where the keys c0..<c0+n of a tile of segment s (starting at key
    /// row k0 + c0) are stored transposed as a dense [dk, n] block at element (head·Tk + k0 + c0)·dk.
    private static func transposedKeyTiles(_ k: Tensor, _ s: FlashShape, _ storage: BF16Storage) -> UnsafeMutableRawPointer {
        let t = s.tk, h = s.hkv, d = s.dk, size = storage.size
        let out = UnsafeMutableRawPointer.allocate(byteCount: max(1, t * h * d) * size, alignment: 64)
        k.data.withUnsafeBufferPointer { p in
            let src = p.baseAddress!
            Parallel.forEach(h, minChunk: 1) { heads in
                let column = UnsafeMutablePointer<Float>.allocate(capacity: s.keyBlock)
                defer { column.deallocate() }
                for head in heads {
                    for seg in 0..<(s.cuK.count - 1) {
                        let k0 = s.cuK[seg], nk = s.cuK[seg + 1] - k0
                        for c0 in stride(from: 0, to: nk, by: s.keyBlock) {
                            let n = min(s.keyBlock, nk - c0), block = out + (head * t + k0 + c0) * d * size
                            for e in 0..<d {
                                for j in 0..<n { column[j] = src[((k0 + c0 + j) * h + head) * d + e] }
                                storage.store(column, block + e * n * size, count: n)
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// scale · Q_blk [rows, dk] · K_tileᵀ → f32 [rows, keys], K_tileᵀ a dense [dk, keys] block.
    private func scoresPrimitive(rows: Int, keys: Int) -> MatmulPrimitive? {
        primitive(key: rows << 32 | keys << 1) {
            MatmulPrimitive(src: MatrixDesc(rows: rows, cols: shape.dk, type: storage.type, rowStride: shape.dk),
                            weights: MatrixDesc(rows: shape.dk, cols: keys, type: storage.type, rowStride: keys),
                            dst: MatrixDesc(rows: rows, cols: keys, type: dnnl_f32, rowStride: keys), scale: shape.scale)
        }
    }

    /// O [rows, dv] += P [rows, keys] · V_tile [keys, dv].
    private func valuesPrimitive(rows: Int, keys: Int) -> MatmulPrimitive? {
        primitive(key: rows << 32 | keys << 1 | 1) {
            MatmulPrimitive(src: MatrixDesc(rows: rows, cols: keys, type: storage.type, rowStride: keys),
                            weights: MatrixDesc(rows: keys, cols: shape.dv, type: storage.type, rowStride: shape.dv),
                            dst: MatrixDesc(rows: rows, cols: shape.dv, type: dnnl_f32, rowStride: shape.dv), accumulate: 1)
        }
    }

    private func primitive(key: Int, _ make: () -> MatmulPrimitive?) -> MatmulPrimitive? {
        lock.lock(); defer { lock.unlock() }
        if let p = primitives[key] { return p }
        let p = make()
        if let p { primitives[key] = p }
        return p
    }

    func run(_ item: FlashItem, scratch: FlashScratch, bias: AttentionBias?, out: UnsafeMutablePointer<Float>) {
        let s = shape, rows = item.rows.count, kh = item.head / (s.h / s.hkv), size = storage.size
        let q0 = s.cuQ[item.segment] + item.rows.lowerBound, k0 = s.cuK[item.segment]
        let qp = q16 + (item.head * s.tq + q0) * s.dk * size
        // whole stored key tiles: every operand stays a dense matrix
        s.run(item, scratch: scratch, bias: bias, out: out, wholeTiles: true, scores: { c0, keys in
            guard let p = scoresPrimitive(rows: rows, keys: keys) else {
                preconditionFailure("oneDNN: no \(storage) attention tile [\(rows)×\(keys)]")
            }
            p.execute(src: qp, weights: k16 + (kh * s.tk + k0 + c0) * s.dk * size, dst: scratch.scores)
        }, values: { c0, keys in
            guard let p = valuesPrimitive(rows: rows, keys: keys) else {
                preconditionFailure("oneDNN: no \(storage) attention tile [\(rows)×\(keys)]")
            }
            storage.store(scratch.scores, scratch.probs, count: rows * keys)
            p.execute(src: scratch.probs, weights: v16 + (kh * s.tk + k0 + c0) * s.dv * size, dst: scratch.o)
        })
    }
}

extension Tensor {
    /// Every value rounded to the nearest bf16 (kept as f32): the operands of the bf16 emulation.
    func roundedToBF16() -> Tensor {
        Tensor(shape: shape, unsafeUninitialized: { out in
            data.withUnsafeBufferPointer { src in
                let s = src.baseAddress!, d = out.baseAddress!
                Parallel.forEach(out.count, minChunk: 1 << 16) { r in Convert.roundToBF16(s + r.lowerBound, d + r.lowerBound, count: r.count) }
            }
        })
    }
}
