import PrismCore
import PrismTestSupport
import XCTest

final class ResizePILTests: XCTestCase {
    let g = try! Golden("sam_core_ops.safetensors")

    /// Pillow's output is integer arithmetic, so the port must match it byte for byte.
    func testMatchesPillowBilinearExactly() {
        let image = g.tensor("resize.image")            // [37, 53, 3] uint8
        let pixels = image.data.map { UInt8($0) }
        for tag in ["down", "up", "mixed", "same_h"] {
            let expected = g.tensor("resize.\(tag)")
            let (h, w) = (expected.shape[0], expected.shape[1])
            let out = resizeBilinearPIL(pixels, width: 53, height: 37, channels: 3, toWidth: w, toHeight: h)
            XCTAssertEqual(out, expected.data.map { UInt8($0) }, "resize to \(w)×\(h) (\(tag))")
        }
    }

    func testSameSizeIsIdentity() {
        let px: [UInt8] = [1, 2, 3, 4, 5, 6]
        XCTAssertEqual(resizeBilinearPIL(px, width: 2, height: 1, channels: 3, toWidth: 2, toHeight: 1), px)
    }
}
