import PrismCore
import PrismTestSupport
import XCTest

final class PrecisionTests: XCTestCase {
    let avx2 = ComputeCPU(isa: "avx2", hasNativeBF16: false)
    let amx = ComputeCPU(isa: "avx512_core_amx", hasNativeBF16: true)

    func testAutoIsBF16OnlyWithNativeKernels() throws {
        XCTAssertEqual(try PrecisionChoice.auto.resolve(cpu: avx2), .f32)
        XCTAssertEqual(try PrecisionChoice.auto.resolve(cpu: amx), .bf16)
        XCTAssertEqual(try PrecisionChoice.f32.resolve(cpu: amx), .f32)
        XCTAssertEqual(try PrecisionChoice.bf16.resolve(cpu: amx), .bf16)
    }

    func testBF16WithoutNativeKernelsIsAnError() {
        assertThrowsMessage("--precision bf16: this CPU has no native bf16 matrix kernels (oneDNN reports avx2); use --precision f32 or auto") {
            try PrecisionChoice.bf16.resolve(cpu: avx2)
        }
        // accuracy checks may ask for the emulation explicitly; auto never picks it
        XCTAssertEqual(try PrecisionChoice.bf16.resolve(cpu: avx2, allowEmulation: true), .bf16)
        XCTAssertEqual(try PrecisionChoice.auto.resolve(cpu: avx2, allowEmulation: true), .f32)
    }

    func testEnvironmentSetsTheDefaultAndTheOptionWins() throws {
        XCTAssertEqual(try PrecisionChoice.from(explicit: nil, environment: [:]), .auto)
        XCTAssertEqual(try PrecisionChoice.from(explicit: nil, environment: ["PRISM_PRECISION": "F32"]), .f32)
        XCTAssertEqual(try PrecisionChoice.from(explicit: .bf16, environment: ["PRISM_PRECISION": "f32"]), .bf16)
        assertThrowsMessage("PRISM_PRECISION=half: expected auto, bf16 or f32") {
            try PrecisionChoice.from(explicit: nil, environment: ["PRISM_PRECISION": "half"])
        }
    }

    /// This machine's answer agrees with oneDNN: auto is bf16 exactly where bf16 resolves.
    func testCurrentCPUIsConsistent() throws {
        let cpu = ComputeCPU.current
        XCTAssertFalse(cpu.isa.isEmpty)
        if cpu.hasNativeBF16 {
            XCTAssertEqual(try PrecisionChoice.auto.resolve(), .bf16)
        } else {
            XCTAssertEqual(try PrecisionChoice.auto.resolve(), .f32)
            XCTAssertThrowsError(try PrecisionChoice.bf16.resolve())
        }
    }
}
