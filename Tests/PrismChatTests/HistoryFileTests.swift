import PrismChat
import XCTest

final class HistoryFileTests: XCTestCase {
    /// Issue #19: the history file follows $HOME (main used the password database's home, i.e. root's).
    func testHistoryFileFollowsTheEnvironment() {
        XCTAssertEqual(HistoryFile.path(environment: ["HOME": "/tmp/h", "PRISM_HOME": "/p"]), "/tmp/h/.prism_history")
        XCTAssertEqual(HistoryFile.path(environment: ["HOME": "", "PRISM_HOME": "/p"]), "/p/.prism_history")
        XCTAssertEqual(HistoryFile.path(environment: ["PRISM_HOME": "/p/"]), "/p/.prism_history")
        XCTAssertNil(HistoryFile.path(environment: [:]))
    }
}
