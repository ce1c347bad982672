import CImageCodecs
import Foundation
import PrismCore

public enum ImageError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case unknownFormat(path: String)
    case decodeFailed(path: String, format: String, reason: String)
    case tooLarge(path: String, width: Int, height: Int, limits: ImageLimits)
    case encodeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(p, r): "\(p): cannot read image: \(r)"
        case let .unknownFormat(p): "\(p): not a JPEG or PNG image"
        case let .decodeFailed(p, f, r): "\(p): \(f) decode failed: \(r)"
        case let .tooLarge(p, w, h, l):
            "\(p): image is \(w)×\(h) pixels, over the limit of \(l.maxSide) per side and \(l.maxPixels) in all "
                + "(raise it with --max-image-side / --max-image-pixels)"
        case let .encodeFailed(p, r): "\(p): PNG encode failed: \(r)"
        }
    }
}

/// The largest image a decoder accepts, checked against the file's header before any pixel memory is allocated.
/// The defaults (16384 per side, 2^28 pixels = 768 MiB of RGB) cover every camera and scan Prism expects; the
/// CLI raises them with `--max-image-side` and `--max-image-pixels`.
public struct ImageLimits: Sendable, Equatable {
    public var maxSide: Int
    public var maxPixels: Int

    /// Hard ceilings for raised limits: JPEG stores sides in 16 bits, and libpng's row stride is a 32-bit int.
    public static let ceilingSide = 65535
    public static let ceilingPixels = 1 << 32

    public init(maxSide: Int = 16384, maxPixels: Int = 1 << 28) {
        self.maxSide = maxSide
        self.maxPixels = maxPixels
    }

    public static let `default` = ImageLimits()

    /// Checks raised limits against the ceilings; `nil` when they are usable.
    public var problem: String? {
        if maxSide < 1 || maxSide > Self.ceilingSide { return "max image side must be in 1…\(Self.ceilingSide), got \(maxSide)" }
        if maxPixels < 1 || maxPixels > Self.ceilingPixels { return "max image pixels must be in 1…\(Self.ceilingPixels), got \(maxPixels)" }
        return nil
    }
}

/// An 8-bit RGB image, rows top to bottom, pixels interleaved R, G, B.
public struct RGBImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGBImage: \(pixels.count) bytes for \(width)×\(height)")
        self.width = width; self.height = height; self.pixels = pixels
    }

    public enum Format: String, Sendable { case jpeg, png }

    /// Identifies JPEG (FF D8 FF) and PNG (89 'PNG' 0D 0A 1A 0A) by their magic bytes.
    public static func sniff(_ data: some Collection<UInt8>) -> Format? {
        let head = Array(data.prefix(8))
        if head.count >= 3, head[0] == 0xFF, head[1] == 0xD8, head[2] == 0xFF { return .jpeg }
        if head == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] { return .png }
        return nil
    }

    public init(contentsOf url: URL, limits: ImageLimits = .default) throws {
        let data: Data
        do { data = try readFile(url) } catch let IOError.cannotOpen(path, reason) {
            throw ImageError.unreadable(path: path, reason: reason)
        }
        try self.init(data: data, path: url.path, limits: limits)
    }

    /// Decodes JPEG or PNG bytes; `path` only labels errors. The header's size is checked against `limits` first.
    public init(data: Data, path: String = "<memory>", limits: ImageLimits = .default) throws {
        guard let format = Self.sniff(data) else { throw ImageError.unknownFormat(path: path) }
        var w: Int32 = 0, h: Int32 = 0
        var out: UnsafeMutablePointer<UInt8>? = nil
        var err = [CChar](repeating: 0, count: 256)
        let side = max(0, limits.maxSide), pixels = max(0, limits.maxPixels)
        let status = data.withUnsafeBytes { raw -> Int32 in
            let p = raw.bindMemory(to: UInt8.self).baseAddress!
            return format == .jpeg
                ? prism_jpeg_decode(p, raw.count, side, pixels, &w, &h, &out, &err, err.count)
                : prism_png_decode(p, raw.count, side, pixels, &w, &h, &out, &err, err.count)
        }
        if status == PRISM_IMAGE_TOO_LARGE {
            throw ImageError.tooLarge(path: path, width: Int(w), height: Int(h), limits: limits)
        }
        guard status == 1, let out else {
            throw ImageError.decodeFailed(path: path, format: format == .jpeg ? "JPEG" : "PNG",
                                          reason: String(cString: err))
        }
        defer { prism_free(out) }
        // Int arithmetic: w·h·3 can exceed Int32 for images the limits allow.
        let count = Int(w) * Int(h) * 3
        self.init(width: Int(w), height: Int(h), pixels: Array(UnsafeBufferPointer(start: out, count: count)))
    }

    /// [3, H, W] Float tensor in [0, 1]: value / 255, bit-identical to torchvision's `to_tensor`.
    public func tensorCHW() -> Tensor { planes { Float($0) / 255 } }

    /// [3, H, W] Float tensor with every value multiplied by `scale`.
    public func tensorCHW(scale: Float) -> Tensor { planes { Float($0) * scale } }

    private func planes(_ f: (UInt8) -> Float) -> Tensor {
        let hw = width * height
        return Tensor(shape: [3, height, width], unsafeUninitialized: { out in
            pixels.withUnsafeBufferPointer { p in
                for i in 0..<hw { for c in 0..<3 { out[c * hw + i] = f(p[i * 3 + c]) } }
            }
        })
    }

    /// PNG bytes of this image.
    public func pngData() throws -> Data { try encodePNG(pixels: pixels, width: width, height: height, channels: 3) }
}

/// Encodes 8-bit gray (1), RGB (3) or RGBA (4) pixels as PNG.
public func encodePNG(pixels: [UInt8], width: Int, height: Int, channels: Int, path: String = "<memory>") throws -> Data {
    precondition([1, 3, 4].contains(channels) && pixels.count == width * height * channels,
                 "encodePNG: \(pixels.count) bytes for \(width)×\(height)×\(channels)")
    var out: UnsafeMutablePointer<UInt8>? = nil
    var len = 0
    var err = [CChar](repeating: 0, count: 256)
    let ok = pixels.withUnsafeBufferPointer {
        prism_png_encode($0.baseAddress!, Int32(width), Int32(height), Int32(channels), &out, &len, &err, err.count)
    }
    guard ok != 0, let out else { throw ImageError.encodeFailed(path: path, reason: String(cString: err)) }
    defer { prism_free(out) }
    return Data(bytes: out, count: len)
}

/// Writes a PNG file atomically.
public func writePNG(pixels: [UInt8], width: Int, height: Int, channels: Int, to url: URL) throws {
    try writeAtomically(try encodePNG(pixels: pixels, width: width, height: height, channels: channels, path: url.path), to: url)
}
