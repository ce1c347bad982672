import PrismCore
import PrismTestSupport
import XCTest

final class AttentionTests: XCTestCase {
    let g = try! Golden("core_ops.safetensors")

    func testPackedSegmentsMatchPerSegmentSDPA() {
        let cu = cumulativeSeqlens(g.ints("attn.lens"))
        for (causal, name) in [(false, "attn.full"), (true, "attn.causal")] {
            let y = attention(q: g.tensor("attn.q"), k: g.tensor("attn.k"), v: g.tensor("attn.v"),
                              cuSeqlensQ: cu, cuSeqlensK: cu, causal: causal, scale: 0.3)
            assertClose(y, g.tensor(name), atol: 1e-5, rtol: 1e-5, name)
        }
    }

    /// Decoding one query against cached keys equals the last row of full causal attention.
    func testCausalQueryAgainstLongerKeysIsBottomRightAligned() {
        let lens = g.ints("attn.lens"), cu = cumulativeSeqlens(lens)
        let q = g.tensor("attn.q"), k = g.tensor("attn.k"), v = g.tensor("attn.v")
        let seg = 2, last = cu[seg + 1] - 1
        let y = attention(q: q.slice(rows: last..<(last + 1)), k: k.slice(rows: cu[seg]..<cu[seg + 1]),
                          v: v.slice(rows: cu[seg]..<cu[seg + 1]), cuSeqlensQ: [0, 1], cuSeqlensK: [0, lens[seg]],
                          causal: true, scale: 0.3)
        assertClose(y, g.tensor("attn.causal").slice(rows: last..<(last + 1)), atol: 1e-5, rtol: 1e-5)
    }
}
