// What one decoded token reads: every weight of the text model except the embedding table (one row of it) and
// the experts the router does not pick (experts_per_token of n_routed_experts per MoE layer). The roofline of
// decoding is these bytes divided by the memory read bandwidth.
import PrismCore

extension TextDecoder {
    /// Weight bytes read per decoded token, by part.
    public var bytesPerDecodedToken: [(part: String, bytes: Int)] {
        var attention = 0, dense = 0, routed = 0, shared = 0, router = 0, norms = 0
        for l in layers {
            let a = l.attention
            attention += [a.qProj, a.kvAProj, a.kB, a.vB, a.oProj].reduce(0) { $0 + $1.bytes.count }
            norms += (l.inputNorm.count + l.postNorm.count + a.kvANorm.count) * 4
            switch l.ffn {
            case let .dense(m): dense += m.gate.bytes.count + m.up.bytes.count + m.down.bytes.count
            case let .moe(m):
                router += m.gate.bytes.count + m.correction.count * 4
                let perExpert = m.experts.map { $0.gate.bytes.count + $0.up.bytes.count + $0.down.bytes.count }
                routed += perExpert.reduce(0, +) / max(1, perExpert.count) * m.config.expertsPerToken
                if let s = m.shared { shared += s.gate.bytes.count + s.up.bytes.count + s.down.bytes.count }
            }
        }
        return [("attention", attention), ("routed experts", routed), ("shared experts", shared), ("dense FFN", dense),
                ("routers", router), ("norms", norms + norm.count * 4), ("lm_head", lmHead.bytes.count),
                ("embedding row", embedTokens.rowBytes)]
    }
}

extension TextDecoder {
    /// A block-quantised projection for kernel measurements: the first routed expert's gate, else the first q_proj.
    public var sampleQuantizedWeight: TensorView? {
        for l in layers {
            if case let .moe(m) = l.ffn, let e = m.experts.first, e.gate.dtype.isBlockQuantized { return e.gate }
        }
        return layers.first.map(\.attention.qProj).flatMap { $0.dtype.isBlockQuantized ? $0 : nil }
    }
}
