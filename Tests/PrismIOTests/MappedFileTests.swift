import Foundation
@testable import PrismIO
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

    /// The pages of a cached file are mapped into the process: the mapping's resident size (/proc/self/smaps) goes
    /// from nothing to (nearly) the whole file, one read per 16 pages and the kernel's fault-around doing the rest
    /// (a window that straddles its alignment can leave a page out). A file just written is in the page cache.
    func testMapCachedPagesMapsTheCachedFile() throws {
        let file = temporaryDirectory().appendingPathComponent("w.bin")
        try writeAtomically(Data(repeating: 7, count: 1 << 20), to: file)
        let m = try MappedFile(path: file.path)
        XCTAssertEqual(try residentKiB(m), 0)
        m.mapCachedPages()
        XCTAssertGreaterThanOrEqual(try residentKiB(m), 1024 * 15 / 16)
    }

    private func residentKiB(_ m: MappedFile) throws -> Int {
        let start = String(UInt(bitPattern: m.bytes.baseAddress!), radix: 16)
        let lines = String(decoding: try readFile(URL(fileURLWithPath: "/proc/self/smaps")), as: UTF8.self).split(separator: "\n")
        let at = try XCTUnwrap(lines.firstIndex { $0.hasPrefix(start + "-") }, "mapping not in smaps")
        let rss = try XCTUnwrap(lines[(at + 1)...].first { $0.hasPrefix("Rss:") })
        return Int(rss.split(separator: " ", omittingEmptySubsequences: true)[1])!
    }
}
