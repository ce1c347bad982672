import PrismCore
import PrismTestSupport
import XCTest

/// Pillow's resize is integer arithmetic, so the port must match it byte for byte.
final class PillowResizeTests: XCTestCase {
    static let cases = ["shrink", "enlarge", "width_only", "height_only", "flat", "tall_vfirst", "tall_hfirst", "edge_vfirst", "edge_hfirst"]

    /// Goldens from Pillow 12.3 and 13.0 (Tools/reference/pil_resize.py, one venv each): each order matches its own.
    func testMatchesPillow12And13Exactly() throws {
        for (order, file) in [(PillowPassOrder.pillow13, "pil_resize_pillow13.safetensors"), (.pillow12, "pil_resize_pillow12.safetensors")] {
            let g = try Golden(file)
            for filter in [PillowFilter.bicubic, .bilinear] {
                for name in Self.cases {
                    let src = g.tensor(name.hasSuffix("first") ? "tall" : "src")        // [H, W, 3]
                    let e = g.tensor("\(filter == .bicubic ? "bicubic" : "bilinear").\(name)")
                    let out = pillowResize(src.data.map { UInt8($0) }, width: src.shape[1], height: src.shape[0], channels: 3,
                                           toWidth: e.shape[1], toHeight: e.shape[0], filter: filter, order: order)
                    XCTAssertEqual(out.map(Float.init), e.data, "\(file) \(filter) \(name)")
                }
            }
        }
    }

    /// The rule read from Pillow 13.0.0's Resample.c, and that the two orders really differ on the tall case.
    func testPassOrderRule() throws {
        XCTAssertTrue(PillowPassOrder.pillow13.verticalFirst(width: 61, height: 230, toWidth: 52, toHeight: 199))
        XCTAssertFalse(PillowPassOrder.pillow13.verticalFirst(width: 61, height: 230, toWidth: 30, toHeight: 199))
        XCTAssertTrue(PillowPassOrder.pillow13.verticalFirst(width: 23, height: 90, toWidth: 18, toHeight: 78))   // 12 > 2·5
        XCTAssertFalse(PillowPassOrder.pillow13.verticalFirst(width: 23, height: 90, toWidth: 17, toHeight: 78))  // 12 = 2·6
        XCTAssertTrue(PillowPassOrder.pillow13.verticalFirst(width: 50, height: 40, toWidth: 80, toHeight: 39))   // width grows
        XCTAssertFalse(PillowPassOrder.pillow13.verticalFirst(width: 50, height: 40, toWidth: 50, toHeight: 40))
        XCTAssertFalse(PillowPassOrder.pillow12.verticalFirst(width: 61, height: 230, toWidth: 52, toHeight: 199))
        XCTAssertEqual(PillowPassOrder.preferred, .pillow13)
        let g = try Golden("pil_resize_pillow13.safetensors"), src = g.tensor("tall")
        let px = src.data.map { UInt8($0) }
        let new = pillowResize(px, width: 23, height: 90, channels: 3, toWidth: 20, toHeight: 78, filter: .bilinear, order: .pillow13)
        let old = pillowResize(px, width: 23, height: 90, channels: 3, toWidth: 20, toHeight: 78, filter: .bilinear, order: .pillow12)
        XCTAssertGreaterThan(zip(new, old).filter { $0 != $1 }.count, 100)
    }

    func testMatchesPillowBilinearExactly() throws {
        let g = try Golden("sam_core_ops.safetensors")              // Tools/reference/sam_core_ops.py
        let image = g.tensor("resize.image")                        // [37, 53, 3] uint8
        let pixels = image.data.map { UInt8($0) }
        for tag in ["down", "up", "mixed", "same_h"] {
            let expected = g.tensor("resize.\(tag)")
            let (h, w) = (expected.shape[0], expected.shape[1])
            let out = pillowResize(pixels, width: 53, height: 37, channels: 3, toWidth: w, toHeight: h, filter: .bilinear)
            XCTAssertEqual(out, expected.data.map { UInt8($0) }, "resize to \(w)×\(h) (\(tag))")
        }
    }

    func testSameSizeIsIdentity() {
        let px: [UInt8] = [1, 2, 3, 4, 5, 6]
        XCTAssertEqual(pillowResize(px, width: 2, height: 1, channels: 3, toWidth: 2, toHeight: 1, filter: .bicubic), px)
    }
}
