import Foundation
import PrismCore
import PrismIO

// Predictor (spec §4): resize the longest side to imageSize with Pillow's bilinear filter, normalise with
// ImageNet mean/std, zero-pad to imageSize²; embed once; per prompt, map coordinates into the resized frame,
// run prompt encoder + mask decoder, and upsample the low-res logits back (bilinear to imageSize², crop the
// resized region, bilinear to the original size, threshold 0).

public enum SamError: Error, CustomStringConvertible, Equatable {
    case pointOutsideImage(x: Float, y: Float, width: Int, height: Int)
    case boxOutsideImage(box: String, width: Int, height: Int)
    case emptyBox(box: String)
    case noPrompt
    case maskInputShape(expected: Int, actual: [Int])
    case invalidEmbeddingFile(path: String, reason: String)
    case malformedPoint(text: String, reason: String)
    case malformedBox(text: String, reason: String)

    public var description: String {
        switch self {
        case let .pointOutsideImage(x, y, w, h): "point (\(fmt(x)), \(fmt(y))) is outside the \(w)×\(h) image"
        case let .boxOutsideImage(b, w, h): "box \(b) is outside the \(w)×\(h) image"
        case let .emptyBox(b): "box \(b) is empty: need x0 < x1 and y0 < y1"
        case .noPrompt: "no prompt: give at least one point, a box or a mask input"
        case let .maskInputShape(e, a): "mask input must be \(e)×\(e) low-res logits, got \(a)"
        case let .invalidEmbeddingFile(p, r): "\(p): not a usable SAM embedding file: \(r)"
        case let .malformedPoint(t, r): "malformed point '\(t)': \(r)"
        case let .malformedBox(t, r): "malformed box '\(t)': \(r)"
        }
    }
}

func fmt(_ v: Float) -> String { v == v.rounded() && abs(v) < 1e9 ? String(Int(v)) : String(v) }

/// The encoder's output for one image plus the sizes post-processing needs.
public struct ImageEmbedding: Sendable {
    public let features: Tensor                    // [C, g, g]
    public let originalWidth: Int, originalHeight: Int
    public let inputWidth: Int, inputHeight: Int    // the resized size before padding
    /// Model fingerprint and image hash, so a cache file is only reused for the same model and image.
    public let model: String, image: String
    /// The decoder's image side for prompts without a mask input, built on first use (not written to files).
    let decoderCache = DecoderCache()

    public init(features: Tensor, originalWidth: Int, originalHeight: Int, inputWidth: Int, inputHeight: Int,
                model: String = "", image: String = "") {
        self.features = features
        self.originalWidth = originalWidth; self.originalHeight = originalHeight
        self.inputWidth = inputWidth; self.inputHeight = inputHeight
        self.model = model; self.image = image
    }

    static let format = "prism-sam-embedding-1"

    /// Writes a safetensors file with the features and the sizes in its metadata.
    public func write(to url: URL) throws {
        try SafetensorsWriter.write(to: url, tensors: [("features", features)], metadata: [
            "format": Self.format, "model": model, "image": image,
            "original_size": "\(originalWidth)x\(originalHeight)", "input_size": "\(inputWidth)x\(inputHeight)",
        ])
    }

    public init(contentsOf url: URL) throws {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(path: url.path) } catch {
            throw SamError.invalidEmbeddingFile(path: url.path, reason: "\(error)")
        }
        let m = file.metadata
        func size(_ key: String) throws -> (Int, Int) {
            let parts = (m[key] ?? "").split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, parts[0] > 0, parts[1] > 0 else {
                throw SamError.invalidEmbeddingFile(path: url.path, reason: "metadata '\(key)' missing or invalid")
            }
            return (parts[0], parts[1])
        }
        guard m["format"] == Self.format else {
            throw SamError.invalidEmbeddingFile(path: url.path, reason: "format is '\(m["format"] ?? "none")', expected \(Self.format)")
        }
        guard let view = try? file.view("features"), view.shape.count == 3 else {
            throw SamError.invalidEmbeddingFile(path: url.path, reason: "no [C, g, g] tensor 'features'")
        }
        let (ow, oh) = try size("original_size"), (iw, ih) = try size("input_size")
        self.init(features: view.toTensor(), originalWidth: ow, originalHeight: oh, inputWidth: iw, inputHeight: ih,
                  model: m["model"] ?? "", image: m["image"] ?? "")
    }
}

/// One embedding's prepared decoder image, tagged with the model it was prepared for. Copies of the embedding
/// share it; building it twice under contention is harmless (same result), so the lock only guards the slot.
final class DecoderCache: @unchecked Sendable {
    private let lock = NSLock()
    private weak var model: SamModel?
    private var prepared: DecoderImage?

    func image(for model: SamModel, _ make: () -> DecoderImage) -> DecoderImage {
        lock.lock()
        if self.model === model, let prepared { lock.unlock(); return prepared }
        lock.unlock()
        let image = make()
        lock.lock(); self.model = model; prepared = image; lock.unlock()
        return image
    }
}

/// Masks for one prompt.
public struct MaskPrediction: Sendable {
    public let lowResLogits: Tensor                // [M, 4g, 4g], feed one back as a mask input
    public let iouScores: [Float]                  // [M], as predicted (no ranking)
    public let logits: Tensor                      // [M, H, W] at the original resolution
    public var count: Int { iouScores.count }
    public var width: Int { logits.shape[2] }
    public var height: Int { logits.shape[1] }

    /// Mask i as 0/1 bytes (logit > 0), row-major H × W.
    public func mask(_ i: Int) -> [UInt8] {
        let n = width * height
        return logits.data[(i * n)..<((i + 1) * n)].map { $0 > 0 ? 1 : 0 }
    }
    public func area(_ i: Int) -> Int {
        let n = width * height
        return logits.data[(i * n)..<((i + 1) * n)].reduce(0) { $0 + ($1 > 0 ? 1 : 0) }
    }
    /// Index of the highest predicted IoU.
    public var best: Int { iouScores.indices.max { iouScores[$0] < iouScores[$1] } ?? 0 }
}

public final class SamPredictor: @unchecked Sendable {
    public let model: SamModel
    public static let pixelMean: [Float] = [0.485, 0.456, 0.406]
    public static let pixelStd: [Float] = [0.229, 0.224, 0.225]

    public init(model: SamModel) { self.model = model }
    public convenience init(directory: URL, precision: Precision = .f32) throws {
        self.init(model: try SamModel(directory: directory, precision: precision))
    }

    var imageSize: Int { model.config.visionConfig.imageSize }

    // MARK: - Pre-processing

    /// (newH, newW) = round(H·s), round(W·s) with s = imageSize / max(H, W) (ResizeLongestSide).
    public static func resizedSize(width: Int, height: Int, longest: Int) -> (width: Int, height: Int) {
        let s = Double(longest) / Double(max(width, height))
        return (Int(Double(width) * s + 0.5), Int(Double(height) * s + 0.5))
    }

    /// [3, S, S] normalised pixels, resized region top-left, zeros elsewhere.
    public func preprocess(_ image: RGBImage) -> (pixels: Tensor, inputWidth: Int, inputHeight: Int) {
        let s = imageSize
        let (nw, nh) = Self.resizedSize(width: image.width, height: image.height, longest: s)
        let resized = (nw == image.width && nh == image.height) ? image.pixels
            : pillowResize(image.pixels, width: image.width, height: image.height, channels: 3, toWidth: nw, toHeight: nh, filter: .bilinear)
        var pixels = Tensor(zeros: [3, s, s])
        pixels.data.withUnsafeMutableBufferPointer { out in
            resized.withUnsafeBufferPointer { src in
                for c in 0..<3 {
                    let mean = Self.pixelMean[c], std = Self.pixelStd[c]
                    for y in 0..<nh { for x in 0..<nw {
                        out[(c * s + y) * s + x] = (Float(src[(y * nw + x) * 3 + c]) / 255 - mean) / std
                    }}
                }
            }
        }
        return (pixels, nw, nh)
    }

    // MARK: - Embedding

    /// Runs the image encoder once; reuse the result for any number of prompts.
    public func embed(_ image: RGBImage) -> ImageEmbedding {
        let (pixels, nw, nh) = preprocess(image)
        return ImageEmbedding(features: model.imageEncoder(pixels), originalWidth: image.width, originalHeight: image.height,
                              inputWidth: nw, inputHeight: nh, model: model.fingerprint, image: Self.hash(image))
    }

    /// Embeds already pre-processed pixels [3, S, S] (for parity tests and callers with their own pipeline).
    public func embed(pixels: Tensor, originalWidth: Int, originalHeight: Int) -> ImageEmbedding {
        let (nw, nh) = Self.resizedSize(width: originalWidth, height: originalHeight, longest: imageSize)
        return ImageEmbedding(features: model.imageEncoder(pixels), originalWidth: originalWidth, originalHeight: originalHeight,
                              inputWidth: nw, inputHeight: nh, model: model.fingerprint)
    }

    /// Loads `url` if it holds this model's embedding of `image`; otherwise embeds and writes it there.
    public func embedding(for image: RGBImage, cache url: URL) throws -> (embedding: ImageEmbedding, cached: Bool) {
        if FileManager.default.fileExists(atPath: url.path), let e = try? ImageEmbedding(contentsOf: url),
           e.model == model.fingerprint, e.image == Self.hash(image) {
            return (e, true)
        }
        let e = embed(image)
        try e.write(to: url)
        return (e, false)
    }

    static func hash(_ image: RGBImage) -> String {
        var h = FNV1a()
        h.add(Data("\(image.width)x\(image.height)".utf8))
        h.add(image.pixels)
        return h.hex
    }

    // MARK: - Prompts

    /// Masks for one prompt: points and/or one box in original image pixels, optionally the low-res logits
    /// of a previous prediction ([4g, 4g]) as a mask input. `multimask` gives 3 masks, else 1.
    public func masks(_ embedding: ImageEmbedding, points: [SamPoint] = [], box: SamBox? = nil,
                      maskInput: Tensor? = nil, multimask: Bool = true) throws -> MaskPrediction {
        let (low, iou) = try lowResMasks(embedding, points: points, box: box, maskInput: maskInput, multimask: multimask)
        return MaskPrediction(lowResLogits: low, iouScores: iou.data, logits: postprocess(low, embedding))
    }

    /// The one mask a prompt returns, in every command (segment, chat's /segment, demo): SAM's own rule
    /// (segment-anything utils/onnx.py `select_masks`, and the predictor's advice). A prompt of fewer than 3
    /// sparse tokens — one click (plus its padding point) or one box alone — is ambiguous: the best of the three
    /// multimask outputs by predicted IoU. Anything more (several clicks, clicks and a box) takes the single-mask
    /// output. `prediction` holds the masks decoded; `index` is the one returned.
    public func selectedMask(_ embedding: ImageEmbedding, points: [SamPoint] = [], box: SamBox? = nil,
                             maskInput: Tensor? = nil) throws -> (prediction: MaskPrediction, index: Int) {
        let ambiguous = Self.isAmbiguous(points: points, box: box)
        let p = try masks(embedding, points: points, box: box, maskInput: maskInput, multimask: ambiguous)
        return (p, ambiguous ? p.best : 0)
    }

    /// Whether a prompt has fewer than 3 sparse tokens: points (+1 padding point without a box) + 2 per box.
    public static func isAmbiguous(points: [SamPoint], box: SamBox?) -> Bool {
        points.count + (box == nil ? (points.isEmpty ? 0 : 1) : 2) < 3
    }

    /// Prompt encoder + mask decoder only: low-res logits [M, 4g, 4g] and IoU predictions [M].
    public func lowResMasks(_ embedding: ImageEmbedding, points: [SamPoint] = [], box: SamBox? = nil,
                            maskInput: Tensor? = nil, multimask: Bool = true) throws -> (logits: Tensor, iou: Tensor) {
        try validate(embedding, points: points, box: box, maskInput: maskInput)
        // original pixels → resized frame, x and y scaled separately by the rounded sizes
        let sx = Double(embedding.inputWidth) / Double(embedding.originalWidth)
        let sy = Double(embedding.inputHeight) / Double(embedding.originalHeight)
        let scaled = points.map { SamPoint(x: Float(Double($0.x) * sx), y: Float(Double($0.y) * sy), label: $0.label) }
        let scaledBox = box.map { SamBox(x0: Float(Double($0.x0) * sx), y0: Float(Double($0.y0) * sy),
                                         x1: Float(Double($0.x1) * sx), y1: Float(Double($0.y1) * sy)) }
        let sparse = model.promptEncoder.sparse(points: scaled, box: scaledBox)
        return model.maskDecoder.decode(decoderImage(embedding, maskInput: maskInput), sparse: sparse, multimask: multimask)
    }

    /// Many point prompts on one embedding (segment-everything's grid): the IoU predictions [M] of each, and its
    /// low-res logits [M, 4g, 4g] only when `keep(iou)` wants them (nil otherwise). Same numbers as `lowResMasks`.
    /// The prompts are independent and small, so they run side by side on the cores, each product on its core.
    public func lowResMasks(_ embedding: ImageEmbedding, prompts: [[SamPoint]], multimask: Bool = true,
                            keep: @escaping @Sendable ([Float]) -> Bool = { _ in true }) throws -> [(logits: Tensor?, iou: [Float])] {
        for points in prompts { try validate(embedding, points: points, box: nil, maskInput: nil) }
        let sx = Double(embedding.inputWidth) / Double(embedding.originalWidth)
        let sy = Double(embedding.inputHeight) / Double(embedding.originalHeight)
        let image = decoderImage(embedding, maskInput: nil)
        let decoder = model.maskDecoder, promptEncoder = model.promptEncoder
        var results = [(logits: Tensor?, iou: [Float])](repeating: (nil, []), count: prompts.count)
        results.withUnsafeMutableBufferPointer { out in
            // prompts taken as the cores free up; inside the bodies every product stays on its core
            Parallel.forEach(prompts.count, pieces: prompts.count) { range in
                for i in range {
                    let scaled = prompts[i].map { SamPoint(x: Float(Double($0.x) * sx), y: Float(Double($0.y) * sy), label: $0.label) }
                    let (logits, iou) = decoder.decode(image, sparse: promptEncoder.sparse(points: scaled, box: nil),
                                                       multimask: multimask, keep: keep)
                    out[i] = (logits, iou.data)
                }
            }
        }
        return results
    }

    /// The decoder's image side: with no mask input the dense prompt is the same for every prompt, so it is
    /// prepared (with layer 0's projections) once per embedding; a mask input makes it prompt-specific.
    func decoderImage(_ embedding: ImageEmbedding, maskInput: Tensor?) -> DecoderImage {
        let prepare = { (projectLayer0: Bool) in
            self.model.maskDecoder.prepare(image: embedding.features, imagePE: self.model.densePE,
                                           dense: self.model.promptEncoder.dense(maskInput: maskInput), projectLayer0: projectLayer0)
        }
        if maskInput != nil { return prepare(false) }
        return embedding.decoderCache.image(for: model) { prepare(true) }
    }

    func validate(_ e: ImageEmbedding, points: [SamPoint], box: SamBox?, maskInput: Tensor?) throws {
        let w = e.originalWidth, h = e.originalHeight
        if points.isEmpty && box == nil && maskInput == nil { throw SamError.noPrompt }
        for p in points where !(p.x >= 0 && p.x < Float(w) && p.y >= 0 && p.y < Float(h)) {
            throw SamError.pointOutsideImage(x: p.x, y: p.y, width: w, height: h)
        }
        if let b = box {
            let text = [b.x0, b.y0, b.x1, b.y1].map(fmt).joined(separator: ",")
            guard b.x0 >= 0, b.y0 >= 0, b.x1 <= Float(w), b.y1 <= Float(h) else {
                throw SamError.boxOutsideImage(box: text, width: w, height: h)
            }
            guard b.x0 < b.x1, b.y0 < b.y1 else { throw SamError.emptyBox(box: text) }
        }
        if let m = maskInput {
            let side = model.config.promptEncoderConfig.maskInputSize
            guard m.count == side * side, m.shape.last == side else {
                throw SamError.maskInputShape(expected: side, actual: m.shape)
            }
        }
    }

    // MARK: - Post-processing

    /// [M, 4g, 4g] → bilinear to S×S → crop to the resized region → bilinear to the original size: [M, H, W].
    public func postprocess(_ low: Tensor, _ e: ImageEmbedding) -> Tensor {
        let s = imageSize, m = low.shape[0]
        let full = resize(low, height: s, width: s, mode: .bilinear)
        let cropped = Tensor(shape: [m, e.inputHeight, e.inputWidth], unsafeUninitialized: { out in
            full.data.withUnsafeBufferPointer { src in
                for i in 0..<m { for y in 0..<e.inputHeight {
                    (out.baseAddress! + (i * e.inputHeight + y) * e.inputWidth)
                        .update(from: src.baseAddress! + (i * s + y) * s, count: e.inputWidth)
                }}
            }
        })
        return resize(cropped, height: e.originalHeight, width: e.originalWidth, mode: .bilinear)
    }
}
