import ArgumentParser
import Foundation
import PrismCore
import PrismIO
import PrismSAM

struct SegmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment",
        abstract: "Segment an image from point or box prompts, or everything in it (Segment Anything).",
        discussion: """
        Which mask a prompt returns (the same rule in segment, chat and demo): one click or one box alone is \
        ambiguous, so SAM predicts three masks and the one with the highest predicted IoU is returned; several \
        clicks, or clicks with a box, return SAM's single-mask output.

        Files go to the output folder (created if missing) as STEM-segN-mask.png, STEM-segN-overlay.png, \
        STEM-segN-candidateK.png (--multimask), STEM-segN-maskK.png (--everything --format png) and \
        STEM-segN-masks.json (--format rle|coco); STEM is the image name or --prefix, N the next free number.

        --everything follows segment-anything's SamAutomaticMaskGenerator: a grid of clicks, filtered by \
        predicted IoU and stability, de-duplicated by box NMS, optionally refined on crops.

        Examples:
          prism segment photo.jpg --point 320,240
          prism segment photo.jpg --point 320,240 --point 100,80,0 --box 50,40,400,300 --json
          prism segment photo.jpg --everything -o masks/
        """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case png, rle, coco
    }

    @Argument(help: "Image file (JPEG or PNG). (default: none with --batch)") var image: String?
    @Option(name: .customLong("point"), help: "Click X,Y[,1|0] in image pixels; 1 = on the object (default), 0 = background. Repeatable.")
    var points: [String] = []
    @Option(name: .customLong("box"), help: "Box X0,Y0,X1,Y1 in image pixels (at most one). (default: none)") var box: String?
    @Flag(name: .customLong("multimask"), help: "Also write SAM's three candidate masks (STEM-segN-candidateK.png).")
    var multimask = false
    @Flag(name: .customLong("everything"), help: "Segment everything: a grid of clicks over the whole image instead of --point/--box.")
    var everything = false
    @Option(name: [.customShort("m"), .customLong("model")],
            help: "Model directory (transformers SamModel layout: config.json + model.safetensors). (default: the embedded Weights/prism-sam-tiny)")
    var model: String?
    @Option(name: [.customShort("o"), .customLong("output")],
            help: "Output folder, created if missing. (-o was a file prefix before 0.2: use --prefix for that.)")
    var outputDirectory: String = "."
    @Option(name: .customLong("prefix"), help: "File name stem STEM of the outputs. (default: the image's file name without extension)")
    var prefix: String?
    @Option(name: .customLong("format"), help: "Mask files: png (one PNG per mask), rle (COCO RLE list in STEM-segN-masks.json) or coco (COCO annotations in STEM-segN-masks.json). (default: png for prompts, coco with --everything)")
    var format: Format?
    @Flag(name: .customLong("json"), help: "Print one JSON object (scores, areas, boxes, COCO RLE of every mask, files) instead of text; errors become JSON on stderr.")
    var json = false
    @Option(name: .customLong("embedding-cache"), help: "Reuse the image embedding stored in FILE, or compute it and store it there. (default: none)")
    var embeddingCache: String?
    @OptionGroup var precisionArguments: PrecisionArguments
    @OptionGroup var imageArguments: ImageArguments
    @OptionGroup(title: "Batch mode (--batch INPUT… [-o DIR]: masks for the prompts of every dataset row)") var batch: SegmentBatchArguments

    @Option(name: .customLong("points-per-side"), help: "--everything: clicks per image side (the grid has N² clicks).")
    var pointsPerSide = 32
    @Option(name: .customLong("points-per-batch"), help: "--everything: clicks decoded per batch.")
    var pointsPerBatch = 64
    @Option(name: .customLong("pred-iou-thresh"), help: "--everything: keep masks whose predicted IoU is above this.")
    var predIoUThresh: Float = 0.88
    @Option(name: .customLong("stability-score-thresh"), help: "--everything: keep masks whose stability score is at least this.")
    var stabilityScoreThresh: Float = 0.95
    @Option(name: .customLong("box-nms-thresh"), help: "--everything: box IoU above which the lower-scored of two masks is dropped.")
    var boxNMSThresh: Float = 0.7
    @Option(name: .customLong("min-area"), help: "--everything: fill holes and remove islands smaller than this many pixels (0 = off).")
    var minArea = 0
    @Option(name: .customLong("crop-n-layers"), help: "--everything: extra layers of image crops (layer i has 4^i crops; 0 = whole image only).")
    var cropNLayers = 0

    static let defaultModel = "Weights/prism-sam-tiny"

    private func checkPrompts() throws {
        if everything && (!points.isEmpty || box != nil) { throw UserError("--everything takes no --point or --box") }
        if !everything && points.isEmpty && box == nil {
            throw UserError("no prompt: give at least one --point X,Y[,1|0], a --box X0,Y0,X1,Y1, or --everything")
        }
        if everything && multimask { throw UserError("--multimask applies to --point/--box prompts, not --everything") }
    }

    func run() throws {
        if batch.isBatch { return try runBatch() }
        do { try segment() } catch {
            let message = (error as? UserError)?.description ?? "\(error)"
            if json { throw jsonErrorExit(message) }
            throw UserError(message)
        }
    }

    private func segment() throws {
        guard let image else { throw UserError("no image: give an image file, or --batch INPUT…") }
        let precision = try precisionArguments.resolve()
        try checkPrompts()
        let parsedPoints = try points.map(PromptSyntax.point)
        let parsedBox = try box.map(PromptSyntax.box)
        var settings = AutoMaskSettings()
        settings.pointsPerSide = pointsPerSide; settings.pointsPerBatch = pointsPerBatch
        settings.predIoUThresh = predIoUThresh; settings.stabilityScoreThresh = stabilityScoreThresh
        settings.boxNMSThresh = boxNMSThresh; settings.minMaskRegionArea = minArea; settings.cropNLayers = cropNLayers
        if everything { try settings.validate() }
        let modelDir = try resolveModel()
        let img = try RGBImage(contentsOf: URL(fileURLWithPath: image), limits: imageArguments.limits)
        // Check prompts against the image before paying for the model.
        for p in parsedPoints where !(p.x >= 0 && p.x < Float(img.width) && p.y >= 0 && p.y < Float(img.height)) {
            throw SamError.pointOutsideImage(x: p.x, y: p.y, width: img.width, height: img.height)
        }
        if PromptSyntax.isNegativeOnly(points: parsedPoints, box: parsedBox) {
            Terminal.writeErr("warning: \(PromptSyntax.negativeOnlyWarning)\n")
        }
        let predictor = try SamPredictor(directory: modelDir, precision: precision)
        let start = Date()
        let embedding: ImageEmbedding
        var log: [String] = []
        if let embeddingCache {
            let (e, cached) = try predictor.embedding(for: img, cache: URL(fileURLWithPath: embeddingCache))
            embedding = e
            log.append(cached ? "embedding: loaded from \(embeddingCache)" : String(format: "embedding: %.2f s (saved to %@)", Date().timeIntervalSince(start), embeddingCache))
        } else {
            embedding = predictor.embed(img)
            log.append(String(format: "embedding: %.2f s", Date().timeIntervalSince(start)))
        }
        let files = try MaskFiles.next(in: URL(fileURLWithPath: outputDirectory),
                                       stem: prefix ?? MaskFiles.stem(forImage: image))
        let output: SegmentOutput = everything
            ? try segmentEverything(img, predictor, embedding, settings, files, &log)
            : try segmentPrompt(img, predictor, embedding, parsedPoints, parsedBox, files, &log)
        if json {
            var object = output.json
            object["image"] = image; object["width"] = img.width; object["height"] = img.height
            Terminal.writeOut(try jsonLine(object))
        } else {
            Terminal.writeOut((log + output.lines).joined(separator: "\n") + "\n")
        }
    }

    private struct SegmentOutput {
        var lines: [String]
        var json: [String: Any]
    }

    private func segmentPrompt(_ img: RGBImage, _ predictor: SamPredictor, _ embedding: ImageEmbedding, _ points: [SamPoint],
                               _ box: SamBox?, _ files: MaskFiles, _ log: inout [String]) throws -> SegmentOutput {
        let (result, selected) = try predictor.selectedMask(embedding, points: points, box: box)
        // every mask decoded, the returned one first; --multimask adds the three candidates if the rule used one
        var masks: [(mask: [UInt8], iou: Float, role: String)] = [(result.mask(selected), result.iouScores[selected], "selected")]
        if multimask {
            let candidates = result.count == 3 ? result : try predictor.masks(embedding, points: points, box: box, multimask: true)
            for k in 0..<3 { masks.append((candidates.mask(k), candidates.iouScores[k], "candidate\(k + 1)")) }
        }
        let rles = try masks.map { try RLE(mask: $0.mask, width: img.width, height: img.height) }
        var paths: [String] = []
        switch format ?? .png {
        case .png:
            try writeMask(masks[0].mask, img, files.mask); paths.append(files.mask.path)
            for (k, m) in masks.dropFirst().enumerated() { try writeMask(m.mask, img, files.candidate(k + 1)); paths.append(files.candidate(k + 1).path) }
        case .rle:
            try writeJSON(rles.map(\.cocoObject), to: files.json); paths.append(files.json.path)
        case .coco:
            try writeJSON(zip(masks, rles).map { annotation($1, iou: $0.iou, role: $0.role) }, to: files.json); paths.append(files.json.path)
        }
        let overlay = Overlay.render(img, mask: masks[0].mask, points: points, box: box)
        try writePNG(pixels: overlay.pixels, width: overlay.width, height: overlay.height, channels: 3, to: files.overlay)
        var lines = zip(masks, rles).enumerated().map { i, pair in
            String(format: "%@: predicted IoU %.3f  area %d px  box %@", pair.0.role, pair.0.iou, pair.1.area,
                   boxText(pair.0.mask, img)) + (format ?? .png == .png ? "  → \(paths[i])" : "")
        }
        if format != nil && format != .png { lines.append("masks: \(files.json.path)") }
        lines.append("overlay: \(files.overlay.path)")
        let rule = result.count == 3 ? "best of 3 by predicted IoU (one click or one box)" : "single-mask output (several prompts)"
        return SegmentOutput(lines: lines, json: [
            "rule": rule, "files": paths + [files.overlay.path],
            "masks": zip(masks, rles).map { annotation($1, iou: $0.iou, role: $0.role) },
        ])
    }

    private func segmentEverything(_ img: RGBImage, _ predictor: SamPredictor, _ embedding: ImageEmbedding,
                                   _ settings: AutoMaskSettings, _ files: MaskFiles, _ log: inout [String]) throws -> SegmentOutput {
        let generator = try AutoMaskGenerator(predictor: predictor, settings: settings)
        let t0 = Date()
        let progress = Terminal.stderrIsTTY && !json
        let masks = try generator.generate(img, embedding: embedding) { done, total in
            if progress { Terminal.writeErr("\r\u{1B}[2Kclicks \(done)/\(total)") }
        }
        if progress { Terminal.writeErr("\r\u{1B}[2K") }
        log.append(String(format: "everything: %d masks from %d clicks in %.2f s", masks.count,
                          settings.pointsPerSide * settings.pointsPerSide, Date().timeIntervalSince(t0)))
        let pixels = masks.map { $0.rle.mask() }
        var paths: [String] = []
        switch format ?? .coco {
        case .png:
            for (k, m) in pixels.enumerated() { try writeMask(m, img, files.mask(k + 1)); paths.append(files.mask(k + 1).path) }
        case .rle:
            try writeJSON(masks.map(\.rle.cocoObject), to: files.json); paths.append(files.json.path)
        case .coco:
            try writeJSON(masks.map(\.cocoObject), to: files.json); paths.append(files.json.path)
        }
        let overlay = Overlay.render(img, masks: pixels)
        try writePNG(pixels: overlay.pixels, width: overlay.width, height: overlay.height, channels: 3, to: files.overlay)
        var lines = masks.enumerated().map { k, m in
            String(format: "mask %d: predicted IoU %.3f  stability %.3f  area %d px  box [%d, %d, %d, %d]", k + 1,
                   m.predictedIoU, m.stabilityScore, m.area, m.box.xywh[0], m.box.xywh[1], m.box.xywh[2], m.box.xywh[3])
        }
        lines.append((format ?? .coco) == .png ? "masks: \(files.mask(1).path) … (\(masks.count) files)" : "masks: \(files.json.path)")
        lines.append("overlay: \(files.overlay.path)")
        return SegmentOutput(lines: lines, json: ["files": paths + [files.overlay.path], "masks": masks.map(\.cocoObject)])
    }

    /// The fields of a segment-everything record for a prompt's mask (bbox as SamAutomaticMaskGenerator's).
    private func annotation(_ rle: RLE, iou: Float, role: String) -> [String: Any] {
        let box = MaskBox(rle: rle)
        return ["segmentation": rle.cocoObject, "area": rle.area, "bbox": box.xywh, "predicted_iou": Double(iou), "role": role]
    }

    private func boxText(_ mask: [UInt8], _ img: RGBImage) -> String {
        let b = mask.withUnsafeBufferPointer { MaskBox(mask: $0, width: img.width, height: img.height) }.xywh
        return "[\(b[0]), \(b[1]), \(b[2]), \(b[3])]"
    }

    private func writeMask(_ mask: [UInt8], _ img: RGBImage, _ url: URL) throws {
        try writePNG(pixels: mask.map { $0 * 255 }, width: img.width, height: img.height, channels: 1, to: url)
    }

    private func writeJSON(_ object: Any, to url: URL) throws {
        try writeAtomically(JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), to: url)
    }

    func resolveModel() throws -> URL {
        if let model { return URL(fileURLWithPath: model) }
        guard let url = ProjectPaths.locate(Self.defaultModel) else {
            throw UserError("no SAM model: the embedded default \(Self.defaultModel) is not installed; pass -m MODEL_DIR with a transformers SamModel checkpoint")
        }
        return url
    }
}

extension MaskBox {
    /// The box of an RLE mask.
    init(rle: RLE) {
        let m = rle.mask()
        self = m.withUnsafeBufferPointer { MaskBox(mask: $0, width: rle.width, height: rle.height) }
    }
}

/// One JSON object and a newline (sorted keys, so output is stable).
func jsonLine(_ object: Any) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self) + "\n"
}
