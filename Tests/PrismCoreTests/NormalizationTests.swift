import PrismCore
import PrismTestSupport
import XCTest

final class NormalizationTests: XCTestCase {
    let g = try! Golden("core_ops.safetensors")

    func testSoftmaxMatchesTorch() {
        assertClose(softmax(g.tensor("softmax.x")), g.tensor("softmax.out"), atol: 1e-6, rtol: 1e-5)
    }

    func testSoftmaxOfFullyMaskedRowIsZero() {
        let y = softmax(Tensor(shape: [1, 3], data: [-.infinity, -.infinity, -.infinity]))
        XCTAssertEqual(y.data, [0, 0, 0])
    }

    func testRMSNormMatchesTorch() {
        assertClose(rmsNorm(g.tensor("rmsnorm.x"), weight: g.tensor("rmsnorm.w"), eps: 1e-6),
                    g.tensor("rmsnorm.out"), atol: 1e-5, rtol: 1e-5)
    }

    func testLayerNormMatchesTorch() {
        assertClose(layerNorm(g.tensor("layernorm.x"), weight: g.tensor("layernorm.w"), bias: g.tensor("layernorm.b"), eps: 1e-5),
                    g.tensor("layernorm.out"), atol: 1e-5, rtol: 1e-5)
    }

    func testLayerNorm2dNormalisesOverChannels() {
        assertClose(layerNorm2d(g.tensor("layernorm2d.x"), weight: g.tensor("layernorm2d.w"), bias: g.tensor("layernorm2d.b"), eps: 1e-6),
                    g.tensor("layernorm2d.out"), atol: 1e-5, rtol: 1e-5)
    }
}
