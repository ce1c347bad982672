import Foundation
import PrismCore
import PrismIO
import PrismTestSupport
import XCTest

final class ImageTests: XCTestCase {
    let expected = try! SafetensorsFile(path: fixtureURL("images/expected.safetensors").path)

    /// Prism's libjpeg/libpng decode equals Pillow's (PNG exactly; JPEG within IDCT rounding).
    func testDecodesLikePillow() throws {
        for (name, tolerance) in [("rgb.png", 0), ("gray.png", 0), ("palette.png", 0), ("rgba_opaque.png", 0),
                                  ("rgb_q95.jpg", 2), ("gray.jpg", 2), ("progressive.jpg", 2)] {
            let img = try RGBImage(contentsOf: fixtureURL("images/\(name)"))
            let want = try expected.view(name)
            XCTAssertEqual([img.height, img.width, 3], want.shape, name)
            let ref = want.toInts()
            let worst = zip(img.pixels, ref).map { abs(Int($0) - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, tolerance, "\(name): max pixel difference \(worst)")
        }
    }

    func testCorruptFilesGiveOneLineErrors() throws {
        for (name, format) in [("truncated.jpg", "JPEG"), ("truncated.png", "PNG"), ("badcrc.png", "PNG")] {
            let url = fixtureURL("images/\(name)")
            XCTAssertThrowsError(try RGBImage(contentsOf: url), name) { error in
                guard case let ImageError.decodeFailed(path, f, reason) = error else { return XCTFail("\(name): \(error)") }
                XCTAssertEqual(path, url.path); XCTAssertEqual(f, format); XCTAssertFalse(reason.isEmpty)
                XCTAssertFalse("\(error)".contains("\n"))
            }
        }
        let text = fixtureURL("images/notanimage.jpg")
        assertThrowsMessage("\(text.path): not a JPEG or PNG image") { try RGBImage(contentsOf: text) }
        assertThrowsMessage("/no/such.png: cannot read image: No such file or directory") { try RGBImage(contentsOf: URL(fileURLWithPath: "/no/such.png")) }
    }

    func testPNGEncodeRoundTrips() throws {
        let img = try RGBImage(contentsOf: fixtureURL("images/rgb.png"))
        XCTAssertEqual(try RGBImage(data: try img.pngData()), img)
        let gray: [UInt8] = (0..<12).map { UInt8($0 * 20) }
        let rgb = try RGBImage(data: try encodePNG(pixels: gray, width: 4, height: 3, channels: 1))
        XCTAssertEqual(rgb.pixels, gray.flatMap { [$0, $0, $0] })
    }

    func testTensorIsChannelMajorInUnitRange() throws {
        let img = RGBImage(width: 2, height: 1, pixels: [255, 0, 51, 0, 102, 255])
        let t = img.tensorCHW()
        XCTAssertEqual(t.shape, [3, 1, 2])
        XCTAssertEqual(t.data, [1, 0, 0, 0.4, 0.2, 1])
    }
}
