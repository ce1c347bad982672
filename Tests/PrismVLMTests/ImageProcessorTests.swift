import PrismCore
import PrismIO
import PrismTestSupport
@testable import PrismVLM
import XCTest

final class ImageProcessorTests: XCTestCase {
    let g = try! Golden("vision_golden.safetensors")

    func image(_ i: Int) -> RGBImage {
        let t = g.tensor("image\(i).pixels")                         // [H, W, 3]
        return RGBImage(width: t.shape[1], height: t.shape[0], pixels: t.data.map { UInt8($0) })
    }

    /// Pad-only (70×45 → 84×56) and shrink-then-pad (100×130 over in_token_limit 40 → 79×103 → 84×112),
    /// equal to the reference pipeline (Pillow BICUBIC, black padding, (x − 0.5)/0.5, 14×14 patches).
    func testMatchesReferencePreprocessing() throws {
        let p = ImageProcessor(config: try JSONConfig.load(PreprocessorConfig.self,
                                                           from: fixtureURL("kimivl_tiny/preprocessor_config.json")))
        for i in 0..<2 {
            let out = try p(image(i))
            let grid = g.ints("image\(i).grid")
            XCTAssertEqual(out.grid, GridSize(h: grid[0], w: grid[1]))
            XCTAssertEqual(out.tokenCount, grid[0] * grid[1] / 4)
            assertClose(out.pixelValues, g.tensor("image\(i).pixel_values"), atol: 1e-6, rtol: 0, "image \(i)")
        }
    }

    /// Token counts from the spec's worked examples with the real Kimi-VL values (in_token_limit 4096).
    func testKimiTokenCounts() {
        let p = ImageProcessor()
        func tokens(_ w: Int, _ h: Int) -> Int {
            let (rw, rh) = p.resizedSize(width: w, height: h)
            return ((rw + 27) / 28) * ((rh + 27) / 28)
        }
        XCTAssertEqual(tokens(896, 896), 1024)
        XCTAssertEqual(tokens(640, 480), 414)
        XCTAssertEqual(p.resizedSize(width: 1024, height: 1024).width, 897)
        XCTAssertEqual(tokens(1024, 1024), 1089)
        XCTAssertEqual(p.resizedSize(width: 1920, height: 1080).width, 1196)
        XCTAssertEqual(tokens(1920, 1080), 1032)
    }
}
