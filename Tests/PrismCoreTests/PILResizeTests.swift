import PrismCore
import PrismTestSupport
import XCTest

final class PILResizeTests: XCTestCase {
    /// Bit-exact against Pillow's BICUBIC resize (antialiased shrink, enlarge, one axis at a time).
    func testMatchesPillowExactly() throws {
        let g = try Golden("pil_resize.safetensors")
        let src = g.tensor("src")                                   // [H, W, 3]
        let pixels = src.data.map { UInt8($0) }
        for name in ["shrink", "enlarge", "width_only", "height_only"] {
            let e = g.tensor(name)
            let out = pilResizeBicubic(pixels, width: src.shape[1], height: src.shape[0], channels: 3,
                                       toWidth: e.shape[1], toHeight: e.shape[0])
            XCTAssertEqual(out.map(Float.init), e.data, name)
        }
    }
}
