import Foundation
import PrismIO
import PrismSAM

/// `/segment` in the REPL: one click on the last image → the best of SAM's three masks, written as a mask PNG and
/// an overlay PNG. The image embedding is computed once per image and reused for every later click.
public final class SamSegmenter: Segmenter {
    public let predictor: SamPredictor
    public let outputDirectory: URL
    /// Largest image decoded (checked from the file's header before decoding).
    public var imageLimits = ImageLimits.default
    private var embeddings: [String: (image: RGBImage, embedding: ImageEmbedding)] = [:]
    private var counter = 0

    public init(directory: URL, outputDirectory: URL) throws {
        predictor = try SamPredictor(directory: directory)
        self.outputDirectory = outputDirectory
    }

    public func segment(imagePath: String, x: Double, y: Double, label: Int) throws -> SegmentResult {
        let entry: (image: RGBImage, embedding: ImageEmbedding)
        if let e = embeddings[imagePath] { entry = e } else {
            let img = try RGBImage(contentsOf: URL(fileURLWithPath: imagePath), limits: imageLimits)
            entry = (img, predictor.embed(img))
            embeddings[imagePath] = entry
        }
        let (img, embedding) = entry
        guard x >= 0, y >= 0, x < Double(img.width), y < Double(img.height) else {
            throw SamError.pointOutsideImage(x: Float(x), y: Float(y), width: img.width, height: img.height)
        }
        let point = SamPoint(x: Float(x), y: Float(y), label: label == 0 ? .negative : .positive)
        let result = try predictor.masks(embedding, points: [point], multimask: true)
        let best = result.best
        counter += 1
        let stem = URL(fileURLWithPath: imagePath).deletingPathExtension().lastPathComponent + "-segment\(counter)"
        let maskURL = outputDirectory.appendingPathComponent(stem + "-mask.png")
        let overlayURL = outputDirectory.appendingPathComponent(stem + "-overlay.png")
        try writePNG(pixels: result.mask(best).map { $0 * 255 }, width: result.width, height: result.height, channels: 1, to: maskURL)
        let overlay = Overlay.render(img, mask: result.mask(best), points: [point], box: nil)
        try writePNG(pixels: overlay.pixels, width: overlay.width, height: overlay.height, channels: 3, to: overlayURL)
        return SegmentResult(overlayPath: overlayURL.path, maskPath: maskURL.path, score: result.iouScores[best], area: result.area(best))
    }
}
