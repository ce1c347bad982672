import Foundation
import PrismIO
@testable import PrismSAM
import PrismTestSupport
import XCTest

/// RLE against pycocotools (Tools/reference/rle_fixtures.py → Fixtures/rle/cases.json): the same compressed
/// string, runs, area and toBbox for every mask, and decoding gives the mask back exactly.
final class RLETests: XCTestCase {
    struct Case {
        let name: String, height: Int, width: Int
        let counts: String, runs: [Int], area: Int, bbox: [Int]
        let mask: [UInt8]
    }

    func loadCases() throws -> [Case] {
        let data = try Data(contentsOf: fixtureURL("rle/cases.json"))
        let root = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        return try (root["cases"] as! [[String: Any]]).map { c in
            let h = c["height"] as! Int, w = c["width"] as! Int
            let mask: [UInt8]
            if let rows = c["rows"] as? [String] {
                mask = rows.flatMap { $0.utf8.map { $0 == UInt8(ascii: "1") ? 1 : 0 } }
            } else {
                let img = try RGBImage(contentsOf: fixtureURL("rle/" + (c["png"] as! String)))
                XCTAssertEqual([img.width, img.height], [w, h])
                mask = stride(from: 0, to: img.pixels.count, by: 3).map { img.pixels[$0] > 127 ? 1 : 0 }
            }
            return Case(name: c["name"] as! String, height: h, width: w, counts: c["counts"] as! String,
                        runs: c["runs"] as! [Int], area: c["area"] as! Int, bbox: c["bbox"] as! [Int], mask: mask)
        }
    }

    func testMatchesPycocotools() throws {
        let cases = try loadCases()
        XCTAssertEqual(cases.count, 10)
        for c in cases {
            let rle = try RLE(mask: c.mask, width: c.width, height: c.height)
            XCTAssertEqual(rle.counts, c.runs, c.name)
            XCTAssertEqual(rle.compressedCounts, c.counts, c.name)
            XCTAssertEqual(rle.area, c.area, c.name)
            XCTAssertEqual(rle.bbox, c.bbox, c.name)
            let decoded = try RLE(compressed: c.counts, height: c.height, width: c.width)
            XCTAssertEqual(decoded.counts, c.runs, c.name)
            XCTAssertEqual(decoded.mask(), c.mask, c.name)
        }
    }

    /// `prism segment --json`'s RLE and its mask PNGs (Fixtures/rle/prism, checked against pycocotools by
    /// Tools/reference/check_prism_rle.py): the RLE decodes to the PNG, and the PNG encodes to the RLE.
    func testPrismSegmentFixtureRoundTrips() throws {
        let data = try Data(contentsOf: fixtureURL("rle/prism/segment.json"))
        let result = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let files = (result["files"] as! [String]).filter { !$0.hasSuffix("overlay.png") }
        let masks = result["masks"] as! [[String: Any]]
        XCTAssertEqual(files.count, 4)
        XCTAssertEqual(masks.count, 4)
        for (file, m) in zip(files, masks) {
            let seg = m["segmentation"] as! [String: Any]
            let img = try RGBImage(contentsOf: fixtureURL("rle/prism/" + file))
            let png = stride(from: 0, to: img.pixels.count, by: 3).map { img.pixels[$0] > 127 ? UInt8(1) : 0 }
            let rle = try RLE(cocoObject: seg)
            XCTAssertEqual(rle.mask(), png, file)
            XCTAssertEqual(rle.area, m["area"] as! Int, file)
            XCTAssertEqual(try RLE(mask: png, width: img.width, height: img.height).compressedCounts, seg["counts"] as! String, file)
        }
    }

    func testCocoObjectRoundTrip() throws {
        let mask: [UInt8] = [0, 1, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1]        // 4 × 3
        let rle = try RLE(mask: mask, width: 4, height: 3)
        let json = try JSONSerialization.data(withJSONObject: rle.cocoObject)
        let back = try RLE(cocoObject: try JSONSerialization.jsonObject(with: json) as! [String: Any])
        XCTAssertEqual(back, rle)
        XCTAssertEqual(back.mask(), mask)
        let uncompressed = try RLE(cocoObject: ["size": [3, 4], "counts": rle.counts])
        XCTAssertEqual(uncompressed.mask(), mask)
    }

    func testRejectsBadInput() {
        XCTAssertThrowsError(try RLE(compressed: "0h0", height: 4, width: 5)) {
            XCTAssertEqual($0 as? RLEError, .countsSum(expected: 20, actual: 24))
            XCTAssertEqual("\($0)", "RLE counts add up to 24 pixels, expected height × width = 20")
        }
        XCTAssertThrowsError(try RLE(compressed: "0h~", height: 4, width: 6)) {
            XCTAssertEqual($0 as? RLEError, .invalidCharacter(position: 2, byte: UInt8(ascii: "~")))
        }
        XCTAssertThrowsError(try RLE(compressed: "0P", height: 4, width: 6)) {   // 'P' = 32: more groups follow
            XCTAssertEqual($0 as? RLEError, .truncated(position: 2))
        }
        XCTAssertThrowsError(try RLE(mask: [1, 0, 1], width: 2, height: 2)) {
            XCTAssertEqual($0 as? RLEError, .maskSize(expected: 4, actual: 3))
        }
        XCTAssertThrowsError(try RLE(height: 2, width: 2, counts: [2, -1, 3])) {
            XCTAssertEqual($0 as? RLEError, .negativeRun(index: 1))
        }
        XCTAssertThrowsError(try RLE(compressed: "", height: 0, width: 3)) {
            XCTAssertEqual($0 as? RLEError, .invalidSize(height: 0, width: 3))
        }
    }
}
