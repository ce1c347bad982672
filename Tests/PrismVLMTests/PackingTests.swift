import Foundation
import PrismCore
import PrismTestSupport
@testable import PrismVLM
import XCTest

final class PackingTests: XCTestCase {
    let g = try! Golden("decoder_golden.safetensors")

    func testPackedBatchBookkeeping() {
        let b = PackedBatch([[1, 2, 3], [4], [5, 6]])
        XCTAssertEqual(b.tokens, [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(b.cuSeqlens, [0, 3, 4, 6])
        XCTAssertEqual(b.lastRows, [2, 3, 5])
        XCTAssertEqual(b.rows(2), 4..<6)
    }

    /// Three prompts of different lengths in one flat batch give the logits of three separate runs,
    /// and then one packed decode step for all three equals three single decode steps.
    func testPackedPrefillEqualsSeparateRuns() throws {
        let m = DecoderTests.model
        let prompts = (0..<3).map { g.ints("prompt\($0).ids") }
        let batch = PackedBatch(prompts)
        let caches = prompts.map { _ in m.newCache() }
        let packed = m.decoder.logits(try m.prefillHidden(prompts.map { Prompt(tokens: $0) }, caches: caches))
        var worst: Float = 0
        for (i, p) in prompts.enumerated() {
            let alone = m.decoder.logits(m.decoder.forward(m.decoder.embed(p), lengths: [p.count], caches: [m.newCache()]))
            let d = packed.slice(rows: batch.rows(i)).maxAbsDifference(alone)
            worst = max(worst, d)
            XCTAssertLessThan(d, 1e-5, "prompt \(i)")
            assertClose(packed.slice(rows: batch.rows(i)), g.tensor("prompt\(i).logits"), atol: 1e-4, rtol: 1e-4)
        }
        XCTAssertEqual(caches.map(\.count), prompts.map(\.count))
        // last-token logits API
        let last = try m.prefill(prompts.map { Prompt(tokens: $0) }, caches: prompts.map { _ in m.newCache() })
        XCTAssertEqual(last.shape, [3, 96])
        // one packed decode step over all three caches
        let next = [44, 7, 63]
        let stepped = try m.decode(tokens: next, caches: caches)
        for (i, p) in prompts.enumerated() {
            let c = m.newCache()
            _ = try m.prefill(Prompt(tokens: p), cache: c)
            let single = try m.decode(token: next[i], cache: c)
            XCTAssertLessThan(stepped.slice(rows: i..<(i + 1)).maxAbsDifference(Tensor(shape: [1, 96], data: single)), 1e-5)
        }
        print("packed vs separate max |Δ| \(worst)")
    }
}
