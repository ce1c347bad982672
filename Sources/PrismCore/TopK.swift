/// The k largest values of a row and their indices, largest first; ties go to the lower index.
public func topK(_ values: UnsafeBufferPointer<Float>, k: Int) -> (values: [Float], indices: [Int]) {
    precondition(k >= 0 && k <= values.count, "topK: k = \(k) of \(values.count)")
    var idx: [Int] = []
    idx.reserveCapacity(k + 1)
    // Insertion into a small sorted list: k is tiny (experts per token, sampling top-k) compared with n.
    for i in 0..<values.count {
        let v = values[i]
        if idx.count == k, let last = idx.last, !(v > values[last]) { continue }
        var pos = idx.count
        while pos > 0 && v > values[idx[pos - 1]] { pos -= 1 }
        idx.insert(i, at: pos)
        if idx.count > k { idx.removeLast() }
    }
    return (idx.map { values[$0] }, idx)
}

public func topK(_ values: [Float], k: Int) -> (values: [Float], indices: [Int]) {
    values.withUnsafeBufferPointer { topK($0, k: k) }
}

extension Tensor {
    /// Row-wise top-k over the last axis: values and indices, each [..., k].
    public func topK(_ k: Int) -> (values: Tensor, indices: [[Int]]) {
        let d = lastDim
        var vals: [Float] = []
        vals.reserveCapacity(rows * k)
        var inds: [[Int]] = []
        data.withUnsafeBufferPointer { p in
            for r in 0..<rows {
                let (v, i) = PrismCore.topK(UnsafeBufferPointer(rebasing: p[(r * d)..<((r + 1) * d)]), k: k)
                vals += v
                inds.append(i)
            }
        }
        var s = shape; s[s.count - 1] = k
        return (Tensor(shape: s, data: vals), inds)
    }
}
