import Foundation
import PrismCore
import PrismIO

// Segment everything: segment-anything's SamAutomaticMaskGenerator (automatic_mask_generator.py, utils/amg.py),
// step for step. For each crop (the whole image, then optional layers of 2ⁱ × 2ⁱ overlapping crops):
//   1. a grid of n × n single positive clicks at cell centres ((i + ½)/n), scaled to the crop;
//   2. each click decoded with 3 masks (multimask) against the crop's embedding;
//   3. masks kept when predicted IoU > predIoUThresh, then stability ≥ stabilityScoreThresh, where stability =
//      |logits > offset| / |logits > −offset| on the full-resolution logits;
//   4. binarised at 0, boxed; masks whose box touches a crop edge that is not an image edge (within 20 px) dropped;
//   5. box NMS (IoU > boxNMSThresh suppresses) by predicted IoU within the crop, then across crops preferring
//      smaller crops; optionally small holes and islands (< minMaskRegionArea px) removed and NMS run again.
// Only the order of work differs from the reference: the IoU filter runs before a prompt's masks are upscaled,
// which drops nothing that the reference keeps.

public struct AutoMaskSettings: Equatable, Sendable {
    public var pointsPerSide = 32
    public var pointsPerBatch = 64
    public var predIoUThresh: Float = 0.88
    public var stabilityScoreThresh: Float = 0.95
    public var stabilityScoreOffset: Float = 1.0
    public var boxNMSThresh: Float = 0.7
    public var cropNLayers = 0
    public var cropNMSThresh: Float = 0.7
    public var cropOverlapRatio = 512.0 / 1500.0
    public var cropNPointsDownscaleFactor = 1
    public var minMaskRegionArea = 0

    public init() {}

    /// One-line errors for values the algorithm cannot use.
    public func validate() throws {
        func bad(_ name: String, _ value: String, _ expected: String) -> AutoMaskError { .invalidSetting(name: name, value: value, expected: expected) }
        guard (1...256).contains(pointsPerSide) else { throw bad("points-per-side", "\(pointsPerSide)", "an integer in 1…256") }
        guard pointsPerBatch >= 1 else { throw bad("points-per-batch", "\(pointsPerBatch)", "an integer ≥ 1") }
        for (n, v) in [("pred-iou-thresh", predIoUThresh), ("stability-score-thresh", stabilityScoreThresh),
                       ("box-nms-thresh", boxNMSThresh), ("crop-nms-thresh", cropNMSThresh)] where !(v >= 0 && v <= 1) {
            throw bad(n, "\(v)", "a number in 0…1")
        }
        guard stabilityScoreOffset.isFinite, stabilityScoreOffset >= 0 else { throw bad("stability-score-offset", "\(stabilityScoreOffset)", "a number ≥ 0") }
        guard (0...4).contains(cropNLayers) else { throw bad("crop-n-layers", "\(cropNLayers)", "an integer in 0…4") }
        guard cropOverlapRatio >= 0 && cropOverlapRatio < 1 else { throw bad("crop-overlap-ratio", "\(cropOverlapRatio)", "a number in [0, 1)") }
        guard cropNPointsDownscaleFactor >= 1 else { throw bad("crop-n-points-downscale-factor", "\(cropNPointsDownscaleFactor)", "an integer ≥ 1") }
        guard minMaskRegionArea >= 0 else { throw bad("min-area", "\(minMaskRegionArea)", "an integer ≥ 0") }
    }
}

public enum AutoMaskError: Error, Equatable, CustomStringConvertible {
    case invalidSetting(name: String, value: String, expected: String)

    public var description: String {
        switch self {
        case let .invalidSetting(n, v, e): "invalid value '\(v)' for --\(n): expected \(e)"
        }
    }
}

/// A box by its first and last pixel indices (inclusive), as SAM's batched_mask_to_box gives it; all 0 if empty.
public struct MaskBox: Equatable, Sendable {
    public var x0: Int, y0: Int, x1: Int, y1: Int
    public init(x0: Int, y0: Int, x1: Int, y1: Int) { self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1 }

    /// [x, y, w, h] with w = x1 − x0, as SamAutomaticMaskGenerator writes `bbox` (one less than pycocotools' toBbox).
    public var xywh: [Int] { [x0, y0, x1 - x0, y1 - y0] }

    /// The box around the non-zero pixels of a row-major width × height mask.
    public init(mask: UnsafeBufferPointer<UInt8>, width: Int, height: Int) {
        var x0 = width, y0 = height, x1 = -1, y1 = -1
        for y in 0..<height {
            let row = mask.baseAddress! + y * width
            var first = -1, last = -1
            for x in 0..<width where row[x] != 0 { if first < 0 { first = x }; last = x }
            if first >= 0 { x0 = min(x0, first); x1 = max(x1, last); y0 = min(y0, y); y1 = y }
        }
        self = x1 < 0 ? MaskBox(x0: 0, y0: 0, x1: 0, y1: 0) : MaskBox(x0: x0, y0: y0, x1: x1, y1: y1)
    }

    func iou(_ o: MaskBox) -> Double {
        let area = Double(x1 - x0) * Double(y1 - y0), other = Double(o.x1 - o.x0) * Double(o.y1 - o.y0)
        let iw = Double(max(0, min(x1, o.x1) - max(x0, o.x0))), ih = Double(max(0, min(y1, o.y1) - max(y0, o.y0)))
        let inter = iw * ih
        return inter / (area + other - inter)
    }
}

/// One mask of segment-everything, in the original image's frame.
public struct AutoMask: Sendable {
    public var rle: RLE
    public var box: MaskBox
    public var predictedIoU: Float
    public var stabilityScore: Float
    /// The click that produced it, in image pixels.
    public var point: (x: Double, y: Double)
    /// The crop it was found in: x0, y0, x1, y1 (exclusive ends).
    public var cropBox: [Int]
    public var area: Int { rle.area }

    /// The record SamAutomaticMaskGenerator returns with output_mode "coco_rle" (a COCO annotation's fields).
    public var cocoObject: [String: Any] {
        ["segmentation": rle.cocoObject, "area": area, "bbox": box.xywh, "predicted_iou": Double(predictedIoU),
         "stability_score": Double(stabilityScore), "point_coords": [[point.x, point.y]],
         "crop_box": [cropBox[0], cropBox[1], cropBox[2] - cropBox[0], cropBox[3] - cropBox[1]]]
    }
}

public final class AutoMaskGenerator: @unchecked Sendable {
    public let predictor: SamPredictor
    public let settings: AutoMaskSettings

    public init(predictor: SamPredictor, settings: AutoMaskSettings = AutoMaskSettings()) throws {
        try settings.validate()
        self.predictor = predictor; self.settings = settings
    }

    /// Masks for `image`. `embedding`: this image's embedding if already computed (used for the whole-image crop).
    /// `progress(done, total)` is called after each batch of clicks.
    public func generate(_ image: RGBImage, embedding: ImageEmbedding? = nil,
                         progress: ((Int, Int) -> Void)? = nil) throws -> [AutoMask] {
        let crops = Self.cropBoxes(width: image.width, height: image.height, layers: settings.cropNLayers,
                                   overlapRatio: settings.cropOverlapRatio)
        let grids = (0...settings.cropNLayers).map {
            Self.pointGrid(settings.pointsPerSide / Self.power(settings.cropNPointsDownscaleFactor, $0))
        }
        let total = crops.reduce(0) { $0 + grids[$1.layer].count }
        var done = 0
        var masks: [AutoMask] = []
        for crop in crops {
            let b = crop.box
            let whole = b == [0, 0, image.width, image.height]
            let e: ImageEmbedding
            if whole, let embedding { e = embedding } else { e = predictor.embed(whole ? image : image.cropped(b)) }
            masks += try process(crop: b, embedding: e, grid: grids[crop.layer], imageWidth: image.width, imageHeight: image.height) {
                done += $0; progress?(done, total)
            }
        }
        if crops.count > 1 {   // duplicates between crops: prefer masks from smaller crops
            let scores = masks.map { 1 / Double(($0.cropBox[2] - $0.cropBox[0]) * ($0.cropBox[3] - $0.cropBox[1])) }
            masks = Self.nms(masks.map(\.box), scores: scores, threshold: Double(settings.cropNMSThresh)).map { masks[$0] }
        }
        if settings.minMaskRegionArea > 0 { masks = removeSmallRegions(masks) }
        return masks
    }

    // MARK: - One crop

    private func process(crop: [Int], embedding: ImageEmbedding, grid: [(Double, Double)], imageWidth: Int, imageHeight: Int,
                         progress: (Int) -> Void) throws -> [AutoMask] {
        let cw = crop[2] - crop[0], ch = crop[3] - crop[1]
        let points = grid.map { (x: $0.0 * Double(cw), y: $0.1 * Double(ch)) }
        let up = MaskUpsampler(predictor: predictor, embedding: embedding)
        let threshold = settings.predIoUThresh
        var found: [AutoMask] = []
        for start in stride(from: 0, to: points.count, by: settings.pointsPerBatch) {
            let batch = points[start..<min(points.count, start + settings.pointsPerBatch)]
            let decoded = try predictor.lowResMasks(embedding, prompts: batch.map { [SamPoint(x: Float($0.x), y: Float($0.y))] },
                                                    keep: { $0.contains { $0 > threshold } })
            for (p, d) in zip(batch, decoded) {
                guard let logits = d.logits else { continue }
                let side = logits.shape[1]
                for k in 0..<d.iou.count where d.iou[k] > threshold {
                    let low = logits.data[(k * side * side)..<((k + 1) * side * side)]
                    if let m = try candidate(low, up: up, iou: d.iou[k], point: p, crop: crop, imageWidth: imageWidth, imageHeight: imageHeight) {
                        found.append(m)
                    }
                }
            }
            progress(batch.count)
        }
        // duplicates within the crop, by predicted IoU
        return Self.nms(found.map(\.box), scores: found.map { Double($0.predictedIoU) }, threshold: Double(settings.boxNMSThresh))
            .map { found[$0] }
    }

    /// Steps 3–4 for one mask: stability on the full-resolution logits, binarise, box, crop-edge test, RLE.
    private func candidate(_ low: ArraySlice<Float>, up: MaskUpsampler, iou: Float, point: (x: Double, y: Double),
                           crop: [Int], imageWidth: Int, imageHeight: Int) throws -> AutoMask? {
        let logits = up(low)
        let w = up.width, h = up.height, offset = settings.stabilityScoreOffset
        var inter = 0, union = 0
        for v in logits { if v > offset { inter += 1 }; if v > -offset { union += 1 } }
        let stability = Float(inter) / Float(union)        // 0/0 = NaN fails the test, as in PyTorch
        guard stability >= settings.stabilityScoreThresh else { return nil }
        let mask = logits.map { $0 > 0 ? UInt8(1) : 0 }
        let local = mask.withUnsafeBufferPointer { MaskBox(mask: $0, width: w, height: h) }
        let box = MaskBox(x0: local.x0 + crop[0], y0: local.y0 + crop[1], x1: local.x1 + crop[0], y1: local.y1 + crop[1])
        if Self.nearCropEdge(box, crop: crop, imageWidth: imageWidth, imageHeight: imageHeight) { return nil }
        let full = Self.uncrop(mask, width: w, height: h, crop: crop, imageWidth: imageWidth, imageHeight: imageHeight)
        return AutoMask(rle: try RLE(mask: full, width: imageWidth, height: imageHeight), box: box, predictedIoU: iou,
                        stabilityScore: stability, point: (point.x + Double(crop[0]), point.y + Double(crop[1])), cropBox: crop)
    }

    // MARK: - Small regions

    /// SAM's postprocess_small_regions: fill holes and drop islands under minMaskRegionArea px, then NMS with
    /// unchanged masks preferred; a changed mask that survives gets its new RLE and box.
    private func removeSmallRegions(_ masks: [AutoMask]) -> [AutoMask] {
        guard !masks.isEmpty else { return masks }
        var updated = masks, unchanged: [Double] = []
        for (i, m) in masks.enumerated() {
            let w = m.rle.width, h = m.rle.height
            var pixels = m.rle.mask()
            let holes = Self.removeSmallRegions(&pixels, width: w, height: h, area: settings.minMaskRegionArea, holes: true)
            let islands = Self.removeSmallRegions(&pixels, width: w, height: h, area: settings.minMaskRegionArea, holes: false)
            unchanged.append(holes || islands ? 0 : 1)
            if holes || islands {
                updated[i].box = pixels.withUnsafeBufferPointer { MaskBox(mask: $0, width: w, height: h) }
                updated[i].rle = (try? RLE(mask: pixels, width: w, height: h)) ?? m.rle
            }
        }
        let keep = Self.nms(updated.map(\.box), scores: unchanged,
                            threshold: Double(max(settings.boxNMSThresh, settings.cropNMSThresh)))
        return keep.map { updated[$0] }
    }

    /// remove_small_regions on a 0/1 mask in place: with `holes`, 8-connected background components smaller
    /// than `area` are filled; otherwise 8-connected foreground components smaller than `area` are cleared,
    /// keeping the largest if all are small. Returns whether anything changed.
    static func removeSmallRegions(_ mask: inout [UInt8], width w: Int, height h: Int, area: Int, holes: Bool) -> Bool {
        let target: UInt8 = holes ? 0 : 1
        var label = [Int32](repeating: 0, count: w * h)
        var sizes: [Int] = [0]
        var stack: [Int] = []
        for start in 0..<(w * h) where mask[start] == target && label[start] == 0 {
            let id = Int32(sizes.count)
            var n = 0
            label[start] = id; stack.append(start)
            while let p = stack.popLast() {
                n += 1
                let x = p % w, y = p / w
                for dy in -1...1 { for dx in -1...1 where dx != 0 || dy != 0 {
                    let nx = x + dx, ny = y + dy
                    guard nx >= 0, nx < w, ny >= 0, ny < h else { continue }
                    let q = ny * w + nx
                    if mask[q] == target && label[q] == 0 { label[q] = id; stack.append(q) }
                }}
            }
            sizes.append(n)
        }
        let small = Set((1..<sizes.count).filter { sizes[$0] < area })
        guard !small.isEmpty else { return false }
        if holes {
            for i in 0..<(w * h) where label[i] != 0 && small.contains(Int(label[i])) { mask[i] = 1 }
        } else {
            var keep = Set((1..<sizes.count).filter { !small.contains($0) })
            if keep.isEmpty, let largest = (1..<sizes.count).max(by: { sizes[$0] < sizes[$1] || (sizes[$0] == sizes[$1] && $0 > $1) }) {
                keep = [largest]
            }
            for i in 0..<(w * h) where label[i] != 0 && !keep.contains(Int(label[i])) { mask[i] = 0 }
        }
        return true
    }

    // MARK: - Geometry (amg.py)

    /// build_point_grid: n × n cell centres in [0, 1]², x fastest (numpy linspace arithmetic).
    static func pointGrid(_ n: Int) -> [(Double, Double)] {
        guard n > 0 else { return [] }
        let offset = 1 / (2 * Double(n))
        let step = n > 1 ? (1 - 2 * offset) / Double(n - 1) : 0
        let side = (0..<n).map { i in i == n - 1 && n > 1 ? 1 - offset : offset + Double(i) * step }
        return side.flatMap { y in side.map { x in (x, y) } }
    }

    /// generate_crop_boxes: the whole image (layer 0), then for layer i ≥ 1 (2ⁱ)² overlapping crops, x0/y0 as
    /// itertools.product orders them (x outer). Boxes are x0, y0, x1, y1 with exclusive ends.
    static func cropBoxes(width w: Int, height h: Int, layers: Int, overlapRatio: Double) -> [(box: [Int], layer: Int)] {
        var out: [(box: [Int], layer: Int)] = [([0, 0, w, h], 0)]
        let short = min(w, h)
        for layer in 0..<layers {
            let n = 1 << (layer + 1)
            let overlap = Int(overlapRatio * Double(short) * (2 / Double(n)))
            func length(_ orig: Int) -> Int { Int((Double(overlap * (n - 1) + orig) / Double(n)).rounded(.up)) }
            let cw = length(w), ch = length(h)
            let xs = (0..<n).map { (cw - overlap) * $0 }, ys = (0..<n).map { (ch - overlap) * $0 }
            for x0 in xs { for y0 in ys { out.append(([x0, y0, min(x0 + cw, w), min(y0 + ch, h)], layer + 1)) } }
        }
        return out
    }

    /// is_box_near_crop_edge: within 20 px of a crop edge that is not also within 20 px of the image edge.
    static func nearCropEdge(_ b: MaskBox, crop: [Int], imageWidth: Int, imageHeight: Int) -> Bool {
        let box = [b.x0, b.y0, b.x1, b.y1], image = [0, 0, imageWidth, imageHeight]
        return (0..<4).contains { abs(box[$0] - crop[$0]) <= 20 && abs(box[$0] - image[$0]) > 20 }
    }

    /// A crop's mask placed into the whole image (uncrop_masks).
    static func uncrop(_ mask: [UInt8], width w: Int, height h: Int, crop: [Int], imageWidth: Int, imageHeight: Int) -> [UInt8] {
        if w == imageWidth && h == imageHeight { return mask }
        var out = [UInt8](repeating: 0, count: imageWidth * imageHeight)
        for y in 0..<h { for x in 0..<w { out[(y + crop[1]) * imageWidth + x + crop[0]] = mask[y * w + x] } }
        return out
    }

    /// Greedy NMS as torchvision's: by score, descending (ties in input order); a box is suppressed when its IoU
    /// with a kept box is > threshold; areas (x1 − x0)(y1 − y0). Returns kept indices in score order.
    static func nms(_ boxes: [MaskBox], scores: [Double], threshold: Double) -> [Int] {
        let order = boxes.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        var suppressed = [Bool](repeating: false, count: boxes.count), keep: [Int] = []
        for i in order where !suppressed[i] {
            keep.append(i)
            for j in order where !suppressed[j] && j != i && boxes[i].iou(boxes[j]) > threshold { suppressed[j] = true }
        }
        return keep
    }

    private static func power(_ b: Int, _ e: Int) -> Int { (0..<e).reduce(1) { acc, _ in acc * b } }
}

/// Low-res logits [4g, 4g] → full-resolution logits, as Predictor.postprocess: bilinear to imageSize², crop to the
/// resized image, bilinear to the original size. Planned once per embedding.
struct MaskUpsampler {
    let toInput: BilinearPlan, toOriginal: BilinearPlan
    let width: Int, height: Int

    init(predictor: SamPredictor, embedding e: ImageEmbedding) {
        let s = predictor.imageSize, low = 4 * predictor.model.config.promptEncoderConfig.imageEmbeddingSize
        toInput = BilinearPlan(inHeight: low, inWidth: low, outHeight: s, outWidth: s, keepHeight: e.inputHeight, keepWidth: e.inputWidth)
        toOriginal = BilinearPlan(inHeight: e.inputHeight, inWidth: e.inputWidth, outHeight: e.originalHeight, outWidth: e.originalWidth)
        width = e.originalWidth; height = e.originalHeight
    }

    func callAsFunction(_ low: ArraySlice<Float>) -> [Float] {
        let mid = toInput.keepHeight * toInput.keepWidth
        var scratch = [Float](repeating: 0, count: max(toInput.inHeight * toInput.keepWidth, toOriginal.inHeight * toOriginal.keepWidth) + mid)
        var out = [Float](repeating: 0, count: width * height)
        low.withUnsafeBufferPointer { src in scratch.withUnsafeMutableBufferPointer { s in out.withUnsafeMutableBufferPointer { o in
            let resized = s.baseAddress!, work = s.baseAddress! + mid
            toInput.apply(src.baseAddress!, resized, scratch: work)
            toOriginal.apply(resized, o.baseAddress!, scratch: work)
        }}}
        return out
    }
}

extension RGBImage {
    /// The pixels of box x0, y0, x1, y1 (exclusive ends).
    func cropped(_ b: [Int]) -> RGBImage {
        let w = b[2] - b[0], h = b[3] - b[1]
        var px = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            let src = ((y + b[1]) * width + b[0]) * 3
            px[(y * w * 3)..<((y + 1) * w * 3)] = pixels[src..<(src + w * 3)]
        }
        return RGBImage(width: w, height: h, pixels: px)
    }
}
