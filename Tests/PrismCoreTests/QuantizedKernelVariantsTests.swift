import CPrismKernels
@testable import PrismCore
import PrismTestSupport
import XCTest

/// The decode dot kernels of every variant this CPU runs (quant_dot.c: portable, AVX2, AVX-VNNI, AVX512-VNNI), not
/// only the one selected: each against the portable reference, and the x86 variants bit for bit against AVX2.
/// Their integer sums are exact in any order and their float steps are the same, so a model decodes the same
/// whichever variant the machine picks.
final class QuantizedKernelVariantsTests: XCTestCase {
    func testEveryVariantAgainstTheReference() {
        let k = 1024   // 4 super-blocks, 32 blocks of 32
        var rng = SplitMix64(seed: 41)
        let w = (0..<k).map { _ in Float.random(in: -1...1, using: &rng) }
        let x = (0..<k).map { _ in Float.random(in: -2...2, using: &rng) }
        var ran = Set<Int32>()
        for t in [DType.q4_0, .q5_0, .q8_0, .q4K, .q5K, .q6K] {
            let type = t.ggmlType!
            let q = QuantizedBlocks.quantize(w, as: t)
            var xq = [UInt8](repeating: 0, count: prism_q_act_row_bytes(type, k))
            XCTAssertEqual(prism_quantize_activation(type, x, &xq, k), 0)
            let blocks = k / t.blockElements
            func dot(_ isa: Int32) -> Float? {
                var out = Float.nan
                let status = q.withUnsafeBytes { prism_qdot_isa(isa, type, $0.baseAddress!, xq, blocks, &out) }
                return status == 0 ? out : nil
            }
            guard let reference = dot(Int32(PRISM_ISA_PORTABLE)) else { return XCTFail("no portable kernel for \(t)") }
            let avx2 = dot(Int32(PRISM_ISA_AVX2))
            for isa in Int32(1)..<Int32(PRISM_ISA_COUNT) {
                guard let value = dot(isa) else { continue }
                ran.insert(isa)
                let name = String(cString: prism_q_isa_name(isa))
                XCTAssertEqual(value, reference, accuracy: 1e-4 * max(1, abs(reference)), "\(t.rawValue) \(name)")
                if let avx2 { XCTAssertEqual(value.bitPattern, avx2.bitPattern, "\(t.rawValue) \(name) against avx2") }
            }
        }
        #if arch(x86_64)
        XCTAssertTrue(ran.contains(Int32(PRISM_ISA_AVX2)), "every x86 machine Prism runs on has AVX2")
        #endif
    }
}
