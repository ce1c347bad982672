// The MoE block for decoding, and for prompts on block-quantised experts (up to `quantizedIntegerRows` tokens): only
// the routed experts' slices of the stacked weights are read, and all their projections run as two batched passes
// over the cores (gate+up of every busy expert and the shared one, then every down projection) instead of a thread
// hand-off per matrix. `linearBatch` splits those passes by work, since a prompt's experts get uneven token counts.
import PrismCore

extension MoE {
    /// x: [T, D]; ids/weights from the router. Same result as the per-expert loop.
    func decodeExperts(_ x: Tensor, ids: [[Int]], weights: [[Float]]) -> Tensor {
        let d = x.lastDim
        var assigned = [[(token: Int, weight: Float)]](repeating: [], count: config.experts)
        for (t, (ti, tw)) in zip(ids, weights).enumerated() {
            for (e, w) in zip(ti, tw) { assigned[e].append((t, w)) }
        }
        let busy = assigned.indices.filter { !assigned[$0].isEmpty }
        // rows of each busy expert [n_e, D] (x itself when every token goes there, so it is quantised once)
        let inputs: [Tensor] = busy.map { e in
            let list = assigned[e]
            if list.count == x.rows && list.enumerated().allSatisfy({ $0.offset == $0.element.token }) { return x }
            return Tensor(shape: [list.count, d], unsafeUninitialized: { dst in
                x.data.withUnsafeBufferPointer { src in
                    for (i, item) in list.enumerated() { (dst.baseAddress! + i * d).update(from: src.baseAddress! + item.token * d, count: d) }
                }
            })
        }
        var first: [(x: Tensor, w: TensorView)] = []
        for (i, e) in busy.enumerated() { first += [(inputs[i], experts[e].gate), (inputs[i], experts[e].up)] }
        if let shared { first += [(x, shared.gate), (x, shared.up)] }
        let gu = linearBatch(first)
        var second: [(x: Tensor, w: TensorView)] = []
        for (i, e) in busy.enumerated() { second.append((siluMul(gu[2 * i], gu[2 * i + 1]), experts[e].down)) }
        if let shared { second.append((siluMul(gu[2 * busy.count], gu[2 * busy.count + 1]), shared.down)) }
        let down = linearBatch(second)
        var out = shared != nil ? down[busy.count] : Tensor(zeros: x.shape)
        out.data.withUnsafeMutableBufferPointer { o in
            for (i, e) in busy.enumerated() {
                down[i].data.withUnsafeBufferPointer { py in
                    for (r, item) in assigned[e].enumerated() {
                        addScaled(py.baseAddress! + r * d, item.weight, into: o.baseAddress! + item.token * d, count: d)
                    }
                }
            }
        }
        return out
    }
}
