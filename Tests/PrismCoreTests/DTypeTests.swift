import PrismCore
import PrismTestSupport
import XCTest

final class DTypeTests: XCTestCase {
    let g = try! Golden("core_ops.safetensors")

    /// Narrowing rounds like torch's `.to(bfloat16 / float16)`; widening is exact.
    func testRoundTripsMatchTorchRounding() {
        let x = g.tensor("convert.x").data
        XCTAssertEqual(Convert.bf16ToF32(Convert.f32ToBF16(x)), g.tensor("convert.bf16").data)
        XCTAssertEqual(Convert.f16ToF32(Convert.f32ToF16(x)), g.tensor("convert.f16").data)
    }

    /// Odd lengths exercise both the vector body and the scalar tail of the kernels.
    func testVectorAndScalarPathsAgree() {
        for n in [1, 7, 8, 9, 31, 1000] {
            let bits: [UInt16] = (0..<n).map { UInt16(truncatingIfNeeded: $0 &* 40503 &+ 12345) }
            let bf = Convert.bf16ToF32(bits), f16 = Convert.f16ToF32(bits)
            for i in 0..<n {
                XCTAssertEqual(bf[i].bitPattern, UInt32(bits[i]) << 16)
                let ref = Float(Float16(bitPattern: bits[i]))
                XCTAssert(ref.isNaN ? f16[i].isNaN : ref.bitPattern == f16[i].bitPattern, "f16 \(bits[i])")
            }
        }
    }

    func testTensorViewWidensEveryDType() {
        let ints: [Int64] = [-3, 0, 7]
        ints.withUnsafeBytes { raw in
            let v = TensorView(name: "i", dtype: .i64, shape: [3], bytes: raw, owner: nil)
            XCTAssertEqual(v.toInts(), [-3, 0, 7])
            XCTAssertEqual(v.toTensor().data, [-3, 0, 7])
        }
        let bytes: [UInt8] = [0, 1, 255]
        bytes.withUnsafeBytes { raw in
            XCTAssertEqual(TensorView(name: "u", dtype: .u8, shape: [3], bytes: raw, owner: nil).toTensor().data, [0, 1, 255])
        }
    }
}
