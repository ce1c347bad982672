import Foundation
@testable import PrismBatch
import PrismData
import PrismIO
import PrismSAM
import PrismTestSupport
import XCTest

/// `segment --batch` with the embedded SAM: each row's masks are the ones `prism segment` returns for that image
/// and prompt (the same selection rule), each image is embedded once, bad prompts become error rows.
final class BatchSegmentTests: XCTestCase {
    static let predictor = try! SamPredictor(directory: BatchFixtures.root.appendingPathComponent("Weights/prism-sam-tiny"))

    func testRowsEqualThePredictorAndEmbedEachImageOnce() throws {
        let dir = temporaryDirectory("batch-segment")
        try BatchFixtures.images([1, 2], in: dir)
        let input = dir.appendingPathComponent("rows.jsonl")
        try BatchFixtures.jsonl([
            #"{"id": 1, "image": "images/img1.png", "points": [[24, 20]]}"#,
            #"{"id": 2, "image": "images/img1.png", "points": [[24, 20], [2, 2, 0]], "box": [10, 8, 40, 32]}"#,
            #"{"id": 3, "image": "images/img2.png", "box": [[10, 8, 40, 32], [0, 0, 20, 20]]}"#,
            #"{"id": 4, "image": "images/img1.png", "points": [[99, 20]]}"#,
            #"{"id": 5, "image": "images/img2.png", "points": [[1, 2, 3, 4, 5]]}"#,
            #"{"id": 6, "image": "images/img2.png"}"#,
        ], at: input)
        var options = BatchSegmentOptions(imageKey: "image")
        options.idKey = "id"
        let segmenter = BatchSegmenter(predictor: Self.predictor, options: options)
        let batchInput = try BatchInput(paths: [input.path])
        let out = dir.appendingPathComponent("masks.jsonl")
        let progress = try segmenter.run(batchInput, into: try BatchOutput(path: out.path, range: batchInput.range, resume: false))
        XCTAssertEqual(segmenter.embeddings, 2, "two images, six rows")
        XCTAssertEqual(progress.errors, 3)
        XCTAssertEqual(progress.outputs, 4)
        let rows = try BatchFixtures.lines(out).map(BatchFixtures.object)
        XCTAssertEqual(rows.map { $0["id"] as? Int }, [1, 2, 3, 4, 5, 6])

        // masks as the predictor gives them on the image alone
        let image1 = try RGBImage(contentsOf: dir.appendingPathComponent("images/img1.png"))
        let image2 = try RGBImage(contentsOf: dir.appendingPathComponent("images/img2.png"))
        let e1 = Self.predictor.embed(image1), e2 = Self.predictor.embed(image2)
        func rle(_ e: ImageEmbedding, _ points: [SamPoint], _ box: SamBox?) throws -> String {
            let (p, k) = try Self.predictor.selectedMask(e, points: points, box: box)
            return try RLE(mask: p.mask(k), width: p.width, height: p.height).compressedCounts
        }
        func counts(_ row: [String: Any]) -> [String] {
            (row["masks"] as! [[String: Any]]).map { ($0["rle"] as! [String: Any])["counts"] as! String }
        }
        XCTAssertEqual(counts(rows[0]), [try rle(e1, [SamPoint(x: 24, y: 20)], nil)])
        XCTAssertEqual(counts(rows[1]), [try rle(e1, [SamPoint(x: 24, y: 20), SamPoint(x: 2, y: 2, label: .negative)],
                                                 SamBox(x0: 10, y0: 8, x1: 40, y1: 32))])
        XCTAssertEqual(counts(rows[2]), [try rle(e2, [], SamBox(x0: 10, y0: 8, x1: 40, y1: 32)),
                                         try rle(e2, [], SamBox(x0: 0, y0: 0, x1: 20, y1: 20))])
        XCTAssertEqual(((rows[0]["masks"] as! [[String: Any]])[0]["rle"] as! [String: Any])["size"] as? [Int], [40, 48])
        XCTAssertEqual(rows[0]["width"] as? Int, 48)

        XCTAssertEqual(rows[3]["error"] as? String, "\(input.path):4: point (99, 20) is outside the 48×40 image")
        XCTAssertEqual(rows[4]["error"] as? String, "\(input.path):5: \"points\": a point is [x, y] or [x, y, label] with label 1 or 0, found 5 numbers")
        XCTAssertEqual(rows[5]["error"] as? String, "\(input.path):6: no prompt: the row has neither \"points\" nor \"box\"")
    }
}
