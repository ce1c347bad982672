@testable import PrismSAM
import PrismTestSupport
import XCTest

final class PromptSyntaxTests: XCTestCase {
    func testPoints() throws {
        XCTAssertEqual(try PromptSyntax.point("10,20"), SamPoint(x: 10, y: 20, label: .positive))
        XCTAssertEqual(try PromptSyntax.point("10.5, 20,0"), SamPoint(x: 10.5, y: 20, label: .negative))
        XCTAssertEqual(try PromptSyntax.point("3,4,1"), SamPoint(x: 3, y: 4, label: .positive))
    }

    func testMalformedPoints() {
        assertThrowsMessage("malformed point '1,2,3,4': expected X,Y or X,Y,LABEL with LABEL 1 (positive) or 0 (negative)") {
            try PromptSyntax.point("1,2,3,4")
        }
        assertThrowsMessage("malformed point '7': expected X,Y or X,Y,LABEL with LABEL 1 (positive) or 0 (negative)") {
            try PromptSyntax.point("7")
        }
        assertThrowsMessage("malformed point '1,2,5': label '5' must be 1 (positive) or 0 (negative)") {
            try PromptSyntax.point("1,2,5")
        }
        assertThrowsMessage("malformed point 'a,2': 'a' is not a number") { try PromptSyntax.point("a,2") }
        assertThrowsMessage("malformed point '1,': '' is not a number") { try PromptSyntax.point("1,") }
        assertThrowsMessage("malformed point 'nan,2': 'nan' is not a number") { try PromptSyntax.point("nan,2") }
    }

    func testBoxes() throws {
        XCTAssertEqual(try PromptSyntax.box("1,2,30,40"), SamBox(x0: 1, y0: 2, x1: 30, y1: 40))
        assertThrowsMessage("malformed box '1,2,3': expected X0,Y0,X1,Y1") { try PromptSyntax.box("1,2,3") }
        assertThrowsMessage("box 30,2,1,40 is empty: need x0 < x1 and y0 < y1") { try PromptSyntax.box("30,2,1,40") }
    }
}
