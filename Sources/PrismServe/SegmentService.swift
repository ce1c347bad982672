// /v1/segment: SAM masks for points, labels and boxes on an image, as COCO RLE with scores, areas and boxes.
// The image embedding (the expensive part) is cached by the SHA-256 of the image bytes, so further prompts on
// the same image pay only the prompt encoder and mask decoder.
import Foundation
import PrismCore
import PrismIO
import PrismSAM

public struct SegmentRequest: Decodable, Sendable {
    public var model: String?
    /// A data URI, an http(s) URL or (with --allow-local-files) a path.
    public var image: String
    /// [[x, y], …] in original image pixels.
    public var points: [[Double]]?
    /// 1 = foreground, 0 = background, one per point (all 1 when absent).
    public var labels: [Int]?
    /// [[x0, y0, x1, y1], …]; with more than one box each box is its own prompt.
    public var boxes: [[Double]]?
    public var multimask: Bool?
}

public struct SegmentResponse: Codable, Sendable {
    public struct ImageInfo: Codable, Sendable { public var width: Int, height: Int, sha256: String }
    public struct Segmentation: Codable, Sendable { public var size: [Int]; public var counts: String }
    public struct Mask: Codable, Sendable {
        /// Index of the prompt (box) the mask answers.
        public var prompt: Int
        public var segmentation: Segmentation
        /// The model's predicted IoU.
        public var score: Float
        public var area: Int
        /// [x, y, width, height] of the set pixels (COCO bbox).
        public var bbox: [Int]
    }
    public var object = "segmentation"
    public var model: String
    public var image: ImageInfo
    public var embeddingCached: Bool
    public var masks: [Mask]
    enum CodingKeys: String, CodingKey { case object, model, image, masks, embeddingCached = "embedding_cached" }
}

final class SegmentService: @unchecked Sendable {
    let predictor: SamPredictor
    let name: String
    let images: ImageLoader
    /// One segmentation computes at a time; the engine has the other cores' worth of work.
    private let queue = DispatchQueue(label: "prism-sam")
    private let lock = NSLock()
    private var cache: [ContentDigest: (embedding: ImageEmbedding, lastUse: UInt64)] = [:]
    private var clock: UInt64 = 0
    let cacheEntries: Int

    init(predictor: SamPredictor, name: String, images: ImageLoader, cacheEntries: Int = 16) {
        self.predictor = predictor; self.name = name; self.images = images; self.cacheEntries = cacheEntries
    }

    /// Prompts as the predictor takes them, validated against the request's shapes.
    func prompts(_ r: SegmentRequest) throws -> [(points: [SamPoint], box: SamBox?)] {
        let coords = r.points ?? []
        for (i, p) in coords.enumerated() where p.count != 2 || !p.allSatisfy(\.isFinite) {
            throw APIError.invalid("Each point must be [x, y] with finite numbers.", param: "points[\(i)]")
        }
        let labels = r.labels ?? Array(repeating: 1, count: coords.count)
        guard labels.count == coords.count else {
            throw APIError.invalid("'labels' has \(labels.count) entries for \(coords.count) points.", param: "labels")
        }
        var points: [SamPoint] = []
        for (i, (p, l)) in zip(coords, labels).enumerated() {
            guard let label = SamPoint.Label(rawValue: l) else { throw APIError.invalid("Labels must be 1 (foreground) or 0 (background).", param: "labels[\(i)]") }
            points.append(SamPoint(x: Float(p[0]), y: Float(p[1]), label: label))
        }
        var boxes: [SamBox] = []
        for (i, b) in (r.boxes ?? []).enumerated() {
            guard b.count == 4, b.allSatisfy(\.isFinite) else {
                throw APIError.invalid("Each box must be [x0, y0, x1, y1] with finite numbers.", param: "boxes[\(i)]")
            }
            boxes.append(SamBox(x0: Float(b[0]), y0: Float(b[1]), x1: Float(b[2]), y1: Float(b[3])))
        }
        if points.isEmpty && boxes.isEmpty { throw APIError.invalid("Give at least one point or box.", param: "points") }
        if boxes.count > 1 {
            guard points.isEmpty else { throw APIError.invalid("Points can be combined with one box only.", param: "boxes") }
            return boxes.map { ([], $0) }
        }
        return [(points, boxes.first)]
    }

    func segment(_ r: SegmentRequest) async throws -> SegmentResponse {
        let prompts = try prompts(r)
        let data = try await images.load(r.image, param: "image")
        let digest = ContentDigest(of: data)
        let multimask = r.multimask ?? true
        return try await offload(on: queue) { [self] in
            let (embedding, cached) = try embedding(data, digest)
            var masks: [SegmentResponse.Mask] = []
            for (k, p) in prompts.enumerated() {
                let prediction: MaskPrediction
                do {
                    prediction = try predictor.masks(embedding, points: p.points, box: p.box, multimask: multimask)
                } catch let e as SamError {
                    throw APIError.invalid("\(e)", param: p.box != nil && r.boxes != nil ? "boxes" : "points")
                }
                for i in 0..<prediction.count {
                    let rle = try RLE(mask: prediction.mask(i), width: prediction.width, height: prediction.height)
                    masks.append(.init(prompt: k, segmentation: .init(size: [rle.height, rle.width], counts: rle.compressedCounts),
                                       score: prediction.iouScores[i], area: rle.area, bbox: rle.bbox))
                }
            }
            return SegmentResponse(model: name, image: .init(width: embedding.originalWidth, height: embedding.originalHeight,
                                                             sha256: digest.description),
                                   embeddingCached: cached, masks: masks)
        }
    }

    /// The cached embedding of these bytes, or a fresh one (kept, least recently used evicted).
    private func embedding(_ data: Data, _ digest: ContentDigest) throws -> (ImageEmbedding, Bool) {
        lock.lock()
        clock += 1
        if let hit = cache[digest] {
            cache[digest]!.lastUse = clock
            lock.unlock()
            return (hit.embedding, true)
        }
        lock.unlock()
        let image: RGBImage
        do { image = try RGBImage(data: data, path: "image") } catch {
            throw APIError.invalid("The image could not be decoded: \(error)", param: "image", code: "invalid_image")
        }
        let e = predictor.embed(image)
        lock.lock()
        cache[digest] = (e, clock)
        while cache.count > cacheEntries, let lru = cache.min(by: { $0.value.lastUse < $1.value.lastUse }) { cache[lru.key] = nil }
        lock.unlock()
        return (e, false)
    }

    var cachedEmbeddings: Int { lock.lock(); defer { lock.unlock() }; return cache.count }
}
