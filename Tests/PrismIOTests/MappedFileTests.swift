import Foundation
import PrismIO
import PrismTestSupport
import XCTest

/// readFile, AtomicFileWriter and createDirectory report the system's reason (issue #19: on a read-only
/// filesystem `segment` said "The file doesn't exist").
final class MappedFileTests: XCTestCase {
    func testFileErrorsCarryTheSystemReason() throws {
        let dir = temporaryDirectory()
        assertThrowsMessage("\(dir.path): cannot read image: Is a directory") { try RGBImage(contentsOf: dir) }
        let img = RGBImage(width: 1, height: 1, pixels: [1, 2, 3])
        // /sys refuses new files even for root; a path below a regular file is not a directory
        assertThrowsMessage("/sys/prism-test.png: cannot write: Permission denied") {
            try writePNG(pixels: img.pixels, width: 1, height: 1, channels: 3, to: URL(fileURLWithPath: "/sys/prism-test.png"))
        }
        let file = dir.appendingPathComponent("f")
        try writeAtomically(Data([1]), to: file)
        assertThrowsMessage("\(file.path)/x.png: cannot write: Not a directory") {
            try writePNG(pixels: img.pixels, width: 1, height: 1, channels: 3, to: file.appendingPathComponent("x.png"))
        }
        assertThrowsMessage("\(file.path)/sub: cannot write: Not a directory") { try createDirectory(file.appendingPathComponent("sub")) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["f"], "no temporary file is left behind")
    }
}
