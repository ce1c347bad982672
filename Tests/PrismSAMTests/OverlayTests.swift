import PrismIO
@testable import PrismSAM
import XCTest

final class OverlayTests: XCTestCase {
    func testTintsMaskDrawsPointsAndBox() {
        let w = 40, h = 30
        let image = RGBImage(width: w, height: h, pixels: [UInt8](repeating: 100, count: w * h * 3))
        var mask = [UInt8](repeating: 0, count: w * h)
        mask[5 * w + 30] = 1                                       // one masked pixel, far from the prompts
        let out = Overlay.render(image, mask: mask, points: [SamPoint(x: 10, y: 10), SamPoint(x: 30, y: 20, label: .negative)],
                                 box: SamBox(x0: 2, y0: 2, x1: 37, y1: 27))
        func pixel(_ x: Int, _ y: Int) -> [UInt8] { Array(out.pixels[((y * w + x) * 3)..<((y * w + x) * 3 + 3)]) }
        XCTAssertEqual(pixel(30, 5), [65, 122, 178])               // 50 % blend of 100 with (30, 144, 255)
        XCTAssertEqual(pixel(10, 10), [0, 220, 0])                 // positive click
        XCTAssertEqual(pixel(30, 20), [230, 0, 0])                 // negative click
        XCTAssertEqual(pixel(20, 2), [255, 215, 0])                // box edge
        XCTAssertEqual(pixel(20, 15), [100, 100, 100])             // untouched
    }
}
