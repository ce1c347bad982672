import ArgumentParser
import Foundation
import PrismCore
import PrismIO
import PrismSAM

struct SegmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment",
        abstract: "Segment an image from point or box prompts (Segment Anything).",
        discussion: """
        Writes one mask PNG per predicted mask (white = object) and an overlay PNG, and prints each mask's \
        predicted IoU and area. Example: prism segment photo.jpg --point 320,240 --point 100,80,0 --multimask
        """)

    @Argument(help: "Image file (JPEG or PNG).") var image: String?
    @Option(name: .customLong("point"), help: "Click X,Y[,1|0] in image pixels; 1 = on the object (default), 0 = background. Repeatable.")
    var points: [String] = []
    @Option(name: .customLong("box"), help: "Box X0,Y0,X1,Y1 in image pixels (at most one).") var box: String?
    @Flag(name: .customLong("multimask"), help: "Predict 3 candidate masks instead of 1 (good for a single ambiguous click).")
    var multimask = false
    @Option(name: .customShort("m"), help: "Model directory (transformers SamModel layout: config.json + model.safetensors).")
    var model: String?
    @Option(name: .customLong("output"), help: "Directory for mask_N.png and overlay.png.") var outputDirectory: String?
    @Option(name: .customShort("o"), help: "File prefix: PREFIX_mask_N.png and PREFIX_overlay.png (with --batch: the output JSONL).") var prefix: String?
    @Option(name: .customLong("embedding-cache"), help: "Reuse the image embedding stored in FILE, or compute it and store it there.")
    var embeddingCache: String?
    @OptionGroup(title: "Batch mode (--batch INPUT… -o OUTPUT.jsonl: masks for the prompts of every dataset row)") var batch: SegmentBatchArguments

    static let defaultModel = "Weights/prism-sam-tiny"

    func run() throws {
        if batch.isBatch { return try runBatch() }
        do { try segment() } catch let e as UserError { throw e } catch { throw UserError("\(error)") }
    }

    private func segment() throws {
        guard let image else { throw UserError("no image: give an image file, or --batch INPUT… -o OUTPUT.jsonl") }
        let parsedPoints = try points.map(PromptSyntax.point)
        let parsedBox = try box.map(PromptSyntax.box)
        if parsedPoints.isEmpty && parsedBox == nil { throw UserError("no prompt: give at least one --point X,Y[,1|0] or a --box X0,Y0,X1,Y1") }
        if outputDirectory != nil && prefix != nil { throw UserError("give either --output DIR or -o PREFIX, not both") }
        let modelDir = try resolveModel()
        let img = try RGBImage(contentsOf: URL(fileURLWithPath: image))
        // Check prompts against the image before paying for the model.
        for p in parsedPoints where !(p.x >= 0 && p.x < Float(img.width) && p.y >= 0 && p.y < Float(img.height)) {
            throw SamError.pointOutsideImage(x: p.x, y: p.y, width: img.width, height: img.height)
        }
        let predictor = try SamPredictor(directory: modelDir)
        let start = Date()
        let embedding: ImageEmbedding
        if let embeddingCache {
            let (e, cached) = try predictor.embedding(for: img, cache: URL(fileURLWithPath: embeddingCache))
            embedding = e
            print(cached ? "embedding: loaded from \(embeddingCache)" : String(format: "embedding: %.2f s (saved to %@)", Date().timeIntervalSince(start), embeddingCache))
        } else {
            embedding = predictor.embed(img)
            print(String(format: "embedding: %.2f s", Date().timeIntervalSince(start)))
        }
        let result = try predictor.masks(embedding, points: parsedPoints, box: parsedBox, multimask: multimask)
        let paths = outputPaths(count: result.count)
        for i in 0..<result.count {
            try writePNG(pixels: result.mask(i).map { $0 * 255 }, width: result.width, height: result.height, channels: 1,
                         to: URL(fileURLWithPath: paths.masks[i]))
            print(String(format: "mask %d: iou %.3f  area %d px%@  → %@", i, result.iouScores[i], result.area(i),
                         i == result.best && result.count > 1 ? " (best)" : "", paths.masks[i]))
        }
        let overlay = Overlay.render(img, mask: result.mask(result.best), points: parsedPoints, box: parsedBox)
        try writePNG(pixels: overlay.pixels, width: overlay.width, height: overlay.height, channels: 3,
                     to: URL(fileURLWithPath: paths.overlay))
        print("overlay: \(paths.overlay)")
    }

    func resolveModel() throws -> URL {
        if let model { return URL(fileURLWithPath: model) }
        guard let url = ProjectPaths.locate(Self.defaultModel) else {
            throw UserError("no SAM model: the embedded default \(Self.defaultModel) is not installed; pass -m MODEL_DIR with a transformers SamModel checkpoint")
        }
        return url
    }

    private func outputPaths(count: Int) -> (masks: [String], overlay: String) {
        if let outputDirectory {
            try? FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
            let d = URL(fileURLWithPath: outputDirectory)
            return ((0..<count).map { d.appendingPathComponent("mask_\($0).png").path }, d.appendingPathComponent("overlay.png").path)
        }
        let p = prefix ?? URL(fileURLWithPath: image ?? "segment").deletingPathExtension().lastPathComponent
        return ((0..<count).map { "\(p)_mask_\($0).png" }, "\(p)_overlay.png")
    }
}
