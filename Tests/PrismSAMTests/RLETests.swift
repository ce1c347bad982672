import PrismSAM
import PrismTestSupport
import XCTest

/// COCO RLE: runs column-major starting with 0s, compressed strings that decode to the same runs; pycocotools
/// decodes the server's output in Tests/Python/test_serve_openai.py.
final class RLETests: XCTestCase {
    func testRunsAreColumnMajorAndStartWithZeros() throws {
        // 3 × 2 (h × w), row-major: [1 0; 1 1; 0 1] → column-major 1 1 0 | 0 1 1
        let rle = try RLE(mask: [1, 0, 1, 1, 0, 1], width: 2, height: 3)
        XCTAssertEqual(rle.counts, [0, 2, 2, 2])
        XCTAssertEqual(rle.area, 4)
        XCTAssertEqual(rle.bbox, [0, 0, 2, 3])
        XCTAssertEqual(try RLE(mask: [0, 0, 0, 0], width: 2, height: 2).counts, [4])
        XCTAssertEqual(try RLE(mask: [0, 0, 0, 0], width: 2, height: 2).bbox, [0, 0, 0, 0])
    }

    /// Random masks of many shapes survive encode → compressed string → decode; area and bbox agree with the pixels.
    func testRoundTripThroughTheCompressedString() throws {
        var state: UInt64 = 42
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
        for trial in 0..<200 {
            let w = Int(next() % 40) + 1, h = Int(next() % 40) + 1
            let density = next() % 4
            // blobs of runs, so long runs (multi-group numbers, negative deltas) occur
            var mask = [UInt8](repeating: 0, count: w * h), i = 0
            while i < mask.count {
                let run = Int(next() % UInt64(trial % 3 == 0 ? 3 : 300)) + 1
                let on: UInt8 = next() % 4 < density ? 1 : 0
                for j in i..<min(mask.count, i + run) { mask[j] = on }
                i += run
            }
            let rle = try RLE(mask: mask, width: w, height: h)
            let back = try RLE(compressed: rle.compressedCounts, height: h, width: w)
            XCTAssertEqual(back.counts, rle.counts, "trial \(trial)")
            XCTAssertEqual(back.mask(), mask, "trial \(trial)")
            XCTAssertEqual(rle.area, mask.reduce(0) { $0 + Int($1) })
            let set = mask.indices.filter { mask[$0] != 0 }
            if set.isEmpty { XCTAssertEqual(rle.bbox, [0, 0, 0, 0]) } else {
                let xs = set.map { $0 % w }, ys = set.map { $0 / w }
                XCTAssertEqual(rle.bbox, [xs.min()!, ys.min()!, xs.max()! - xs.min()! + 1, ys.max()! - ys.min()! + 1])
            }
        }
    }

    func testMalformedInputIsAnError() {
        assertThrowsMessage("mask has 3 pixels, expected 4") { try RLE(mask: [0, 1, 0], width: 2, height: 2) }
        assertThrowsMessage("RLE counts: byte 32 at position 1 is not a run character") { try RLE(compressed: "1 ", height: 1, width: 1) }
        assertThrowsMessage("RLE counts: the string ends inside a run at position 1") { try RLE(compressed: "P", height: 1, width: 1) }
        assertThrowsMessage("RLE counts cover 3 pixels, expected height × width = 4") { try RLE(compressed: "3", height: 2, width: 2) }
    }
}
