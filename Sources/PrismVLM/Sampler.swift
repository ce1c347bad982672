// Next-token selection from logits (token ids in, token id out; text decoding is the tokenizer's).
// Order as in transformers' logits processors: repetition penalty → temperature → top-k → top-p → draw.
import Foundation
import PrismCore

public struct SamplingParameters: Sendable, Equatable {
    /// 0 means greedy (argmax).
    public var temperature: Float
    /// Nucleus: keep the smallest set of most likely tokens whose probability reaches topP (1 = off).
    public var topP: Float
    /// Keep the k most likely tokens (0 = off).
    public var topK: Int
    /// > 1 discourages tokens already in the history (CTRL / transformers rule: positive logits ÷ p, negative × p).
    public var repetitionPenalty: Float
    /// Fixed seed for reproducible sampling; nil draws one from the system generator.
    public var seed: UInt64?

    public init(temperature: Float = 0, topP: Float = 1, topK: Int = 0, repetitionPenalty: Float = 1, seed: UInt64? = nil) {
        self.temperature = temperature; self.topP = topP; self.topK = topK
        self.repetitionPenalty = repetitionPenalty; self.seed = seed
    }

    public static let greedy = SamplingParameters()
}

public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var rng: SplitMix64

    public init(_ parameters: SamplingParameters = .greedy) {
        self.parameters = parameters
        rng = SplitMix64(seed: parameters.seed ?? UInt64.random(in: 0...UInt64.max))
    }

    /// Picks the next token from `logits` [V]; `history` is what the repetition penalty looks at.
    public mutating func sample(logits: [Float], history: [Int] = []) -> Int {
        precondition(!logits.isEmpty, "Sampler: empty logits")
        var l = logits
        let p = parameters
        if p.repetitionPenalty != 1 {
            for t in Set(history) where t >= 0 && t < l.count {
                l[t] = l[t] > 0 ? l[t] / p.repetitionPenalty : l[t] * p.repetitionPenalty
            }
        }
        if p.temperature <= 0 { return argmax(l) }
        // candidates sorted by logit, best first (ties: lower id first)
        var order = Array(l.indices).sorted { l[$0] > l[$1] || (l[$0] == l[$1] && $0 < $1) }
        if p.topK > 0 && p.topK < order.count { order.removeSubrange(p.topK...) }
        let m = l[order[0]]
        var probs = order.map { exp(Double((l[$0] - m) / p.temperature)) }
        let total = probs.reduce(0, +)
        probs = probs.map { $0 / total }
        if p.topP < 1 {
            var cumulative = 0.0, keep = 0
            while keep < probs.count { cumulative += probs[keep]; keep += 1; if cumulative >= Double(p.topP) { break } }
            order.removeSubrange(keep...); probs.removeSubrange(keep...)
        }
        // draw from the (renormalised) remaining mass
        let u = rng.nextUnit() * probs.reduce(0, +)
        var acc = 0.0
        for (i, pr) in probs.enumerated() {
            acc += pr
            if u < acc { return order[i] }
        }
        return order[order.count - 1]
    }

    public func argmax(_ l: [Float]) -> Int {
        var best = 0
        for i in 1..<l.count where l[i] > l[best] { best = i }
        return best
    }
}

