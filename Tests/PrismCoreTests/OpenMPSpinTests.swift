import CPrismKernels
import Foundation
import XCTest

/// The short OpenMP spin Prism starts with (openmp_spin.c): added unless the environment already sets how OpenMP
/// threads wait, and in effect in this very process, which links the same start-up code.
final class OpenMPSpinTests: XCTestCase {
    func setting(_ environment: [String]) -> String? {
        var strings = environment.map { strdup($0) }
        defer { strings.forEach { free($0) } }
        strings.append(nil)
        return strings.withUnsafeBufferPointer { prism_openmp_spin_setting($0.baseAddress).map { String(cString: $0) } }
    }

    func testAddedUnlessTheUserChose() {
        XCTAssertEqual(setting(["PATH=/usr/bin", "HOME=/root"]), "GOMP_SPINCOUNT=10000")
        XCTAssertEqual(setting([]), "GOMP_SPINCOUNT=10000")
        XCTAssertNil(setting(["PATH=/usr/bin", "OMP_WAIT_POLICY=active"]))
        XCTAssertNil(setting(["GOMP_SPINCOUNT=300000"]))
        // a prefix of the name is another variable
        XCTAssertEqual(setting(["GOMP_SPINCOUNTX=1", "OMP_WAIT_POLICY_X=passive"]), "GOMP_SPINCOUNT=10000")
    }

    func testThisProcessStartedWithIt() {
        let env = ProcessInfo.processInfo.environment
        guard env["OMP_WAIT_POLICY"] == nil else { return }   // the user's choice stands, checked above
        XCTAssertNotNil(env["GOMP_SPINCOUNT"], "the test process was not restarted with GOMP_SPINCOUNT")
    }
}
