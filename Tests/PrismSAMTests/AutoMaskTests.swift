import Foundation
import PrismIO
@testable import PrismSAM
import PrismTestSupport
import XCTest

/// Segment-everything against segment-anything's SamAutomaticMaskGenerator running the same embedded model
/// through transformers (Tools/reference/automask_fixtures.py → Fixtures/automask/automask.json).
final class AutoMaskTests: XCTestCase {
    static let root = URL(fileURLWithPath: "\(#filePath)").deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let predictor = try! SamPredictor(directory: root.appendingPathComponent("Weights/prism-sam-tiny"))

    struct Expected { let rle: RLE; let bbox: [Int]; let iou: Double; let stability: Double; let point: [Double]; let crop: [Int] }

    func cases() throws -> [(name: String, image: String, settings: AutoMaskSettings, masks: [Expected])] {
        let data = try Data(contentsOf: fixtureURL("automask/automask.json"))
        let root = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        return try (root["cases"] as! [[String: Any]]).map { c in
            var s = AutoMaskSettings()
            let given = c["settings"] as! [String: Any]
            if let v = given["points_per_side"] as? Int { s.pointsPerSide = v }
            if let v = given["crop_n_layers"] as? Int { s.cropNLayers = v }
            if let v = given["min_mask_region_area"] as? Int { s.minMaskRegionArea = v }
            XCTAssertTrue(Set(given.keys).isSubset(of: ["points_per_side", "crop_n_layers", "min_mask_region_area"]))
            let masks = try (c["masks"] as! [[String: Any]]).map { m in
                Expected(rle: try RLE(cocoObject: m["segmentation"] as! [String: Any]),
                         bbox: (m["bbox"] as! [Double]).map { Int($0) }, iou: m["predicted_iou"] as! Double,
                         stability: m["stability_score"] as! Double, point: (m["point_coords"] as! [[Double]])[0],
                         crop: (m["crop_box"] as! [Double]).map { Int($0) })
            }
            return (c["name"] as! String, c["image"] as! String, s, masks)
        }
    }

    func testMatchesSamAutomaticMaskGenerator() throws {
        let all = try cases()
        XCTAssertEqual(all.map(\.name), ["scene_default", "shapes_crops"])
        for c in all {
            let image = try RGBImage(contentsOf: Self.root.appendingPathComponent(c.image))
            let got = try AutoMaskGenerator(predictor: Self.predictor, settings: c.settings).generate(image)
            // the bar: same count ± 5 %, ≥ 95 % of the reference masks matched at mask IoU ≥ 0.95
            XCTAssertLessThanOrEqual(abs(got.count - c.masks.count), c.masks.count / 20, c.name)
            var used = Set<Int>(), matched = 0
            for e in c.masks {
                let want = e.rle.mask()
                guard let (j, iou) = got.indices.filter({ !used.contains($0) })
                    .map({ ($0, maskIoU(got[$0].rle.mask(), want)) }).max(by: { $0.1 < $1.1 }), iou >= 0.95 else { continue }
                used.insert(j); matched += 1
                let g = got[j]
                XCTAssertEqual(g.box.xywh, e.bbox, c.name)
                XCTAssertEqual(Double(g.predictedIoU), e.iou, accuracy: 2e-3, c.name)
                XCTAssertEqual(Double(g.stabilityScore), e.stability, accuracy: 5e-3, c.name)
                XCTAssertEqual([g.point.x, g.point.y], e.point, c.name)
                XCTAssertEqual(g.cropBox, [e.crop[0], e.crop[1], e.crop[0] + e.crop[2], e.crop[1] + e.crop[3]], c.name)
            }
            XCTAssertGreaterThanOrEqual(Double(matched), 0.95 * Double(c.masks.count), c.name)
            print("\(c.name): \(got.count) masks, reference \(c.masks.count), matched \(matched)")
        }
    }

    /// amg.py's geometry, values worked out from its formulas.
    func testGridAndCropBoxes() {
        let g = AutoMaskGenerator.pointGrid(4)
        XCTAssertEqual(g.count, 16)
        XCTAssertEqual(g[0].0, 0.125); XCTAssertEqual(g[1].0, 0.375); XCTAssertEqual(g[3].0, 0.875); XCTAssertEqual(g[4].1, 0.375)
        XCTAssertEqual(AutoMaskGenerator.pointGrid(1).map { [$0.0, $0.1] }, [[0.5, 0.5]])
        // 405 × 344, one layer: overlap int(512/1500 · 344 · 1) = 117, crop w ceil((117 + 405)/2) = 261, h ceil(461/2) = 231
        let boxes = AutoMaskGenerator.cropBoxes(width: 405, height: 344, layers: 1, overlapRatio: 512.0 / 1500.0)
        XCTAssertEqual(boxes.map(\.box), [[0, 0, 405, 344], [0, 0, 261, 231], [0, 114, 261, 344], [144, 0, 405, 231], [144, 114, 405, 344]])
        XCTAssertEqual(boxes.map(\.layer), [0, 1, 1, 1, 1])
    }

    func testNMSKeepsHighestAndSuppressesOverlaps() {
        let boxes = [MaskBox(x0: 0, y0: 0, x1: 10, y1: 10), MaskBox(x0: 1, y0: 0, x1: 11, y1: 10),
                     MaskBox(x0: 20, y0: 20, x1: 30, y1: 30), MaskBox(x0: 0, y0: 0, x1: 10, y1: 10)]
        // box 1 overlaps box 0 with IoU 90/110 = 0.818; box 3 equals box 0 with the same score (input order wins)
        XCTAssertEqual(AutoMaskGenerator.nms(boxes, scores: [0.5, 0.9, 0.7, 0.5], threshold: 0.7), [1, 2])
        XCTAssertEqual(AutoMaskGenerator.nms(boxes, scores: [0.5, 0.9, 0.7, 0.5], threshold: 0.9), [1, 2, 0])
    }

    func testSmallRegionsFillHolesAndDropIslands() {
        // 8 × 6: a 5 × 5 block with a 1-pixel hole, and a 2-pixel island apart from it
        let rows = ["11111000", "11111000", "11011000", "11111000", "11111011", "00000000"]
        var mask = rows.flatMap { $0.map { $0 == "1" ? UInt8(1) : 0 } }
        XCTAssertTrue(AutoMaskGenerator.removeSmallRegions(&mask, width: 8, height: 6, area: 3, holes: true))
        XCTAssertEqual(mask[2 * 8 + 2], 1)                                       // hole filled
        XCTAssertTrue(AutoMaskGenerator.removeSmallRegions(&mask, width: 8, height: 6, area: 3, holes: false))
        XCTAssertEqual(mask[4 * 8 + 6], 0); XCTAssertEqual(mask[4 * 8 + 7], 0)   // island (2 px) removed
        XCTAssertEqual(mask.reduce(0) { $0 + Int($1) }, 25)
        XCTAssertFalse(AutoMaskGenerator.removeSmallRegions(&mask, width: 8, height: 6, area: 3, holes: false))
        // all islands small: the largest stays
        var two = [UInt8]([1, 1, 0, 0, 1, 0, 0, 0, 0])
        XCTAssertTrue(AutoMaskGenerator.removeSmallRegions(&two, width: 3, height: 3, area: 5, holes: false))
        XCTAssertEqual(two, [1, 1, 0, 0, 1, 0, 0, 0, 0].map { UInt8($0) })       // 8-connected: one region of 3
        var apart = [UInt8]([1, 1, 0, 0, 0, 0, 1, 0, 0])
        XCTAssertTrue(AutoMaskGenerator.removeSmallRegions(&apart, width: 3, height: 3, area: 5, holes: false))
        XCTAssertEqual(apart, [1, 1, 0, 0, 0, 0, 0, 0, 0])
    }

    func testClickRuleAndMaskFiles() throws {
        let click = SamPoint(x: 1, y: 1), box = SamBox(x0: 0, y0: 0, x1: 5, y1: 5)
        XCTAssertTrue(SamPredictor.isAmbiguous(points: [click], box: nil))
        XCTAssertTrue(SamPredictor.isAmbiguous(points: [], box: box))
        XCTAssertFalse(SamPredictor.isAmbiguous(points: [click, click], box: nil))
        XCTAssertFalse(SamPredictor.isAmbiguous(points: [click], box: box))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("prism-maskfiles-\(UUID().uuidString)/sub")
        defer { try? FileManager.default.removeItem(at: dir.deletingLastPathComponent()) }
        let first = try MaskFiles.next(in: dir, stem: "scene")
        XCTAssertEqual(first.mask.lastPathComponent, "scene-seg1-mask.png")
        XCTAssertEqual(try MaskFiles.next(in: dir, stem: "scene").number, 1)              // nothing written yet
        try Data().write(to: first.overlay)
        XCTAssertEqual(try MaskFiles.next(in: dir, stem: "scene").candidate(2).lastPathComponent, "scene-seg2-candidate2.png")
        XCTAssertEqual(try MaskFiles.next(in: dir, stem: "other").number, 1)
    }
}

