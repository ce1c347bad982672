import PrismCore
import PrismTestSupport
import XCTest

/// Pillow's resize is integer arithmetic, so the port must match it byte for byte.
final class PillowResizeTests: XCTestCase {
    func testMatchesPillowBicubicExactly() throws {
        let g = try Golden("pil_resize.safetensors")               // Tools/reference/pil_resize.py
        let src = g.tensor("src")                                   // [H, W, 3]
        let pixels = src.data.map { UInt8($0) }
        for name in ["shrink", "enlarge", "width_only", "height_only"] {
            let e = g.tensor(name)
            let out = pillowResize(pixels, width: src.shape[1], height: src.shape[0], channels: 3,
                                   toWidth: e.shape[1], toHeight: e.shape[0], filter: .bicubic)
            XCTAssertEqual(out.map(Float.init), e.data, name)
        }
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
