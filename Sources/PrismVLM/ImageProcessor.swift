// Kimi-VL image preprocessing (specs/kimi_vl.md §4): shrink images over the patch budget with Pillow's
// bicubic, pad right/bottom with black to a multiple of merge·patch (28), normalise, and cut 14×14 patches.
import Foundation
import PrismCore
import PrismIO

/// One image ready for the vision tower.
public struct ProcessedImage: Sendable {
    /// [h·w, 3, P, P], patches row-major over the grid.
    public let pixelValues: Tensor
    public let grid: GridSize
    /// Image tokens it becomes after the kh×kw merge: the number of `<|media_pad|>` ids the prompt needs.
    public let tokenCount: Int
    /// SHA-256 of the encoded bytes it was decoded from; the engine caches its embedding (and KV prefixes
    /// that contain it) under this name. nil: never cached.
    public var digest: ContentDigest?
    /// Patches it gives the vision tower (h·w).
    public var patches: Int { pixelValues.shape[0] }

    public init(pixelValues: Tensor, grid: GridSize, tokenCount: Int, digest: ContentDigest? = nil) {
        self.pixelValues = pixelValues; self.grid = grid; self.tokenCount = tokenCount; self.digest = digest
    }
}

public enum ImageProcessingError: Error, CustomStringConvertible, Equatable {
    case empty
    case gridTooLarge(h: Int, w: Int)
    case notMergeable(h: Int, w: Int, kernel: [Int])

    public var description: String {
        switch self {
        case .empty: "image has no pixels"
        case let .gridTooLarge(h, w): "image grid \(h)×\(w) patches exceeds the position table (each side must be < 512)"
        case let .notMergeable(h, w, k): "image grid \(h)×\(w) patches is not divisible by the merge kernel \(k[0])×\(k[1]) (set pad_input)"
        }
    }
}

public struct ImageProcessor: Sendable {
    public let config: PreprocessorConfig

    public init(config: PreprocessorConfig = .kimiVL) { self.config = config }

    /// The size an image is shrunk to before padding, or its own size when within `in_token_limit` patches.
    /// Never below 1×1 (a very thin image keeps one pixel across rather than vanishing).
    public func resizedSize(width w: Int, height h: Int) -> (width: Int, height: Int) {
        let p = max(1, config.patchSize)
        let patches = (w / p) * (h / p)
        guard patches > config.inTokenLimit, config.inTokenLimit > 0 else { return (w, h) }
        let s = (Double(config.inTokenLimit) / Double(patches)).squareRoot()
        return (max(1, Int(Double(w) * s)), max(1, Int(Double(h) * s)))
    }

    public func callAsFunction(_ image: RGBImage) throws -> ProcessedImage {
        guard image.width > 0 && image.height > 0 else { throw ImageProcessingError.empty }
        let p = config.patchSize, kh = config.mergeKernelSize[0], kw = config.mergeKernelSize[1]
        // 1. shrink (Pillow BICUBIC, antialiased) when over the patch budget
        var (w, h) = resizedSize(width: image.width, height: image.height)
        var pixels = (w, h) == (image.width, image.height) ? image.pixels
            : pillowResize(image.pixels, width: image.width, height: image.height, channels: 3, toWidth: w, toHeight: h, filter: .bicubic)
        // 2. pad right/bottom with black to multiples of merge·patch, or centre-crop to multiples of patch
        var x0 = 0, y0 = 0, srcW = w
        if config.padInput {
            let ph = kh * p, pw = kw * p
            (w, h) = (w + (pw - w % pw) % pw, h + (ph - h % ph) % ph)
        } else {
            let cw = w - w % p, ch = h - h % p
            x0 = Int((Double(w - cw) / 2).rounded(.toNearestOrEven)); y0 = Int((Double(h - ch) / 2).rounded(.toNearestOrEven))
            (w, h) = (cw, ch)
        }
        let srcH = pixels.count / (3 * max(1, srcW))
        let gh = h / p, gw = w / p
        guard gh > 0 && gw > 0 else { throw ImageProcessingError.empty }
        guard gh < VisionConfig.ropeMaxGrid && gw < VisionConfig.ropeMaxGrid else { throw ImageProcessingError.gridTooLarge(h: gh, w: gw) }
        guard gh % kh == 0 && gw % kw == 0 else { throw ImageProcessingError.notMergeable(h: gh, w: gw, kernel: config.mergeKernelSize) }
        // 3. normalise: (v/255 − mean)/std; padding is 0 before normalising. 4. patchify → [h·w, 3, P, P]
        let mean = config.imageMean, std = config.imageStd
        let lut = (0..<3).map { c in (0..<256).map { (Float($0) / 255 - mean[c]) / std[c] } }
        let padValue = (0..<3).map { (0 - mean[$0]) / std[$0] }
        let values = Tensor(shape: [gh * gw, 3, p, p], unsafeUninitialized: { out in
            pixels.withUnsafeBufferPointer { src in
                for gy in 0..<gh { for gx in 0..<gw { for c in 0..<3 { for y in 0..<p { for x in 0..<p {
                    let sy = gy * p + y + y0, sx = gx * p + x + x0
                    let o = ((((gy * gw + gx) * 3 + c) * p) + y) * p + x
                    out[o] = (sy < srcH && sx < srcW) ? lut[c][Int(src[(sy * srcW + sx) * 3 + c])] : padValue[c]
                }}}}}
            }
        })
        pixels = []
        return ProcessedImage(pixelValues: values, grid: GridSize(h: gh, w: gw), tokenCount: gh * gw / (kh * kw))
    }
}
