import Foundation
import PrismCore
import PrismIO

// Glue: reads config.json and the checkpoint (transformers SamModel names, or original segment-anything names
// through SamRemap), binds the three parts by name and shape, and reports every weight problem at once.

public final class SamModel: @unchecked Sendable {
    public let config: SamConfig
    public let directory: URL
    public let imageEncoder: ImageEncoder
    public let promptEncoder: PromptEncoder
    public let maskDecoder: MaskDecoder
    /// Dense positional embedding of the embedding grid [C, g, g], computed once.
    public let densePE: Tensor
    /// Identifies the weights (config + checkpoint names, shapes and sizes) and the encoder's precision, for
    /// embedding caches.
    public let fingerprint: String
    /// The image encoder's precision (the prompt encoder and mask decoder always compute in f32).
    public let precision: Precision

    /// `precision` applies to the image encoder; the mask decoder's products are a few tokens wide or reassociated
    /// f32 Tensors, where converting operands to bf16 would cost more than it saves.
    public init(directory: URL, precision: Precision = .f32) throws {
        self.directory = directory
        self.precision = precision
        config = try SamConfig.load(directory: directory)
        let checkpoint = try Checkpoint(directory: directory)
        let remap = SamRemap(layout: .detect(checkpoint.names), iouHeadDepth: config.maskDecoderConfig.iouHeadDepth)
        let loader = WeightLoader(checkpoint, remap: { remap($0) }, precision: precision)
        let root = loader.scope("").computed(in: .f32)
        let fourier = root.float(SamRemap.fourierName, [2, config.visionConfig.numPosFeats])
        imageEncoder = ImageEncoder(config: config.visionConfig, weights: root.scope("vision_encoder").computed(in: precision))
        promptEncoder = PromptEncoder(config: config.promptEncoderConfig, fourier: fourier, weights: root.scope("prompt_encoder"))
        maskDecoder = MaskDecoder(config: config.maskDecoderConfig, weights: root.scope("mask_decoder"))
        try loader.finish()
        densePE = promptEncoder.densePositionalEmbedding()
        var h = FNV1a()
        if let data = FileManager.default.contents(atPath: directory.appendingPathComponent("config.json").path) { h.add(data) }
        for n in checkpoint.names {
            h.add(Data(n.utf8))
            if let e = checkpoint.entry(n) { h.add(Data("\(e.shape)\(e.dtype)\(e.range)".utf8)) }
        }
        fingerprint = precision == .f32 ? h.hex : "\(h.hex)-\(precision)"
    }
}

/// 64-bit FNV-1a, for cache keys (not cryptographic).
struct FNV1a {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    mutating func add(_ bytes: some Sequence<UInt8>) {
        for b in bytes { value = (value ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
    }
    var hex: String { String(value, radix: 16) }
}
