import XCTest
@testable import PrismData

final class MetricsTests: XCTestCase {
    func testIntegersParsesCoordinatesAndSigns() {
        XCTAssertEqual(AnswerScoring.integers("(101, 64, 140, 105)"), [101, 64, 140, 105])
        XCTAssertEqual(AnswerScoring.integers("x-3 y12"), [-3, 12])
        XCTAssertEqual(AnswerScoring.integers("red circle"), [])
    }

    func testBoxIoU() {
        XCTAssertEqual(AnswerScoring.boxIoU([0, 0, 10, 10], [0, 0, 10, 10]), 1)
        XCTAssertEqual(AnswerScoring.boxIoU([0, 0, 10, 10], [5, 0, 15, 10]), 50.0 / 150.0, accuracy: 1e-12)
        XCTAssertEqual(AnswerScoring.boxIoU([0, 0, 10, 10], [20, 20, 30, 30]), 0)
    }

    func testAnswerScoringPerType() {
        XCTAssertTrue(AnswerScoring.isCorrect(type: "color", predicted: " red", answer: "red"))
        XCTAssertFalse(AnswerScoring.isCorrect(type: "color", predicted: "red circle", answer: "red"))
        // IoU 0.6 counts, 0.33 does not; a malformed box never does
        XCTAssertTrue(AnswerScoring.isCorrect(type: "box", predicted: "(0, 0, 10, 12)", answer: "(0, 0, 10, 10)"))
        XCTAssertFalse(AnswerScoring.isCorrect(type: "box", predicted: "(5, 0, 15, 10)", answer: "(0, 0, 10, 10)"))
        XCTAssertFalse(AnswerScoring.isCorrect(type: "box", predicted: "(0, 0, 10)", answer: "(0, 0, 10, 10)"))
        let mask = BinaryMask(width: 4, height: 3, bytes: [0, 0, 0, 0,
                                                          0, 1, 1, 0,
                                                          0, 0, 0, 0])
        XCTAssertTrue(AnswerScoring.isCorrect(type: "point", predicted: "(2, 1)", answer: "(1, 1)", mask: mask))
        XCTAssertFalse(AnswerScoring.isCorrect(type: "point", predicted: "(3, 1)", answer: "(1, 1)", mask: mask))
        XCTAssertFalse(AnswerScoring.isCorrect(type: "point", predicted: "(9, 9)", answer: "(1, 1)", mask: mask))
    }

    func testAnswerTally() {
        var t = AnswerTally()
        t.add(type: "color", correct: true, exact: true)
        t.add(type: "color", correct: false, exact: false)
        t.add(type: "box", correct: true, exact: false)
        XCTAssertEqual(t.byType["color"], .init(total: 2, correct: 1, exact: 1))
        XCTAssertEqual(t.overall, .init(total: 3, correct: 2, exact: 1))
        XCTAssertTrue(t.table(order: ["color", "box"]).contains("overall        3     0.667   0.333"))
    }

    func testMaskScores() {
        // truth: 2 foreground pixels of 8; prediction hits one and adds one false positive
        let truth = BinaryMask(width: 4, height: 2, bytes: [1, 1, 0, 0, 0, 0, 0, 0])
        let pred = BinaryMask(width: 4, height: 2, bytes: [1, 0, 1, 0, 0, 0, 0, 0])
        let s = MaskScores(predicted: pred, truth: truth)
        XCTAssertEqual(s.iou, 1.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(s.pixelAccuracy, 6.0 / 8.0, accuracy: 1e-12)
        XCTAssertEqual(s.meanPixelAccuracy, (0.5 + 5.0 / 6.0) / 2, accuracy: 1e-12)
        let empty = BinaryMask(width: 2, height: 1, bytes: [0, 0])
        XCTAssertEqual(MaskScores(predicted: empty, truth: empty), MaskScores(iou: 1, pixelAccuracy: 1, meanPixelAccuracy: 1))
    }

    func testMaskTallyMeans() {
        var t = MaskTally()
        t.add("box", MaskScores(iou: 1, pixelAccuracy: 1, meanPixelAccuracy: 1))
        t.add("box", MaskScores(iou: 0.5, pixelAccuracy: 0.9, meanPixelAccuracy: 0.7))
        XCTAssertEqual(t.mean("box"), MaskScores(iou: 0.75, pixelAccuracy: 0.95, meanPixelAccuracy: 0.85))
        XCTAssertNil(t.mean("1-point"))
    }
}
