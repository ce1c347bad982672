import Foundation
import PrismCore
import PrismIO
@testable import PrismSAM
import PrismTestSupport
import XCTest

/// The decoder's fast paths against the straightforward ones: reassociated cross attentions against projecting
/// the image rows, and the per-embedding cache (layer 0's image projections) against preparing per prompt.
final class DecoderFastPathTests: XCTestCase {
    private static let loader = WeightLoader(try! Checkpoint(directory: TinySam.directory))
    private static func attention(_ name: String, _ form: CrossAttentionForm) -> DecoderAttention {
        DecoderAttention(config: TinySam.model.config.maskDecoderConfig, downsample: 2, form: form,
                         weights: loader.scope("mask_decoder.transformer.\(name)"))
    }
    /// The tiny decoder has head width 4, so `.cheaper` runs every prompt direct; this one never does.
    private static let reassociatedDecoder = MaskDecoder(config: TinySam.model.config.maskDecoderConfig, form: .reassociated,
                                                         weights: loader.scope("mask_decoder"))

    private func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SplitMix64(seed: seed)
        return Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float(rng.nextUnit() * 4 - 2) })
    }

    /// Random image rows and tokens, fewer and more tokens than the head width (the reassociation is exact for any T).
    func testReassociatedCrossAttentionsMatchDirect() {
        let c = 32, n = 100
        for t in [3, 9] {
            let image = random([n, c], seed: 1), tokens = random([t, c], seed: UInt64(t)), residual = random([n, c], seed: 7)
            // tokens → image
            let t2i = Self.attention("layers.1.cross_attn_token_to_image", .reassociated)
            let t2iDirect = t2i(query: tokens, key: image, value: residual)
            assertClose(t2i.tokensToImage(query: tokens, key: image, value: residual), t2iDirect, atol: 1e-5, rtol: 1e-5, "t2i T=\(t)")
            // image → tokens, from raw image rows and from projected ones, onto a residual
            let i2t = Self.attention("layers.1.cross_attn_image_to_token", .reassociated)
            var i2tDirect = i2t(query: image, key: tokens, value: tokens.map { $0 * 0.5 })
            i2tDirect.addInPlace(residual)
            assertClose(i2t.imageToTokens(query: image, key: tokens, value: tokens.map { $0 * 0.5 }, residual: residual),
                        i2tDirect, atol: 1e-5, rtol: 1e-5, "i2t T=\(t)")
            assertClose(i2t.imageToTokens(projectedQuery: i2t.projectQuery(image), key: tokens, value: tokens.map { $0 * 0.5 },
                                          residual: residual), i2tDirect, atol: 1e-5, rtol: 1e-5, "i2t projected T=\(t)")
            // and the automatic choice agrees with both
            let cheaper = Self.attention("layers.1.cross_attn_token_to_image", .cheaper)
            XCTAssertEqual(cheaper.reassociates(tokens: t), t < cheaper.headDim)
            assertClose(cheaper.tokensToImage(query: tokens, key: image, value: residual), t2iDirect, atol: 1e-5, rtol: 1e-5)
        }
    }

    /// A decoder that always reassociates meets the transformers goldens and the direct decoder on every prompt kind.
    func testReassociatedDecoderMatchesGoldensAndDirectDecoder() {
        let g = TinySam.golden
        for name in TinySam.cases {
            let sparse = g.file.contains("\(name).sparse") ? g.tensor("\(name).sparse") : Tensor(zeros: [0, 32])
            func run(_ d: MaskDecoder) -> (logits: Tensor, iou: Tensor) {
                d(image: g.tensor("embedding"), imagePE: g.tensor("dense_pe"), sparse: sparse, dense: g.tensor("\(name).dense"),
                  multimask: TinySam.multimask(name))
            }
            let fast = run(Self.reassociatedDecoder), direct = run(TinySam.model.maskDecoder)
            assertClose(fast.logits, g.tensor("\(name).low_res"), atol: 1e-3, rtol: 1e-3, "\(name) logits")
            assertClose(fast.iou, g.tensor("\(name).iou"), atol: 1e-3, rtol: 1e-3, "\(name) iou")
            assertClose(fast.logits, direct.logits, atol: 1e-5, rtol: 1e-5, "\(name) logits vs direct")
            assertClose(fast.iou, direct.iou, atol: 1e-5, rtol: 1e-5, "\(name) iou vs direct")
        }
    }

    /// Prompts through the predictor (the embedding's cached image side, layer 0 projected once) equal the decoder
    /// prepared per call, for both decoder forms; a mask input bypasses the cache. The cache is built once.
    func testCachedImageSideMatchesPreparedPerPrompt() throws {
        let p = TinySam.predictor, e = TinySam.goldenEmbedding, model = TinySam.model
        let sx = Float(e.inputWidth) / Float(e.originalWidth), sy = Float(e.inputHeight) / Float(e.originalHeight)
        let manyPoints = (0..<6).map { (i: Int) -> SamPoint in SamPoint(x: Float(10 + 20 * i), y: Float(15 + 12 * i)) }
        let prompts: [(points: [SamPoint], box: SamBox?, multimask: Bool)] = [
            ([SamPoint(x: 40, y: 30)], nil, true),
            ([SamPoint(x: 100, y: 70), SamPoint(x: 20, y: 90, label: .negative)], nil, false),
            ([], SamBox(x0: 10, y0: 20, x1: 120, y1: 80), true),
            (manyPoints, SamBox(x0: 5, y0: 5, x1: 140, y1: 95), true),
        ]
        for (i, prompt) in prompts.enumerated() {
            let cached = try p.lowResMasks(e, points: prompt.points, box: prompt.box, multimask: prompt.multimask)
            // the same prompt by hand: coordinates into the resized frame, dense = no-mask, image side prepared now
            let sparse = model.promptEncoder.sparse(
                points: prompt.points.map { SamPoint(x: $0.x * sx, y: $0.y * sy, label: $0.label) },
                box: prompt.box.map { SamBox(x0: $0.x0 * sx, y0: $0.y0 * sy, x1: $0.x1 * sx, y1: $0.y1 * sy) })
            for decoder in [model.maskDecoder, Self.reassociatedDecoder] {
                let fresh = decoder(image: e.features, imagePE: model.densePE, sparse: sparse,
                                    dense: model.promptEncoder.dense(maskInput: nil), multimask: prompt.multimask)
                assertClose(cached.logits, fresh.logits, atol: 1e-5, rtol: 1e-5, "prompt \(i) logits")
                assertClose(cached.iou, fresh.iou, atol: 1e-5, rtol: 1e-5, "prompt \(i) iou")
            }
        }
        let image = p.decoderImage(e, maskInput: nil)
        XCTAssertNotNil(image.layer0)
        XCTAssertTrue(image === p.decoderImage(e, maskInput: nil), "the image side is prepared once per embedding")
        // another model (other weights, in general) does not reuse it
        let other = SamPredictor(model: try SamModel(directory: TinySam.directory))
        XCTAssertFalse(other.decoderImage(e, maskInput: nil) === image)

        // a mask input: the predictor prepares per prompt without projections; with them it must agree
        let mask = TinySam.maskInput("maskinput")!
        let points = TinySam.points("maskinput")
        let multimask = TinySam.multimask("maskinput")
        let viaPredictor = try p.lowResMasks(e, points: points, maskInput: mask, multimask: multimask)
        XCTAssertNil(p.decoderImage(e, maskInput: mask).layer0)
        let sparse = model.promptEncoder.sparse(points: points.map { SamPoint(x: $0.x * sx, y: $0.y * sy, label: $0.label) }, box: nil)
        for decoder in [model.maskDecoder, Self.reassociatedDecoder] {
            let projected = decoder.decode(decoder.prepare(image: e.features, imagePE: model.densePE,
                                                           dense: model.promptEncoder.dense(maskInput: mask), projectLayer0: true),
                                           sparse: sparse, multimask: multimask)
            assertClose(viaPredictor.logits, projected.logits, atol: 1e-5, rtol: 1e-5, "mask input logits")
            assertClose(viaPredictor.iou, projected.iou, atol: 1e-5, rtol: 1e-5, "mask input iou")
        }
        assertClose(viaPredictor.logits, TinySam.golden.tensor("maskinput.low_res"), atol: 1e-3, rtol: 1e-3)
    }
}
