import Foundation
import PrismCore
import PrismIO
import PrismTestSupport
@testable import PrismVLM
import XCTest

/// End to end on the tiny official-layout checkpoint: images → processor → MoonViT → projector → spliced
/// over the <|media_pad|> ids → decoder logits, against the reference (Tools/reference/kimivl_tiny.py).
final class KimiVLTests: XCTestCase {
    let g = try! Golden("vision_golden.safetensors")

    func images(_ m: KimiVL) throws -> [ProcessedImage] {
        try (0..<2).map { i in
            let t = g.tensor("image\(i).pixels")
            return try m.imageProcessor(RGBImage(width: t.shape[1], height: t.shape[0], pixels: t.data.map { UInt8($0) }))
        }
    }

    func testPromptWithTwoImagesMatchesReference() throws {
        let m = MoonViTTests.model
        XCTAssertEqual(m.mediaPadId, 163605)
        let ids = g.ints("prompt.ids")
        let hidden = try m.prefillHidden([Prompt(tokens: ids, images: try images(m))], caches: [m.newCache()])
        let logits = m.decoder.logits(hidden), e = g.tensor("prompt.logits")
        assertClose(logits, e, atol: 1e-4, rtol: 1e-4)
        print("end-to-end parity: logits max|Δ| \(logits.maxAbsDifference(e)), relative \(logits.maxAbsDifference(e) / e.data.map(abs).max()!)")
    }

    func testPlaceholderCountMustMatch() throws {
        let m = MoonViTTests.model
        let imgs = try images(m)
        var ids = g.ints("prompt.ids")
        ids.removeLast(3)
        ids.remove(at: ids.firstIndex(of: 163605)!)
        assertThrowsMessage("prompt 0: 17 <|media_pad|> tokens but its images produce 18 image tokens (they must be equal)") {
            try m.prefill(Prompt(tokens: ids, images: imgs), cache: m.newCache())
        }
    }

    /// Greedy generation from the prompt with images, then the same with a cache reused across calls.
    func testGreedyGenerationIsDeterministicAndStops() throws {
        let m = MoonViTTests.model
        let prompt = Prompt(tokens: g.ints("prompt.ids"), images: try images(m))
        let engine = GenerationEngine(model: m)
        let a = try engine.generate(GenerationRequest(prompt: prompt, maxTokens: 5))
        let b = try engine.generate(GenerationRequest(prompt: prompt, maxTokens: 5))
        XCTAssertEqual(a.tokens, b.tokens)
        XCTAssertEqual(a.tokens.count, 5)
        XCTAssertEqual(a.finish, .length)
        // the first greedy token is the argmax of the reference's last-row logits
        let e = g.tensor("prompt.logits")
        let lastRow = Array(e.data[(e.count - 96)...])
        XCTAssertEqual(a.tokens[0], lastRow.indices.max { lastRow[$0] < lastRow[$1] }!)
        let c = try engine.generate(GenerationRequest(prompt: prompt, maxTokens: 5, stopTokens: [a.tokens[2]]))
        XCTAssertEqual(c.tokens, Array(a.tokens[0..<a.tokens.firstIndex(of: a.tokens[2])!]))
        XCTAssertEqual(c.finish, .stop(token: a.tokens[2]))
    }

    /// `Tools/make_random_checkpoint.py --preset tiny`: sharded index, bf16, official names. Loads and generates
    /// from a prompt with an image, and a packed prefill of it with a text-only prompt matches separate runs.
    func testRandomTinyCheckpointLoadsAndGenerates() throws {
        let m = try KimiVL.load(directory: fixtureURL("random_tiny"))
        XCTAssertEqual(m.decoder.embedTokens.dtype, .bf16)
        let pixels = (0..<(60 * 40 * 3)).map { UInt8(($0 * 7) % 256) }
        let img = try m.imageProcessor(RGBImage(width: 60, height: 40, pixels: pixels))
        XCTAssertEqual(img.grid, GridSize(h: 4, w: 6))
        let withImage = Prompt(tokens: [1, 2] + Array(repeating: m.mediaPadId, count: img.tokenCount) + [3, 4], images: [img])
        let textOnly = Prompt(tokens: [9, 8, 7])
        let params = SamplingParameters(temperature: 0.7, topP: 0.9, topK: 20, repetitionPenalty: 1.1, seed: 3)
        let out = try GenerationEngine(model: m).generate(GenerationRequest(prompt: withImage, sampling: params, maxTokens: 4, stopTokens: [251]))
        XCTAssertFalse(out.tokens.isEmpty)
        XCTAssertTrue(out.tokens.allSatisfy { $0 >= 0 && $0 < 256 })
        let packed = try m.prefill([withImage, textOnly], caches: [m.newCache(), m.newCache()])
        let a = try m.prefill(withImage, cache: m.newCache()), b = try m.prefill(textOnly, cache: m.newCache())
        XCTAssertLessThan(packed.slice(rows: 0..<1).maxAbsDifference(Tensor(shape: [1, 256], data: a)), 1e-5)
        XCTAssertLessThan(packed.slice(rows: 1..<2).maxAbsDifference(Tensor(shape: [1, 256], data: b)), 1e-5)
    }
}
