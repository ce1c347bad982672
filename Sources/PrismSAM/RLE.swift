import Foundation

// COCO run-length encoding, as pycocotools' maskApi writes it: the mask read in column-major (Fortran) order,
// runs alternating 0s and 1s starting with 0s (so a mask whose first pixel is set starts with a 0-length run).
// The compressed string form (`counts` as a string in COCO JSON) stores each run as a signed LEB128-like
// sequence of 5-bit groups (bit 5 = more follows, bit 4 of the last group = sign), every group + 48 as an
// ASCII character; from the fourth run on (index > 2) the value stored is the difference to the run two back.

public enum RLEError: Error, Equatable, CustomStringConvertible {
    case invalidSize(height: Int, width: Int)
    case maskSize(expected: Int, actual: Int)
    case invalidCharacter(position: Int, byte: UInt8)
    case truncated(position: Int)
    case negativeRun(index: Int)
    case countsSum(expected: Int, actual: Int)

    public var description: String {
        switch self {
        case let .invalidSize(h, w): "RLE size [\(h), \(w)] is not a positive height and width"
        case let .maskSize(e, a): "mask has \(a) pixels, expected \(e)"
        case let .invalidCharacter(p, b): "RLE counts: byte \(b) at position \(p) is outside the alphabet '0'…'o'"
        case let .truncated(p): "RLE counts: the string ends inside a run at position \(p)"
        case let .negativeRun(i): "RLE counts: run \(i) is negative"
        case let .countsSum(e, a): "RLE counts add up to \(a) pixels, expected height × width = \(e)"
        }
    }
}

/// A binary mask as COCO RLE: height × width, runs over the column-major pixels, 0s first.
public struct RLE: Equatable, Sendable {
    public let height: Int, width: Int
    public let counts: [Int]

    /// Runs as given; they must be non-negative and cover height × width exactly.
    public init(height: Int, width: Int, counts: [Int]) throws {
        guard height > 0, width > 0 else { throw RLEError.invalidSize(height: height, width: width) }
        if let i = counts.firstIndex(where: { $0 < 0 }) { throw RLEError.negativeRun(index: i) }
        let total = counts.reduce(0, +)
        guard total == height * width else { throw RLEError.countsSum(expected: height * width, actual: total) }
        self.height = height; self.width = width; self.counts = counts
    }

    /// Encodes a row-major mask (non-zero = inside) of width × height.
    public init(mask: [UInt8], width: Int, height: Int) throws {
        guard height > 0, width > 0 else { throw RLEError.invalidSize(height: height, width: width) }
        guard mask.count == width * height else { throw RLEError.maskSize(expected: width * height, actual: mask.count) }
        var runs: [Int] = []
        var current = false, run = 0
        mask.withUnsafeBufferPointer { m in
            for x in 0..<width {
                var i = x
                for _ in 0..<height {
                    let on = m[i] != 0
                    if on != current { runs.append(run); run = 0; current = on }
                    run += 1
                    i += width
                }
            }
        }
        runs.append(run)
        self.height = height; self.width = width; counts = runs
    }

    /// The mask as row-major 0/1 bytes.
    public func mask() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: width * height)
        var p = 0
        for (k, run) in counts.enumerated() {
            if k % 2 == 1 {
                for q in p..<(p + run) { out[(q % height) * width + q / height] = 1 }
            }
            p += run
        }
        return out
    }

    /// Pixels inside (the sum of the 1-runs).
    public var area: Int { stride(from: 1, to: counts.count, by: 2).reduce(0) { $0 + counts[$1] } }

    /// [x, y, w, h] as pycocotools' `toBbox`: the extent of the set pixels, w = x_max − x_min + 1; all 0 if empty.
    public var bbox: [Int] {
        var x0 = width, y0 = height, x1 = -1, y1 = -1
        var p = 0
        for (k, run) in counts.enumerated() {
            if k % 2 == 1 && run > 0 {
                let first = p, last = p + run - 1
                let cx0 = first / height, cx1 = last / height
                x0 = min(x0, cx0); x1 = max(x1, cx1)
                if cx0 != cx1 { y0 = 0; y1 = height - 1 } else { y0 = min(y0, first % height); y1 = max(y1, last % height) }
            }
            p += run
        }
        return x1 < 0 ? [0, 0, 0, 0] : [x0, y0, x1 - x0 + 1, y1 - y0 + 1]
    }

    // MARK: - Compressed string form

    /// The counts as pycocotools' `rleToString`.
    public var compressedCounts: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(counts.count * 2)
        for (i, run) in counts.enumerated() {
            var x = run - (i > 2 ? counts[i - 2] : 0)
            var more = true
            while more {
                var c = UInt8(truncatingIfNeeded: x & 0x1f)
                x >>= 5                                         // arithmetic shift: the sign stays
                more = (c & 0x10) != 0 ? x != -1 : x != 0
                if more { c |= 0x20 }
                bytes.append(c + 48)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Decodes pycocotools' string form (`rleFrString`) for a height × width mask.
    public init(compressed: String, height: Int, width: Int) throws {
        guard height > 0, width > 0 else { throw RLEError.invalidSize(height: height, width: width) }
        let s = Array(compressed.utf8)
        var runs: [Int] = []
        var p = 0
        while p < s.count {
            var x = 0, k = 0, more = true
            while more {
                guard p < s.count else { throw RLEError.truncated(position: p) }
                guard s[p] >= 48, s[p] < 48 + 64 else { throw RLEError.invalidCharacter(position: p, byte: s[p]) }
                let c = Int(s[p] - 48)
                // more than 13 groups cannot come from a run that fits the counts' range
                guard k < 13 else { throw RLEError.invalidCharacter(position: p, byte: s[p]) }
                x |= (c & 0x1f) << (5 * k)
                more = c & 0x20 != 0
                p += 1; k += 1
                if !more && c & 0x10 != 0 { x |= -1 << (5 * k) }
            }
            if runs.count > 2 { x += runs[runs.count - 2] }
            runs.append(x)
        }
        try self.init(height: height, width: width, counts: runs)
    }

    // MARK: - COCO JSON

    /// `{"size": [h, w], "counts": "…"}` as a JSON-ready dictionary.
    public var cocoObject: [String: Any] { ["size": [height, width], "counts": compressedCounts] }

    /// Reads a COCO segmentation object: `counts` either the compressed string or a list of runs.
    public init(cocoObject object: [String: Any]) throws {
        guard let size = object["size"] as? [Int], size.count == 2 else { throw RLEError.invalidSize(height: 0, width: 0) }
        if let s = object["counts"] as? String {
            try self.init(compressed: s, height: size[0], width: size[1])
        } else if let runs = object["counts"] as? [Int] {
            try self.init(height: size[0], width: size[1], counts: runs)
        } else {
            throw RLEError.truncated(position: 0)
        }
    }
}
