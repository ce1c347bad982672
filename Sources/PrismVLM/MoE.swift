// DeepSeek-V3 / Moonlight feed-forward blocks (specs/kimi_vl.md §5.2): the dense SwiGLU of the first layer,
// and the MoE of the others — sigmoid router in float32, bias-corrected group-limited top-k, normalised
// weights × routed_scaling_factor, shared experts — with dispatch shaped for BLAS.
import PrismCore
import PrismIO

// MARK: - SwiGLU expert

/// down(silu(gate(x)) ⊙ up(x)); weights stay in their checkpoint dtype.
struct SwiGLU {
    let gate, up, down: TensorView

    init(_ w: WeightScope, hidden: Int, intermediate: Int) {
        gate = w.tensor("gate_proj.weight", [intermediate, hidden])
        up = w.tensor("up_proj.weight", [intermediate, hidden])
        down = w.tensor("down_proj.weight", [hidden, intermediate])
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        linear(siluMul(linear(x, gate), linear(x, up)), down)
    }
}

// MARK: - Router

public struct RouterConfig: Sendable, Equatable {
    public var experts: Int
    public var expertsPerToken: Int
    public var groups: Int
    public var topGroups: Int
    public var routedScale: Float
    public var normalize: Bool

    public init(experts: Int, expertsPerToken: Int, groups: Int, topGroups: Int, routedScale: Float, normalize: Bool) {
        self.experts = experts; self.expertsPerToken = expertsPerToken; self.groups = groups
        self.topGroups = topGroups; self.routedScale = routedScale; self.normalize = normalize
    }

    public init(_ c: TextConfig) {
        self.init(experts: c.nRoutedExperts, expertsPerToken: c.numExpertsPerTok, groups: c.nGroup,
                  topGroups: c.topkGroup, routedScale: c.routedScalingFactor, normalize: c.normTopkProb)
    }
}

public enum Router {
    /// Chooses experts for each row of `scores` [T, E] (sigmoid of the router logits).
    /// `bias` (e_score_correction_bias) only picks experts; the weights come from the unbiased scores.
    /// Group stage: a group's score is the sum of its two largest biased scores; experts outside the
    /// `topGroups` best groups cannot be chosen. Returns expert ids (best first) and their weights per token.
    public static func route(scores: Tensor, bias: [Float], _ c: RouterConfig) -> (ids: [[Int]], weights: [[Float]]) {
        precondition(scores.lastDim == c.experts && bias.count == c.experts, "Router: scores \(scores.shape), bias \(bias.count), \(c.experts) experts")
        let e = c.experts, perGroup = e / c.groups
        var ids: [[Int]] = [], weights: [[Float]] = []
        ids.reserveCapacity(scores.rows); weights.reserveCapacity(scores.rows)
        scores.data.withUnsafeBufferPointer { p in
            for row in 0..<scores.rows {
                let s = UnsafeBufferPointer(rebasing: p[(row * e)..<((row + 1) * e)])
                var choice = (0..<e).map { s[$0] + bias[$0] }
                if c.topGroups < c.groups {
                    let groupScores = (0..<c.groups).map { g -> Float in
                        topK(Array(choice[(g * perGroup)..<((g + 1) * perGroup)]), k: min(2, perGroup)).values.reduce(0, +)
                    }
                    let keep = Set(topK(groupScores, k: c.topGroups).indices)
                    for g in 0..<c.groups where !keep.contains(g) {
                        for j in (g * perGroup)..<((g + 1) * perGroup) { choice[j] = -.infinity }
                    }
                }
                let chosen = topK(choice, k: c.expertsPerToken).indices
                var w = chosen.map { s[$0] }
                if c.normalize {
                    let sum = w.reduce(0, +) + 1e-20
                    w = w.map { $0 / sum }
                }
                ids.append(chosen)
                weights.append(w.map { $0 * c.routedScale })
            }
        }
        return (ids, weights)
    }
}

// MARK: - MoE block

final class MoE {
    let gate: TensorView            // mlp.gate.weight [E, D]
    let correction: [Float]         // mlp.gate.e_score_correction_bias [E]
    let experts: [SwiGLU]
    let shared: SwiGLU?
    let config: RouterConfig

    init(_ c: TextConfig, _ w: WeightScope) {
        config = RouterConfig(c)
        // the router stays f32 in every precision: expert choice is a top-k over close sigmoid scores
        gate = w.tensor("gate.weight", [c.nRoutedExperts, c.hiddenSize]).computed(in: .f32)
        correction = w.float("gate.e_score_correction_bias", [c.nRoutedExperts]).data
        experts = (0..<c.nRoutedExperts).map {
            SwiGLU(w.scope("experts.\($0)"), hidden: c.hiddenSize, intermediate: c.moeIntermediateSize)
        }
        shared = c.nSharedExperts > 0
            ? SwiGLU(w.scope("shared_experts"), hidden: c.hiddenSize, intermediate: c.moeIntermediateSize * c.nSharedExperts)
            : nil
    }

    /// x: [T, D] → [T, D].
    func callAsFunction(_ x: Tensor) -> Tensor {
        let d = x.lastDim
        // router in float32 (weights widened), sigmoid scores [T, E]
        var scores = linear(x, gate)
        scores.apply(.sigmoid)
        let (ids, weights) = Router.route(scores: scores, bias: correction, config)
        if x.rows <= quantizedIntegerRows(experts[0].gate.dtype) { return decodeExperts(x, ids: ids, weights: weights) }   // MoEDecode.swift

        // tokens per expert; idle experts are skipped
        var assigned = [[(token: Int, weight: Float)]](repeating: [], count: config.experts)
        for (t, (ti, tw)) in zip(ids, weights).enumerated() {
            for (e, w) in zip(ti, tw) { assigned[e].append((t, w)) }
        }
        var out = shared?(x) ?? Tensor(zeros: x.shape)
        for (e, list) in assigned.enumerated() where !list.isEmpty {
            // gather the expert's rows [n, D], one GEMM per projection, scatter-add × routing weight
            let rows = Tensor(shape: [list.count, d], unsafeUninitialized: { dst in
                x.data.withUnsafeBufferPointer { src in
                    for (i, item) in list.enumerated() {
                        for j in 0..<d { dst[i * d + j] = src[item.token * d + j] }
                    }
                }
            })
            let y = experts[e](rows)
            out.data.withUnsafeMutableBufferPointer { o in y.data.withUnsafeBufferPointer { py in
                for (i, item) in list.enumerated() {
                    addScaled(py.baseAddress! + i * d, item.weight, into: o.baseAddress! + item.token * d, count: d)
                }
            }}
        }
        return out
    }
}
