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

    // MARK: - Limits and corrupt files (issue #19)

    /// Sets the frame size in a JPEG's SOF header (height then width, big-endian, 5 bytes after the marker).
    func jpeg(_ name: String, width: Int, height: Int) throws -> Data {
        var d = try Data(contentsOf: fixtureURL("images/\(name)"))
        let sof = try XCTUnwrap((0..<(d.count - 1)).first { d[$0] == 0xFF && (d[$0 + 1] == 0xC0 || d[$0 + 1] == 0xC2) })
        d[sof + 5] = UInt8(height >> 8); d[sof + 6] = UInt8(height & 0xFF)
        d[sof + 7] = UInt8(width >> 8); d[sof + 8] = UInt8(width & 0xFF)
        return d
    }

    /// Sets a PNG's IHDR width and height and recomputes the chunk's CRC.
    func png(_ name: String, width: UInt32, height: UInt32) throws -> Data {
        var d = try Data(contentsOf: fixtureURL("images/\(name)"))
        for (i, v) in [(16, width), (20, height)] { for k in 0..<4 { d[i + k] = UInt8(v >> (24 - 8 * UInt32(k)) & 0xFF) } }
        var crc: UInt32 = 0xFFFF_FFFF
        for b in d[12..<29] {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        crc = ~crc
        for k in 0..<4 { d[29 + k] = UInt8(crc >> (24 - 8 * UInt32(k)) & 0xFF) }
        return d
    }

    /// A 1 KB file whose header claims 30000×30000 is refused from the header (on main it allocated ~2.7 GB and
    /// then overflowed `w * h * 3` in Int32); raised limits let the same header through to the decoder.
    func testOversizedHeadersAreRefusedBeforeDecoding() throws {
        let limit = "over the limit of 16384 per side and 268435456 in all (raise it with --max-image-side / --max-image-pixels)"
        assertThrowsMessage("big.jpg: image is 30000×30000 pixels, \(limit)") {
            try RGBImage(data: try self.jpeg("rgb_q95.jpg", width: 30000, height: 30000), path: "big.jpg")
        }
        assertThrowsMessage("big.png: image is 30000×30000 pixels, \(limit)") {
            try RGBImage(data: try self.png("rgb.png", width: 30000, height: 30000), path: "big.png")
        }
        // within the side limit, over the pixel limit
        assertThrowsMessage("wide.png: image is 16384×16385 pixels, \(limit)") {
            try RGBImage(data: try self.png("rgb.png", width: 16384, height: 16385), path: "wide.png")
        }
        let small = ImageLimits(maxSide: 4, maxPixels: 16)
        XCTAssertThrowsError(try RGBImage(contentsOf: fixtureURL("images/rgb.png"), limits: small)) {
            guard case ImageError.tooLarge(_, _, _, small) = $0 else { return XCTFail("\($0)") }
        }
        // a raised limit lets the 30000² header reach libjpeg, which then finds the data missing
        let raised = ImageLimits(maxSide: 65535, maxPixels: 1 << 32)
        XCTAssertThrowsError(try RGBImage(data: try jpeg("rgb_q95.jpg", width: 30000, height: 30000), path: "big.jpg", limits: raised)) {
            guard case ImageError.decodeFailed("big.jpg", "JPEG", _) = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertEqual(raised.problem, nil)
        XCTAssertEqual(ImageLimits(maxSide: 70000).problem, "max image side must be in 1…65535, got 70000")
    }

    /// Every cut of a JPEG or PNG short of its last marker is an error, never an image padded with grey
    /// (main accepted a JPEG cut to 30 %).
    func testEveryTruncationIsAnError() throws {
        for name in ["rgb_q95.jpg", "progressive.jpg", "gray.jpg", "rgb.png", "palette.png", "gray.png"] {
            let data = try Data(contentsOf: fixtureURL("images/\(name)"))
            let format = name.hasSuffix("jpg") ? "JPEG" : "PNG"
            // all image data present, only the end marker lost (JPEG EOI, 2 bytes; PNG IEND, 12) still decodes
            let last = name.hasSuffix("jpg") ? data.count - 2 : data.count - 12
            for cut in 3..<last {
                XCTAssertThrowsError(try RGBImage(data: data.prefix(cut), path: "cut.\(format)"), "\(name) cut at \(cut)") { error in
                    switch error {
                    case ImageError.decodeFailed("cut.\(format)", format, _), ImageError.unknownFormat: break
                    default: XCTFail("\(name) cut at \(cut): \(error)")
                    }
                }
            }
        }
    }
}
