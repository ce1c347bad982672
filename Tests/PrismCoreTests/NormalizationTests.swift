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

    /// Short segments (the vector exp runs across segment boundaries) equal row-by-row softmax, masked ones give zeros.
    func testSoftmaxSegmentsMatchRowSoftmax() {
        var rng = SplitMix64(seed: 3)
        var x = (0..<(13 * 7)).map { _ in Float(rng.nextUnit() * 40 - 20) }
        for j in 14..<21 { x[j] = -.infinity }            // segment 2 fully masked
        x[30] = -.infinity
        let expected = softmax(Tensor(shape: [13, 7], data: x))
        var y = x
        y.withUnsafeMutableBufferPointer { softmaxSegments($0.baseAddress!, count: 13, length: 7) }
        assertClose(Tensor(shape: [13, 7], data: y), expected, atol: 1e-7, rtol: 1e-6)
        XCTAssertEqual(Array(y[14..<21]), [Float](repeating: 0, count: 7))
    }

    /// The vectorised LayerNorm against a double-precision reference, with a row length that leaves a scalar tail.
    func testLayerNormRowsWithTailMatchDoubleReference() {
        var rng = SplitMix64(seed: 4)
        let d = 29, rows = 5
        let x = Tensor(shape: [rows, d], data: (0..<(rows * d)).map { _ in Float(rng.nextUnit() * 6 - 2) })
        let w = Tensor(shape: [d], data: (0..<d).map { _ in Float(rng.nextUnit() + 0.5) })
        let b = Tensor(shape: [d], data: (0..<d).map { _ in Float(rng.nextUnit() - 0.5) })
        var expected = [Float]()
        for r in 0..<rows {
            let row = x.data[(r * d)..<((r + 1) * d)].map(Double.init)
            let mean = row.reduce(0, +) / Double(d)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d)
            for j in 0..<d { expected.append(Float((row[j] - mean) / (variance + 1e-5).squareRoot() * Double(w.data[j]) + Double(b.data[j]))) }
        }
        assertClose(layerNorm(x, weight: w, bias: b, eps: 1e-5), Tensor(shape: [rows, d], data: expected), atol: 1e-5, rtol: 1e-5)
        assertClose(layerNorm(x, weight: nil, bias: nil, eps: 1e-5),
                    Tensor(shape: [rows, d], data: (0..<(rows * d)).map { (expected[$0] - b.data[$0 % d]) / w.data[$0 % d] }),
                    atol: 1e-4, rtol: 1e-4)
    }
}
