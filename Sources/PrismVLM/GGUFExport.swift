// `prism quantize`: a Kimi-VL checkpoint directory → the GGUF pair llama.cpp's converter (plus llama-quantize
// for the 4-bit mixtures) writes: the text model (arch deepseek2) and the vision mmproj (projector kimivl), with
// the same names (GGUFNames.swift), metadata keys, block layouts and per-tensor types (GGUFQuantization). The
// weights are streamed: one slice of rows at a time is widened, quantised (over the cores) and written, so
// the whole model is never in memory; each file appears only when complete.
import Foundation
import PrismCore
import PrismIO
import PrismTokenizer

public enum KimiVLGGUFExport {
    /// Rows of one output tensor, produced as floats on demand.
    struct Source {
        let rows: Int, cols: Int
        let read: (_ rows: Range<Int>, _ into: UnsafeMutablePointer<Float>) -> Void
    }

    struct Planned {
        let spec: GGUFWriter.TensorSpec
        let source: Source
    }

    public struct Result: Sendable {
        public let text: URL
        public let mmproj: URL?
        public let textBytes: Int
        public let mmprojBytes: Int
    }

    /// Writes `<name>-<TYPE>.gguf` and `mmproj-<name>-<MMTYPE>.gguf` into `outDir`. `progress(done, total)` counts bytes written.
    public static func write(checkpoint dir: URL, to outDir: URL, type: GGUFFileType,
                             progress: (Int, Int) -> Void = { _, _ in }) throws -> Result {
        let configURL = dir.appendingPathComponent("config.json")
        guard let configData = FileManager.default.contents(atPath: configURL.path) else { throw ConfigError.missingFile(path: configURL.path) }
        let top = (try? JSONSerialization.jsonObject(with: configData)) as? [String: Any] ?? [:]
        let text: TextConfig, vision: VisionConfig?
        if top["text_config"] != nil {
            let c = try JSONConfig.decode(KimiVLConfig.self, from: configData, path: configURL.path)
            (text, vision) = (c.textConfig, c.visionConfig)
        } else {
            (text, vision) = (try JSONConfig.decode(TextConfig.self, from: configData, path: configURL.path), nil)
        }
        let ppURL = dir.appendingPathComponent("preprocessor_config.json")
        let pp = FileManager.default.fileExists(atPath: ppURL.path) ? try JSONConfig.load(PreprocessorConfig.self, from: ppURL) : .kimiVL
        let tokenizer = try TikTokenizer(directory: dir)
        let ck = try Checkpoint(directory: dir)
        var byName: [String: String] = [:]                        // Prism name → checkpoint name
        for n in ck.names { if let m = KimiVLRemap.modelName(n) { byName[m] = n } }
        func view(_ prism: String) throws -> TensorView {
            guard let n = byName[prism] else { throw SafetensorsError.missingTensor(name: prism, source: dir.path) }
            return try ck.view(n)
        }

        let name = dir.standardizedFileURL.lastPathComponent
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        let textURL = outDir.appendingPathComponent("\(name)-\(type.displayName).gguf")
        let textPlan = try planText(text, names: Array(byName.keys), view: view, type: type)
        let mmType = type.mmprojFileType
        let visionPlan = try vision.map { try planVision($0, names: Array(byName.keys), view: view, type: mmType) }
        let mmURL = vision.map { _ in outDir.appendingPathComponent("mmproj-\(name)-\(mmType.displayName).gguf") }

        let total = (textPlan + (visionPlan ?? [])).reduce(0) { $0 + $1.spec.byteCount }
        var done = 0
        let textMeta = try textMetadata(text, name: name, type: type, tokenizer: tokenizer, config: top, tokenizerConfig: dir.appendingPathComponent("tokenizer_config.json"))
        try writeFile(textURL, metadata: textMeta, plan: textPlan) { done += $0; progress(done, total) }
        if let vision, let visionPlan, let mmURL {
            let meta = visionMetadata(vision, pp, textHidden: text.hiddenSize, name: name, type: mmType)
            try writeFile(mmURL, metadata: meta, plan: visionPlan) { done += $0; progress(done, total) }
        }
        func size(_ u: URL?) -> Int { u.flatMap { try? FileManager.default.attributesOfItem(atPath: $0.path)[.size] as? Int } ?? 0 }
        return Result(text: textURL, mmproj: mmURL, textBytes: size(textURL), mmprojBytes: size(mmURL))
    }

    // MARK: - Plans (names, shapes, types, row sources)

    static func plain(_ v: TensorView) -> Source {
        let cols = v.shape.count <= 1 ? v.count : v.lastDim
        return Source(rows: cols == 0 ? 0 : v.count / cols, cols: cols) { r, out in
            v.widen(from: r.lowerBound * cols, count: r.count * cols, into: out)
        }
    }

    /// The text model's tensors in llama.cpp's layout, in block order.
    static func planText(_ c: TextConfig, names: [String], view: (String) throws -> TensorView, type: GGUFFileType) throws -> [Planned] {
        let h = c.numAttentionHeads, nope = c.qkNopeHeadDim, dv = c.vHeadDim, r = c.kvLoraRank
        var out: [(order: (Int, Int), planned: Planned)] = []
        func add(_ gguf: String, _ shape: [Int], _ source: Source, order: Int) {
            let t = GGUFQuantization.type(gguf, shape: shape, fileType: type, layers: c.numHiddenLayers, experts: c.nRoutedExperts)
            let layer = gguf.hasPrefix("blk.") ? Int(gguf.dropFirst(4).prefix { $0.isNumber })! : (gguf.hasPrefix("token_embd") ? -1 : Int.max)
            out.append(((layer, order), Planned(spec: .init(gguf, t, shape), source: source)))
        }
        let tableOrder = Dictionary(KimiVLGGUFNames.text.enumerated().map { ($1.gguf, $0) }, uniquingKeysWith: { a, _ in a })
        func order(_ gguf: String) -> Int {
            let generic = gguf.split(separator: ".").map { Int($0) != nil ? "{bid}" : String($0) }.joined(separator: ".")
            return tableOrder[generic] ?? 0
        }
        var experts: Set<String> = []
        for n in names.sorted() where !n.hasPrefix("vision_tower.") && !n.hasPrefix("multi_modal_projector.") {
            if n.hasSuffix("self_attn.kv_b_proj.weight") {
                // the converter's absorbed-MLA split: W_UK transposed per head [H, r, nope], W_UV [H, dv, r]
                let kv = try view(n)
                let prefix = String(n.dropLast("kv_b_proj.weight".count))
                let kb = KimiVLGGUFNames.gguf(for: prefix + "k_b_proj.weight")!.name
                let vb = KimiVLGGUFNames.gguf(for: prefix + "v_b_proj.weight")!.name
                add(kb, [h, r, nope], Source(rows: h * r, cols: nope) { rows, dst in
                    let tmp = UnsafeMutablePointer<Float>.allocate(capacity: nope * r)
                    defer { tmp.deallocate() }
                    var head = -1
                    for row in rows {
                        let hh = row / r, j = row % r
                        if hh != head { kv.widen(from: hh * (nope + dv) * r, count: nope * r, into: tmp); head = hh }
                        for i in 0..<nope { dst[(row - rows.lowerBound) * nope + i] = tmp[i * r + j] }
                    }
                }, order: order(kb))
                add(vb, [h, dv, r], Source(rows: h * dv, cols: r) { rows, dst in
                    for row in rows {
                        let hh = row / dv, cc = row % dv
                        kv.widen(from: (hh * (nope + dv) + nope + cc) * r, count: r, into: dst + (row - rows.lowerBound) * r)
                    }
                }, order: order(vb))
                continue
            }
            guard let g = KimiVLGGUFNames.gguf(for: n) else {
                throw GGUFError.invalidTensor(file: n, tensor: n, reason: "no GGUF name for this tensor in GGUFNames.swift")
            }
            if let _ = g.expert {
                guard experts.insert(g.name).inserted else { continue }
                // stack the layer's experts: [E, out, in]
                let views = try (0..<c.nRoutedExperts).map { e in
                    try view(n.replacingOccurrences(of: ".experts.\(g.expert!).", with: ".experts.\(e)."))
                }
                let rowsPer = views[0].rows, cols = views[0].lastDim
                add(g.name, [c.nRoutedExperts] + views[0].shape, Source(rows: c.nRoutedExperts * rowsPer, cols: cols) { rows, dst in
                    var row = rows.lowerBound
                    while row < rows.upperBound {
                        let e = row / rowsPer, r0 = row % rowsPer, n = min(rowsPer - r0, rows.upperBound - row)
                        views[e].widen(from: r0 * cols, count: n * cols, into: dst + (row - rows.lowerBound) * cols)
                        row += n
                    }
                }, order: order(g.name))
                continue
            }
            let v = try view(n)
            add(g.name, v.shape, plain(v), order: order(g.name))
        }
        return out.sorted { $0.order < $1.order }.map(\.planned)
    }

    /// The vision tower and projector in the mmproj layout (wqkv split, position table flattened).
    static func planVision(_ c: VisionConfig, names: [String], view: (String) throws -> TensorView, type: GGUFFileType) throws -> [Planned] {
        var out: [Planned] = []
        let d = c.hiddenSize
        func add(_ gguf: String, _ shape: [Int], _ source: Source) {
            out.append(Planned(spec: .init(gguf, GGUFQuantization.converterType(gguf, shape: shape, fileType: type), shape), source: source))
        }
        for n in names.sorted() where n.hasPrefix("vision_tower.") || n.hasPrefix("multi_modal_projector.") {
            let v = try view(n)
            if n.contains(".wqkv.") {
                // thirds along the output rows (weights) or elements (biases): wq, wk, wv
                for (part, hf) in ["wq", "wk", "wv"].enumerated() {
                    let g = KimiVLGGUFNames.gguf(for: n.replacingOccurrences(of: ".wqkv.", with: ".\(hf)."))!.name
                    if v.shape.count == 2 {
                        add(g, [d, d], Source(rows: d, cols: d) { rows, dst in
                            v.widen(from: (part * d + rows.lowerBound) * d, count: rows.count * d, into: dst)
                        })
                    } else {
                        add(g, [d], Source(rows: 1, cols: d) { _, dst in v.widen(from: part * d, count: d, into: dst) })
                    }
                }
                continue
            }
            guard let g = KimiVLGGUFNames.gguf(for: n)?.name else {
                throw GGUFError.invalidTensor(file: n, tensor: n, reason: "no GGUF name for this tensor in GGUFNames.swift")
            }
            let shape = g == "v.position_embd.weight" ? [v.shape[0] * v.shape[1], v.shape[2]] : v.shape
            add(g, shape, plain(v.reshaped(shape)))
        }
        // block tensors in block order (v.blk.2 before v.blk.10)
        func key(_ s: String) -> (Int, String) {
            let parts = s.split(separator: ".")
            return (parts.count > 2 && parts[1] == "blk" ? Int(parts[2]) ?? 0 : (s.hasPrefix("v.") ? -1 : Int.max), s)
        }
        return out.sorted { key($0.spec.name) < key($1.spec.name) }
    }

    // MARK: - Metadata

    static func u32(_ v: Int) -> GGUFValue { .uint(UInt64(v), .uint32) }
    static func f32(_ v: Float) -> GGUFValue { .float(Double(v), .float32) }

    static func textMetadata(_ c: TextConfig, name: String, type: GGUFFileType, tokenizer: TikTokenizer,
                             config: [String: Any], tokenizerConfig: URL) throws -> [(key: String, value: GGUFValue)] {
        let a = "deepseek2"
        var m: [(key: String, value: GGUFValue)] = [
            ("general.architecture", .string(a)),
            ("general.type", .string("model")),
            ("general.name", .string(name)),
            ("\(a).block_count", u32(c.numHiddenLayers)),
            ("\(a).context_length", u32(c.maxPositionEmbeddings)),
            ("\(a).embedding_length", u32(c.hiddenSize)),
            ("\(a).feed_forward_length", u32(c.intermediateSize)),
            ("\(a).attention.head_count", u32(c.numAttentionHeads)),
            // MLA runs as MQA over the latent in llama.cpp: one KV head
            ("\(a).attention.head_count_kv", u32(1)),
            ("\(a).rope.freq_base", f32(c.ropeTheta)),
            ("\(a).attention.layer_norm_rms_epsilon", f32(c.rmsNormEps)),
            ("\(a).expert_count", u32(c.nRoutedExperts)),
            ("\(a).expert_used_count", u32(c.numExpertsPerTok)),
            ("\(a).expert_group_count", u32(c.nGroup)),
            ("\(a).expert_group_used_count", u32(c.topkGroup)),
            ("\(a).expert_gating_func", u32(2)),                       // sigmoid
            ("general.file_type", u32(type.llamaFileType)),
            ("\(a).leading_dense_block_count", u32(c.firstKDenseReplace)),
            ("\(a).vocab_size", u32(c.vocabSize)),
            ("\(a).attention.kv_lora_rank", u32(c.kvLoraRank)),
            ("\(a).attention.key_length", u32(c.kvLoraRank + c.qkRopeHeadDim)),
            ("\(a).attention.value_length", u32(c.kvLoraRank)),
            ("\(a).attention.key_length_mla", u32(c.qkNopeHeadDim + c.qkRopeHeadDim)),
            ("\(a).attention.value_length_mla", u32(c.vHeadDim)),
            ("\(a).expert_feed_forward_length", u32(c.moeIntermediateSize)),
            ("\(a).expert_shared_count", u32(c.nSharedExperts)),
            ("\(a).expert_weights_scale", f32(c.routedScalingFactor)),
        ]
        if c.normTopkProb { m.append(("\(a).expert_weights_norm", .bool(true))) }
        m.append(("\(a).rope.dimension_count", u32(c.qkRopeHeadDim)))
        if c.numHiddenLayers != 26 && c.numHiddenLayers != 27 {
            // llama.cpp takes "no q_lora" from the block count (26 / 27 layers: the DeepSeek-V2-Lite shape, which
            // Kimi-VL's 27 has); a model cut to other block counts says so explicitly, as q_lora_rank 0
            m.append(("\(a).attention.q_lora_rank", u32(0)))
        }
        m.append(("general.quantization_version", u32(2)))
        // tokenizer (DeepseekV2Model.set_vocab for kimi-k2, then SpecialVocab from config.json)
        let vocab = tokenizer.ggufVocabulary(vocabularySize: c.vocabSize)
        m.append(("tokenizer.ggml.model", .string("gpt2")))
        m.append(("tokenizer.ggml.pre", .string("kimi-k2")))
        m.append(("tokenizer.ggml.tokens", .array(GGUFArray(strings: vocab.tokens))))
        m.append(("tokenizer.ggml.token_type", .array(GGUFArray(int32s: vocab.types))))
        m.append(("tokenizer.ggml.merges", .array(GGUFArray(strings: vocab.merges))))
        let textConfig = config["text_config"] as? [String: Any] ?? [:]
        for (typ, key) in [("bos", "bos_token_id"), ("eos", "eos_token_id"), ("unk", "unknown_token_id"),
                           ("sep", "seperator_token_id"), ("pad", "padding_token_id"), ("mask", "mask_token_id")] {
            if let id = (config["\(typ)_token_id"] as? Int) ?? (textConfig["\(typ)_token_id"] as? Int), id >= 0 {
                m.append(("tokenizer.ggml.\(key)", u32(id)))
            }
        }
        if let data = FileManager.default.contents(atPath: tokenizerConfig.path),
           let tc = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            for typ in ["bos", "eos"] { if let b = tc["add_\(typ)_token"] as? Bool { m.append(("tokenizer.ggml.add_\(typ)_token", .bool(b))) } }
            if let t = tc["chat_template"] as? String { m.append(("tokenizer.chat_template", .string(t))) }
        }
        return m
    }

    static func visionMetadata(_ c: VisionConfig, _ pp: PreprocessorConfig, textHidden: Int, name: String,
                               type: GGUFFileType) -> [(key: String, value: GGUFValue)] {
        [
            ("general.architecture", .string("clip")),
            ("general.type", .string("mmproj")),
            ("general.name", .string(name)),
            ("general.file_type", u32(type.llamaFileType)),
            ("clip.has_vision_encoder", .bool(true)),
            ("clip.vision.projection_dim", u32(textHidden)),
            // KimiVLModel sets image_size = 64 · 14 "for compatibility", whatever the table size
            ("clip.vision.image_size", u32(64 * 14)),
            ("clip.vision.patch_size", u32(c.patchSize)),
            ("clip.vision.embedding_length", u32(c.hiddenSize)),
            ("clip.vision.feed_forward_length", u32(c.intermediateSize)),
            ("clip.vision.block_count", u32(c.numHiddenLayers)),
            ("clip.vision.attention.head_count", u32(c.numAttentionHeads)),
            ("clip.vision.image_mean", .array(GGUFArray(float32s: pp.imageMean))),
            ("clip.vision.image_std", .array(GGUFArray(float32s: pp.imageStd))),
            ("clip.projector_type", .string("kimivl")),
            ("clip.use_gelu", .bool(true)),
            ("clip.vision.projector.scale_factor", u32(c.mergeKernelSize[0])),
            ("clip.vision.attention.layer_norm_epsilon", f32(VisionConfig.layerNormEps)),
            // not written by the converter for kimivl (llama.cpp's kimik25 uses it): in_token_limit in pixels
            ("clip.vision.image_max_pixels", u32(pp.inTokenLimit * c.patchSize * c.patchSize)),
            ("general.quantization_version", u32(2)),
        ]
    }

    // MARK: - Streaming

    /// Rows per slice: about 1M values, so a slice is a few MB whatever the tensor.
    static let sliceValues = 1 << 20

    static func writeFile(_ url: URL, metadata: [(key: String, value: GGUFValue)], plan: [Planned], wrote: (Int) -> Void) throws {
        try GGUFWriter.write(to: url, metadata: metadata, tensors: plan.map(\.spec)) { i, emit in
            let p = plan[i], t = p.spec.dtype, cols = p.source.cols
            let rowsPer = max(1, sliceValues / max(1, cols))
            let floats = UnsafeMutablePointer<Float>.allocate(capacity: max(1, min(p.source.rows, rowsPer) * cols))
            defer { floats.deallocate() }
            let rowBytes = t.byteCount(elements: cols)!
            let bytes = UnsafeMutableRawPointer.allocate(byteCount: max(1, min(p.source.rows, rowsPer) * rowBytes), alignment: 64)
            defer { bytes.deallocate() }
            var r0 = 0
            while r0 < p.source.rows {
                let n = min(rowsPer, p.source.rows - r0)
                p.source.read(r0..<(r0 + n), floats)
                Parallel.forEach(n, minChunk: t.isBlockQuantized ? 4 : 1 << 30) { rows in
                    let x = floats + rows.lowerBound * cols, y = bytes + rows.lowerBound * rowBytes, count = rows.count * cols
                    switch t {
                    case .f32: y.copyMemory(from: x, byteCount: count * 4)
                    case .f16: Convert.f32ToF16(x, y.assumingMemoryBound(to: UInt16.self), count: count)
                    case .bf16: Convert.f32ToBF16(x, y.assumingMemoryBound(to: UInt16.self), count: count)
                    default: QuantizedBlocks.quantize(x, count: count, as: t, into: y)
                    }
                }
                try emit(UnsafeRawBufferPointer(start: bytes, count: n * rowBytes))
                wrote(n * rowBytes)
                r0 += n
            }
        }
    }
}
