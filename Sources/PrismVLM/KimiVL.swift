// Glue (specs/kimi_vl.md §3.8, §4, §5): load a model directory, run the vision tower on a prompt's images,
// splice the image embeddings over the `<|media_pad|>` ids, and prefill / decode with MLA KV caches.
// Everything is expressed in token ids; the tokenizer and chat template live elsewhere.
import Foundation
import PrismCore
import PrismIO

public enum KimiVLError: Error, CustomStringConvertible, Equatable {
    case placeholderMismatch(prompt: Int, placeholders: Int, imageTokens: Int)
    case tokenOutOfRange(id: Int, vocabulary: Int)
    case noVisionTower(directory: String)
    case emptyPrompt(index: Int)
    case cacheCountMismatch(prompts: Int, caches: Int)

    public var description: String {
        switch self {
        case let .placeholderMismatch(p, n, t):
            "prompt \(p): \(n) <|media_pad|> tokens but its images produce \(t) image tokens (they must be equal)"
        case let .tokenOutOfRange(id, v): "token id \(id) is outside the vocabulary (0..<\(v))"
        case let .noVisionTower(d): "\(d): this checkpoint has no vision tower; prompts cannot contain images"
        case let .emptyPrompt(i): "prompt \(i) has no tokens"
        case let .cacheCountMismatch(p, c): "\(p) prompts but \(c) KV caches"
        }
    }
}

/// Token ids of one prompt and the images whose tokens its `<|media_pad|>` runs stand for, in order.
public struct Prompt: Sendable {
    public var tokens: [Int]
    public var images: [ProcessedImage]
    public init(tokens: [Int], images: [ProcessedImage] = []) { self.tokens = tokens; self.images = images }
}

public final class KimiVL {
    public let textConfig: TextConfig
    public let visionConfig: VisionConfig?
    /// `media_placeholder_token_id` (163605 = `<|media_pad|>` in Kimi-VL).
    public let mediaPadId: Int
    public let imageProcessor: ImageProcessor
    public let vision: MoonViT?
    public let projector: Projector?
    public let decoder: TextDecoder
    public let directory: URL
    /// Largest image `preprocess(imageAt:)` decodes (checked from the file's header before decoding).
    public var imageLimits = ImageLimits.default
    /// How the weights are stored, for stats lines: "Q4_K_M GGUF 10.5 GB", "BF16 safetensors 32.8 GB".
    public internal(set) var weightsSummary = ""

    /// Loads a Kimi-VL directory (config.json with `text_config`/`vision_config`, official `language_model.` /
    /// `vision_tower.` / `multi_modal_projector.` names) or a bare DeepseekV3 one (text only). Weights stay
    /// memory-mapped in their on-disk dtype; every missing, unexpected or mis-shaped tensor is reported at once.
    /// `precision` is what the matrix products compute in (f32 is the parity path).
    public static func load(directory: URL, precision: Precision = .f32) throws -> KimiVL {
        let configURL = directory.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: configURL.path) else { throw ConfigError.missingFile(path: configURL.path) }
        let data = try readFile(configURL)
        let top = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        // Configs are read and validated before the checkpoint is touched; a Kimi-VL config (its model_type or a
        // vision tower) must have `text_config`, so a misspelled key is an error, not a full-size default model.
        let isKimiVL = top?["text_config"] != nil || top?["vision_config"] != nil || (top?["model_type"] as? String) == "kimi_vl"
        var text: TextConfig
        var vision: VisionConfig? = nil
        var mediaPadId = 163605
        var preprocessor = PreprocessorConfig.kimiVL
        if isKimiVL {
            let config = try JSONConfig.decode(KimiVLConfig.self, from: data, path: configURL.path)
            text = config.textConfig; vision = config.visionConfig; mediaPadId = config.mediaPlaceholderTokenId
            let ppURL = directory.appendingPathComponent("preprocessor_config.json")
            if FileManager.default.fileExists(atPath: ppURL.path) {
                preprocessor = try JSONConfig.load(PreprocessorConfig.self, from: ppURL)
            }
            try checkAgreement(preprocessor, config.visionConfig, path: ppURL.path)
        } else {
            text = try JSONConfig.decode(TextConfig.self, from: data, path: configURL.path)
        }
        let checkpoint = try Checkpoint(directory: directory)
        let loader = WeightLoader(checkpoint, remap: KimiVLRemap.modelName, precision: precision)
        let model = KimiVL(text: text, vision: vision, mediaPadId: mediaPadId, preprocessor: preprocessor,
                           weights: loader.scope(""), directory: directory)
        try loader.finish()
        let files = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: [.fileSizeKey])) ?? []
        let bytes = files.filter { $0.pathExtension == "safetensors" }
            .reduce(0) { $0 + ((try? $1.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0) }
        model.weightsSummary = "\(model.decoder.lmHead.dtype.rawValue) safetensors \(formatBytes(bytes))"
        return model
    }

    /// Loads llama.cpp's GGUF pair: the text model (arch deepseek2) and optionally its vision mmproj
    /// (projector kimivl). Configs come from the metadata, weights stay in their blocks in the memory map, and
    /// every missing, unexpected or mis-shaped tensor is reported at once.
    public static func load(gguf textURL: URL, mmproj mmprojURL: URL? = nil, precision: Precision = .f32) throws -> KimiVL {
        let text = try GGUFFile(path: textURL.path)
        let mmproj = try mmprojURL.map { try GGUFFile(path: $0.path) }
        let source = try KimiVLGGUF(text: text, mmproj: mmproj)
        let textConfig = try source.textConfig()
        let vision = try source.visionConfig()
        let loader = WeightLoader(source, precision: precision)
        let model = KimiVL(text: textConfig, vision: vision?.0, mediaPadId: source.mediaPadId(),
                           preprocessor: vision?.1 ?? .kimiVL, weights: loader.scope(""), directory: textURL)
        try loader.finish()
        text.mapCachedPagesInBackground()
        let type = (try? text.int("general.file_type")).map { GGUFFileType.displayName(llamaFileType: $0) } ?? "GGUF"
        model.weightsSummary = "\(type) GGUF \(formatBytes(text.fileSize + (mmproj?.fileSize ?? 0)))"
        return model
    }

    /// The processor cuts patches and merges them as the vision tower expects, or the tower's shapes would not fit.
    static func checkAgreement(_ pp: PreprocessorConfig, _ vision: VisionConfig, path: String) throws {
        if pp.patchSize != vision.patchSize {
            throw ConfigError.invalidValue(path: path, key: "patch_size",
                                           reason: "\(pp.patchSize) differs from vision_config.patch_size \(vision.patchSize) in config.json")
        }
        if pp.mergeKernelSize != vision.mergeKernelSize {
            throw ConfigError.invalidValue(path: path, key: "merge_kernel_size",
                                           reason: "\(pp.mergeKernelSize) differs from vision_config.merge_kernel_size \(vision.mergeKernelSize) in config.json")
        }
    }

    init(text: TextConfig, vision: VisionConfig?, mediaPadId: Int, preprocessor: PreprocessorConfig,
         weights: WeightScope, directory: URL) {
        textConfig = text
        visionConfig = vision
        self.mediaPadId = mediaPadId
        self.directory = directory
        imageProcessor = ImageProcessor(config: preprocessor)
        self.vision = vision.map { MoonViT(config: $0, weights: weights.scope("vision_tower")) }
        projector = vision.map { Projector(vision: $0, textHidden: text.hiddenSize, weights: weights.scope("multi_modal_projector")) }
        decoder = TextDecoder(config: text, weights: weights)
    }

    /// A fresh, empty cache for one sequence.
    public func newCache() -> KVCache { KVCache(config: textConfig) }

    /// Decodes and preprocesses an image file; the result carries the digest of the file's bytes.
    public func preprocess(imageAt url: URL) throws -> ProcessedImage {
        guard let data = FileManager.default.contents(atPath: url.path) else { return try imageProcessor(RGBImage(contentsOf: url, limits: imageLimits)) }
        return try preprocess(imageData: data, name: url.path)
    }

    /// Decodes and preprocesses encoded image bytes (JPEG or PNG); `name` labels errors.
    public func preprocess(imageData data: Data, name: String) throws -> ProcessedImage {
        var p = try imageProcessor(RGBImage(data: data, path: name, limits: imageLimits))
        p.digest = ContentDigest(of: data)
        return p
    }

    // MARK: - Vision

    /// Image embeddings [Σ tokenCount, D_text] for images packed into one vision pass (in order).
    public func imageEmbeddings(_ images: [ProcessedImage]) throws -> Tensor {
        guard let vision, let projector else { throw KimiVLError.noVisionTower(directory: directory.path) }
        let pixels = Tensor.concatenate(rows: images.map(\.pixelValues))
        return projector(vision(pixelValues: pixels, grids: images.map(\.grid)))
    }

    // MARK: - Text + image embeddings

    /// Token embeddings with every `<|media_pad|>` row replaced, in order, by the next image embedding.
    public func embed(tokens: [Int], imageEmbeddings: Tensor?, promptIndex: Int = 0) throws -> Tensor {
        let d = textConfig.hiddenSize
        let pads = tokens.indices.filter { tokens[$0] == mediaPadId }
        let available = imageEmbeddings?.rows ?? 0
        guard pads.count == available else {
            throw KimiVLError.placeholderMismatch(prompt: promptIndex, placeholders: pads.count, imageTokens: available)
        }
        for t in tokens where t != mediaPadId && (t < 0 || t >= textConfig.vocabSize) {
            throw KimiVLError.tokenOutOfRange(id: t, vocabulary: textConfig.vocabSize)
        }
        // the pad id may lie outside the vocabulary (tiny models); its rows are overwritten anyway
        var x = decoder.embed(tokens.map { $0 == mediaPadId && $0 >= textConfig.vocabSize ? 0 : $0 })
        if let img = imageEmbeddings {
            x.data.withUnsafeMutableBufferPointer { dst in img.data.withUnsafeBufferPointer { src in
                for (i, row) in pads.enumerated() { for j in 0..<d { dst[row * d + j] = src[i * d + j] } }
            }}
        }
        return x
    }

    // MARK: - Prefill and decode

    /// Prefills several prompts packed into one batch (each continuing its own cache) and returns the
    /// final hidden states [Σ tokens, D]. All images of all prompts go through the vision tower in one pass.
    public func prefillHidden(_ prompts: [Prompt], caches: [KVCache]) throws -> Tensor {
        guard prompts.count == caches.count else { throw KimiVLError.cacheCountMismatch(prompts: prompts.count, caches: caches.count) }
        for (i, p) in prompts.enumerated() where p.tokens.isEmpty { throw KimiVLError.emptyPrompt(index: i) }
        let allImages = prompts.flatMap(\.images)
        let features = allImages.isEmpty ? nil : try imageEmbeddings(allImages)
        var parts: [Tensor] = []
        var row = 0
        for (i, p) in prompts.enumerated() {
            let n = p.images.reduce(0) { $0 + $1.tokenCount }
            let mine = n > 0 ? features!.slice(rows: row..<(row + n)) : nil
            row += n
            parts.append(try embed(tokens: p.tokens, imageEmbeddings: mine, promptIndex: i))
        }
        return decoder.forward(Tensor.concatenate(rows: parts), lengths: prompts.map(\.tokens.count), caches: caches)
    }

    /// Packed prefill; returns each prompt's next-token logits [prompts, V].
    public func prefill(_ prompts: [Prompt], caches: [KVCache]) throws -> Tensor {
        let h = try prefillHidden(prompts, caches: caches)
        let last = PackedBatch(prompts.map(\.tokens)).lastRows
        return decoder.logits(Tensor.concatenate(rows: last.map { h.slice(rows: $0..<($0 + 1)) }))
    }

    /// Prefills one prompt (with its images) and returns the next-token logits [V].
    public func prefill(_ prompt: Prompt, cache: KVCache) throws -> [Float] {
        try prefill([prompt], caches: [cache]).data
    }

    /// One decode step for several sequences at once: token s continues caches[s]. Returns logits [N, V].
    public func decode(tokens: [Int], caches: [KVCache]) throws -> Tensor {
        guard tokens.count == caches.count else { throw KimiVLError.cacheCountMismatch(prompts: tokens.count, caches: caches.count) }
        let x = try embed(tokens: tokens, imageEmbeddings: nil)
        return decoder.logits(decoder.forward(x, lengths: Array(repeating: 1, count: tokens.count), caches: caches))
    }

    /// One decode step: appends `token` to `cache` and returns the next-token logits [V].
    public func decode(token: Int, cache: KVCache) throws -> [Float] {
        try decode(tokens: [token], caches: [cache]).data
    }
}

