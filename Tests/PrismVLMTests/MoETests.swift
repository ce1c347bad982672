import PrismCore
import PrismTestSupport
@testable import PrismVLM
import XCTest

final class MoETests: XCTestCase {
    /// 12 experts in 4 groups of 3, 2 groups kept, 3 experts per token. Group scores by the sum of the two
    /// largest biased scores pick groups 1 and 2; "max per group" would pick groups 0 and 2, and "sum of the
    /// two smallest" (a widely copied bug) groups 1 and 3 — each gives different expert ids.
    func testGroupLimitedRoutingUsesTopTwoSumPerGroup() {
        let scores = Tensor(shape: [1, 12], data: [0.95, 0.10, 0.05,   // g0: top2 1.05, max .95, bottom2 .15
                                                   0.60, 0.55, 0.50,   // g1: top2 1.15
                                                   0.70, 0.20, 0.65,   // g2: top2 1.35
                                                   0.42, 0.44, 0.46])  // g3: top2 0.90, bottom2 0.86
        let c = RouterConfig(experts: 12, expertsPerToken: 3, groups: 4, topGroups: 2, routedScale: 2.446, normalize: true)
        let (ids, weights) = Router.route(scores: scores, bias: [Float](repeating: 0, count: 12), c)
        XCTAssertEqual(ids, [[6, 8, 3]])
        let sum: Float = 0.70 + 0.65 + 0.60
        XCTAssertEqual(weights[0][0], 0.70 / sum * 2.446, accuracy: 1e-6)
        XCTAssertEqual(weights[0][1], 0.65 / sum * 2.446, accuracy: 1e-6)
        XCTAssertEqual(weights[0][2], 0.60 / sum * 2.446, accuracy: 1e-6)
        XCTAssertEqual(weights[0].reduce(0, +), 2.446, accuracy: 1e-5, "scaled weights sum to routed_scaling_factor")
        // without group limiting the best three are 0, 6, 8
        let flat = RouterConfig(experts: 12, expertsPerToken: 3, groups: 1, topGroups: 1, routedScale: 1, normalize: true)
        XCTAssertEqual(Router.route(scores: scores, bias: [Float](repeating: 0, count: 12), flat).ids, [[0, 6, 8]])
    }

    /// The correction bias changes which experts are chosen (it also enters the group scores), but the
    /// weights come from the unbiased scores.
    func testBiasPicksButDoesNotWeigh() {
        let scores = Tensor(shape: [2, 6], data: [0.90, 0.80, 0.10, 0.20, 0.30, 0.25,
                                                  0.10, 0.20, 0.30, 0.90, 0.85, 0.80])
        let bias: [Float] = [0, 0, 0.75, 0, 0, 0]
        // 3 groups of 2: biased row 0 = [.9,.8 | .85,.2 | .3,.25] → group sums 1.7, 1.05, .55 → keep g0, g1
        let c = RouterConfig(experts: 6, expertsPerToken: 2, groups: 3, topGroups: 2, routedScale: 2.446, normalize: true)
        let (ids, weights) = Router.route(scores: scores, bias: bias, c)
        XCTAssertEqual(ids[0], [0, 2])
        XCTAssertEqual(weights[0][0], 0.90 / 1.0 * 2.446, accuracy: 1e-6)
        XCTAssertEqual(weights[0][1], 0.10 / 1.0 * 2.446, accuracy: 1e-6)
        // row 1 biased = [.1,.2 | 1.05,.9 | .85,.8] → groups g1 (1.95), g2 (1.65) → experts 2 (1.05), 3 (.9)
        XCTAssertEqual(ids[1], [2, 3])
        XCTAssertEqual(weights[1][0], 0.30 / 1.2 * 2.446, accuracy: 1e-6)
    }
}
