@testable import PrismVLM
import XCTest

final class SamplerTests: XCTestCase {
    let logits: [Float] = [1.0, 3.0, 2.5, -1.0, 0.5]

    func testGreedyIsArgmax() {
        var s = Sampler(.greedy)
        XCTAssertEqual(s.sample(logits: logits), 1)
    }

    func testRepetitionPenaltyDividesPositiveAndMultipliesNegative() {
        var s = Sampler(SamplingParameters(repetitionPenalty: 1.5))
        XCTAssertEqual(s.sample(logits: logits, history: [1]), 2, "3.0/1.5 = 2.0 < 2.5")
        var t = Sampler(SamplingParameters(repetitionPenalty: 4))
        XCTAssertEqual(t.sample(logits: [-1, -2, -3], history: [0]), 1, "−1 × 4 = −4 falls below −2")
    }

    func testTopKAndTopPRestrictTheCandidates() {
        var s = Sampler(SamplingParameters(temperature: 5, topK: 2, seed: 1))
        let drawn = Set((0..<300).map { _ in s.sample(logits: logits) })
        XCTAssertEqual(drawn, [1, 2])
        // probabilities at T = 1: [.079, .584, .354, .011, .048 ...] → top-p 0.6 keeps ids 1 and 2
        var p = Sampler(SamplingParameters(temperature: 1, topP: 0.6, seed: 2))
        XCTAssertEqual(Set((0..<300).map { _ in p.sample(logits: logits) }), [1, 2])
        var q = Sampler(SamplingParameters(temperature: 1, topP: 0.5, seed: 2))
        XCTAssertEqual(Set((0..<100).map { _ in q.sample(logits: logits) }), [1])
    }

    func testSeedReproducesAndFrequenciesFollowSoftmax() {
        var a = Sampler(SamplingParameters(temperature: 1, seed: 42)), b = Sampler(SamplingParameters(temperature: 1, seed: 42))
        let xs = (0..<50).map { _ in a.sample(logits: logits) }, ys = (0..<50).map { _ in b.sample(logits: logits) }
        XCTAssertEqual(xs, ys)
        var c = Sampler(SamplingParameters(temperature: 1, seed: 7))
        var counts = [Int](repeating: 0, count: 5)
        let n = 20000
        for _ in 0..<n { counts[c.sample(logits: logits)] += 1 }
        let z = logits.map { exp(Double($0)) }.reduce(0, +)
        for i in 0..<5 {
            XCTAssertEqual(Double(counts[i]) / Double(n), exp(Double(logits[i])) / z, accuracy: 0.015, "token \(i)")
        }
    }
}
