/// Matrix transpose of a rank-2 tensor in cache-sized tiles (the odometer in `permuted` is general but
/// touches one element per step; a [256, 4096] ↔ [4096, 256] layout switch is on SAM's per-prompt path).
public func transpose2d(_ x: Tensor) -> Tensor {
    precondition(x.rank == 2, "transpose2d needs rank 2, got \(x.shape)")
    let r = x.shape[0], c = x.shape[1], tile = 32
    return Tensor(shape: [c, r], unsafeUninitialized: { out in
        x.data.withUnsafeBufferPointer { src in
            let s = src.baseAddress!, d = out.baseAddress!
            Parallel.forEach((r + tile - 1) / tile, minChunk: max(1, 16384 / max(1, tile * c))) { tiles in
                for ti in tiles {
                    let i0 = ti * tile, i1 = min(r, i0 + tile)
                    var j0 = 0
                    while j0 < c {
                        let j1 = min(c, j0 + tile)
                        for i in i0..<i1 { for j in j0..<j1 { d[j * r + i] = s[i * c + j] } }
                        j0 = j1
                    }
                }
            }
        }
    })
}
