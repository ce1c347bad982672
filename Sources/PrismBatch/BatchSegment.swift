// `prism segment --batch`: SAM masks for the points and boxes each row gives, one image per row.
//
// The image encoder is the expensive part, so embeddings are kept by image content (a few, least recently used
// dropped first): rows about the same image — one row per object, as COCO-style annotations come — embed it once.
// Prompts per row: every box (with the row's points, if any) is one prompt, or, without boxes, the points are
// one prompt; each prompt gives the one mask `prism segment` returns for it (SamPredictor.selectedMask: the best
// of three for one click or one box alone, the single-mask output otherwise), written as COCO RLE.
import Foundation
import PrismData
import PrismIO
import PrismSAM

public struct BatchSegmentOptions: Sendable {
    public var imageKey: String
    /// Column of clicks: JSON [[x, y], [x, y, label], …] (label 1 on the object, 0 background) or one [x, y];
    /// a TFRecord float list of x, y pairs (all on the object).
    public var pointsKey = "points"
    /// Column of boxes: [x0, y0, x1, y1], a list of them, or a float list of 4·k values; image pixels.
    public var boxKey = "box"
    public var idKey: String?
    /// Image embeddings kept for later rows.
    public var cachedEmbeddings = 4
    public var badRows = BadRowPolicy.row

    public init(imageKey: String) { self.imageKey = imageKey }
}

public final class BatchSegmenter {
    public let predictor: SamPredictor
    public let options: BatchSegmentOptions
    private var cache: RecentByDigest<ImageEmbedding>
    /// Images run through the encoder in this run (the rest came from the cache).
    public private(set) var embeddings = 0

    public init(predictor: SamPredictor, options: BatchSegmentOptions) {
        self.predictor = predictor
        self.options = options
        cache = RecentByDigest(limit: options.cachedEmbeddings)
    }

    @discardableResult
    public func run(_ input: BatchInput, into output: BatchOutput,
                    onProgress: ((BatchProgress) -> Void)? = nil) throws -> BatchProgress {
        let rows = OrderedRows(output: output, policy: options.badRows, onProgress: onProgress)
        guard !output.alreadyComplete else { return rows.progress }
        try input.forEach(from: output.next) { record, fields in
            var id: String?
            do {
                let row = try fields.get()
                id = try OrderedRows.id(of: row, key: options.idKey)
                let (members, masks) = try segment(row)
                rows.done(record, id: id, members, outputs: masks)
            } catch {
                try rows.failed(record, id: id, BatchAsker.message(error, record: record))
            }
            try rows.write()
        }
        try rows.write()
        try output.finish()
        return rows.progress
    }

    /// The row's output members ("width", "height", "masks") and its mask count.
    func segment(_ row: RowFields) throws -> (String, Int) {
        let (points, boxes) = try prompts(row)
        let embedding = try embed(row)
        var masks: [String] = []
        do {
            for box in boxes.isEmpty ? [nil] : boxes.map(Optional.some) {
                let (prediction, best) = try predictor.selectedMask(embedding, points: points, box: box)
                let rle = try RLE(mask: prediction.mask(best), width: prediction.width, height: prediction.height)
                masks.append("{\"iou\":\(String(format: "%.4f", prediction.iouScores[best])),\"area\":\(rle.area)," +
                             "\"rle\":{\"size\":[\(rle.height),\(rle.width)],\"counts\":\(jsonQuoted(rle.compressedCounts))}}")
            }
        } catch let error as SamError {
            throw RowFieldError(location: row.location, key: nil, message: error.description)
        }
        return ("\"width\":\(embedding.originalWidth),\"height\":\(embedding.originalHeight),\"masks\":[\(masks.joined(separator: ","))]", masks.count)
    }

    /// The row's clicks and boxes (see `BatchSegmentOptions`).
    func prompts(_ row: RowFields) throws -> ([SamPoint], [SamBox]) {
        var points: [SamPoint] = []
        for group in try row.numberLists(options.pointsKey) ?? [] {
            func bad() -> RowFieldError {
                RowFieldError(location: row.location, key: options.pointsKey,
                              message: "a point is [x, y] or [x, y, label] with label 1 or 0, found \(group.count) numbers")
            }
            if group.count == 3 {
                guard group[2] == 0 || group[2] == 1 else { throw bad() }
                points.append(SamPoint(x: Float(group[0]), y: Float(group[1]), label: group[2] == 1 ? .positive : .negative))
            } else {
                guard group.count % 2 == 0, !group.isEmpty else { throw bad() }
                for i in stride(from: 0, to: group.count, by: 2) { points.append(SamPoint(x: Float(group[i]), y: Float(group[i + 1]))) }
            }
        }
        var boxes: [SamBox] = []
        for group in try row.numberLists(options.boxKey) ?? [] {
            guard group.count % 4 == 0, !group.isEmpty else {
                throw RowFieldError(location: row.location, key: options.boxKey, message: "a box is [x0, y0, x1, y1], found \(group.count) numbers")
            }
            for i in stride(from: 0, to: group.count, by: 4) {
                boxes.append(SamBox(x0: Float(group[i]), y0: Float(group[i + 1]), x1: Float(group[i + 2]), y1: Float(group[i + 3])))
            }
        }
        if points.isEmpty && boxes.isEmpty {
            throw RowFieldError(location: row.location, key: nil, message: "no prompt: the row has neither \"\(options.pointsKey)\" nor \"\(options.boxKey)\"")
        }
        return (points, boxes)
    }

    /// The row's one image, embedded (or found in the cache by its bytes' digest).
    func embed(_ row: RowFields) throws -> ImageEmbedding {
        guard let images = try row.images(options.imageKey) else {
            throw RowFieldError(location: row.location, key: options.imageKey, message: "missing (the --image-key column)")
        }
        guard images.count == 1 else {
            throw RowFieldError(location: row.location, key: options.imageKey, message: "expected one image, found \(images.count)")
        }
        let data: Data, name: String
        switch images[0] {
        case .file(let path):
            guard let d = FileManager.default.contents(atPath: path) else {
                // the decoder's own message ("cannot read image: no such file")
                do { _ = try RGBImage(contentsOf: URL(fileURLWithPath: path)) } catch {
                    throw RowFieldError(location: row.location, key: options.imageKey, message: "\(error)")
                }
                throw RowFieldError(location: row.location, key: options.imageKey, message: "\(path): cannot read image")
            }
            (data, name) = (d, path)
        case .encoded(let bytes, let n): (data, name) = (Data(bytes), n)
        }
        return try cache.value(for: ContentDigest(of: data)) {
            let image: RGBImage
            do { image = try RGBImage(data: data, path: name) } catch {
                throw RowFieldError(location: row.location, key: options.imageKey, message: "\(error)")
            }
            embeddings += 1
            return predictor.embed(image)
        }
    }
}
