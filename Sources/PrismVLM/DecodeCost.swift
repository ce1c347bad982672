// What one decoded token reads: every weight of the text model except the embedding table (one row of it) and
// the experts the router does not pick (experts_per_token of n_routed_experts per MoE layer). The roofline of
// decoding is these bytes divided by the memory read bandwidth.
import PrismCore

extension TextDecoder {
    /// Weight bytes read per decoded token, by part.
    public var bytesPerDecodedToken: [(part: String, bytes: Int)] {
        bytesByPart(routed: { m in m.routedBytes / max(1, m.experts.count) * m.config.expertsPerToken })
            + [("embedding row", embedTokens.rowBytes)]
    }

    /// Bytes of every text weight: all routed experts and the whole embedding table.
    var totalWeightBytes: Int {
        bytesByPart(routed: { $0.routedBytes }).reduce(0) { $0 + $1.bytes }
            + (config.tieWordEmbeddings ? 0 : embedTokens.bytes.count)
    }

    /// Bytes by part, `routed(moe)` of each MoE layer's routed experts; lm_head included, the embedding table not.
    /// W_UK and W_UV count as the kv_b_proj they are prepared from (not built here).
    private func bytesByPart(routed: (MoE) -> Int) -> [(part: String, bytes: Int)] {
        var attention = 0, dense = 0, routedBytes = 0, shared = 0, router = 0, norms = 0
        for l in layers {
            let a = l.attention
            attention += [a.qProj, a.kvAProj, a.oProj].reduce(0) { $0 + $1.bytes.count } + a.kvBBytes
            norms += (l.inputNorm.count + l.postNorm.count + a.kvANorm.count) * 4
            switch l.ffn {
            case let .dense(m): dense += m.bytes
            case let .moe(m):
                router += m.gate.bytes.count + m.correction.count * 4
                routedBytes += routed(m)
                shared += m.shared?.bytes ?? 0
            }
        }
        return [("attention", attention), ("routed experts", routedBytes), ("shared experts", shared), ("dense FFN", dense),
                ("routers", router), ("norms", norms + norm.count * 4), ("lm_head", lmHead.bytes.count)]
    }
}

extension SwiGLU {
    var bytes: Int { gate.bytes.count + up.bytes.count + down.bytes.count }
}

extension MoE {
    /// Bytes of all routed experts.
    var routedBytes: Int { experts.reduce(0) { $0 + $1.bytes } }
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
