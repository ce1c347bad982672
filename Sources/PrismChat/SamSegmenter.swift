import Foundation
import PrismCore
import PrismIO
import PrismSAM

/// `/segment` in the REPL (and `prism demo`): clicks and/or a box on the last image → the mask SAM's click rule
/// returns (SamPredictor.selectedMask), written as MaskFiles names it (mask + overlay PNG); `/segment everything`
/// → COCO annotations + a coloured overlay. The embedding is computed once per image and reused for every later
/// prompt. The output folder is created when first needed.
public final class SamSegmenter: Segmenter {
    public let predictor: SamPredictor
    public let outputDirectory: URL
    private var embeddings: [String: (image: RGBImage, embedding: ImageEmbedding)] = [:]

    public init(directory: URL, outputDirectory: URL, precision: Precision = .f32) throws {
        predictor = try SamPredictor(directory: directory, precision: precision)
        self.outputDirectory = outputDirectory
    }

    private func entry(_ imagePath: String) throws -> (image: RGBImage, embedding: ImageEmbedding) {
        if let e = embeddings[imagePath] { return e }
        let img = try RGBImage(contentsOf: URL(fileURLWithPath: imagePath))
        let e = (img, predictor.embed(img))
        embeddings[imagePath] = e
        return e
    }

    public func segment(imagePath: String, points: [SamPoint], box: SamBox?) throws -> SegmentResult {
        let (img, embedding) = try entry(imagePath)
        let (result, k) = try predictor.selectedMask(embedding, points: points, box: box)
        let mask = result.mask(k)
        let files = try MaskFiles.next(in: outputDirectory, stem: MaskFiles.stem(forImage: imagePath))
        try writePNG(pixels: mask.map { $0 * 255 }, width: result.width, height: result.height, channels: 1, to: files.mask)
        let overlay = Overlay.render(img, mask: mask, points: points, box: box)
        try writePNG(pixels: overlay.pixels, width: overlay.width, height: overlay.height, channels: 3, to: files.overlay)
        return SegmentResult(overlayPath: files.overlay.path, maskPath: files.mask.path, score: result.iouScores[k], area: result.area(k))
    }

    public func segmentEverything(imagePath: String) throws -> EverythingResult {
        let (img, embedding) = try entry(imagePath)
        let masks = try AutoMaskGenerator(predictor: predictor).generate(img, embedding: embedding)
        let files = try MaskFiles.next(in: outputDirectory, stem: MaskFiles.stem(forImage: imagePath))
        try JSONSerialization.data(withJSONObject: masks.map(\.cocoObject), options: [.sortedKeys]).write(to: files.json)
        let overlay = Overlay.render(img, masks: masks.map { $0.rle.mask() })
        try writePNG(pixels: overlay.pixels, width: overlay.width, height: overlay.height, channels: 3, to: files.overlay)
        return EverythingResult(count: masks.count, masksPath: files.json.path, overlayPath: files.overlay.path)
    }
}
