import Foundation
import PrismTestSupport
import XCTest

/// `prism convert` option parsing as a user meets it.
final class ConvertCommandTests: XCTestCase {
    /// Output compression offers only what can be written: `auto` (sniffing) is an input choice, so it is neither
    /// listed for --compression nor accepted there (it used to be listed, then rejected).
    func testOutputCompressionOffersOnlyWritableKinds() throws {
        let home = fixtureURL("../../..").path
        let help = try runPrism(["convert", "--help"], home: home)
        XCTAssertEqual(help.status, 0, help.stderr)
        let line = help.stdout.components(separatedBy: "--compression <compression>")[1].prefix(120)
        XCTAssertTrue(line.contains("none, gzip, zlib"), String(line))
        XCTAssertFalse(line.contains("auto"), String(line))
        let r = try runPrism(["convert", "in.tfrecord", "-o", "out", "--compression", "auto"], home: home)
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("'auto'"), r.stderr)
    }
}
