import Foundation
import PrismCore
import PrismTestSupport
@testable import PrismVLM
import XCTest

/// MoonViT + merge + projector against the PyTorch reference of Tools/reference/kimivl_tiny.py.
final class MoonViTTests: XCTestCase {
    static let model = try! KimiVL.load(directory: fixtureURL("kimivl_tiny"))
    let g = try! Golden("vision_golden.safetensors")

    var inputs: (pixels: [Tensor], grids: [GridSize]) {
        let grids = (0..<2).map { i -> GridSize in let v = g.ints("image\(i).grid"); return GridSize(h: v[0], w: v[1]) }
        return ((0..<2).map { g.tensor("image\($0).pixel_values") }, grids)
    }

    func testPackedImagesMatchReference() throws {
        let vit = try XCTUnwrap(Self.model.vision)
        let (pixels, grids) = inputs
        let packed = Tensor.concatenate(rows: pixels)
        let trace = Trace()
        vit.trace = trace
        defer { vit.trace = nil }
        let encoded = vit.encode(pixelValues: packed, grids: grids)
        for i in 0..<vit.config.numHiddenLayers {
            assertClose(trace.tensor("vit.layer", layer: i)!, g.tensor("trace.vit.layer.\(i)"), atol: 1e-4, rtol: 1e-4, "vit.layer.\(i)")
        }
        assertClose(encoded, g.tensor("packed.encoded"), atol: 1e-4, rtol: 1e-4, "encoder")
        let merged = vit.merge(encoded, grids: grids)
        assertClose(merged, g.tensor("packed.merged"), atol: 1e-4, rtol: 1e-4, "merge")
        let emb = Self.model.projector!(merged)
        let e = g.tensor("packed.embeddings")
        assertClose(emb, e, atol: 1e-4, rtol: 1e-4, "projector")
        print("vision parity: encoder max|Δ| \(encoded.maxAbsDifference(g.tensor("packed.encoded"))), "
              + "embeddings max|Δ| \(emb.maxAbsDifference(e)) (max |e| \(e.data.map(abs).max()!))")
    }

    /// Packing is exact: each image alone gives the rows it gets inside the packed batch.
    func testPackingTwoImagesEqualsRunningEachAlone() throws {
        let vit = try XCTUnwrap(Self.model.vision)
        let (pixels, grids) = inputs
        let packed = vit.encode(pixelValues: Tensor.concatenate(rows: pixels), grids: grids)
        var start = 0
        for i in 0..<2 {
            let alone = vit.encode(pixelValues: pixels[i], grids: [grids[i]])
            let rows = packed.slice(rows: start..<(start + grids[i].patches))
            XCTAssertLessThan(rows.maxAbsDifference(alone), 1e-5, "image \(i)")
            start += grids[i].patches
        }
    }

    /// 2-D RoPE layout: even pairs turn with the column, odd pairs with the row (spec §3.3).
    func testRopeAnglesEvenColumnOddRow() throws {
        let vit = try XCTUnwrap(Self.model.vision)
        let a = vit.ropeAngles(GridSize(h: 2, w: 3))                 // head dim 8 → 2 frequencies, 4 pairs
        XCTAssertEqual(a.shape, [6, 4])
        // patch (row 1, column 2) = index 5; ω_0 = 1, ω_1 = 10000^(-1/2) = 0.01
        XCTAssertEqual(a[5, 0], 2, accuracy: 1e-6)
        XCTAssertEqual(a[5, 1], 1, accuracy: 1e-6)
        XCTAssertEqual(a[5, 2], 0.02, accuracy: 1e-6)
        XCTAssertEqual(a[5, 3], 0.01, accuracy: 1e-6)
    }
}
