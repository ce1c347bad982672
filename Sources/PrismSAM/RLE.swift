// COCO run-length encoding as pycocotools' maskApi defines it: pixels read column by column (Fortran order),
// alternating runs of 0s and 1s that start with 0s (a mask whose first pixel is set starts with an empty run).
// The compressed `counts` string stores each run in 5-bit groups, low bits first (0x20 = more groups follow,
// 0x10 in the last group = negative), each group + 48 as one ASCII character; from the third run on the value
// written is the difference to the run two before.

public enum RLEError: Error, Equatable, CustomStringConvertible {
    case invalidSize(height: Int, width: Int)
    case maskSize(expected: Int, actual: Int)
    case invalidCharacter(position: Int, byte: UInt8)
    case truncated(position: Int)
    case countsSum(expected: Int, actual: Int)

    public var description: String {
        switch self {
        case let .invalidSize(h, w): "RLE size [\(h), \(w)] is not a positive height and width"
        case let .maskSize(e, a): "mask has \(a) pixels, expected \(e)"
        case let .invalidCharacter(p, b): "RLE counts: byte \(b) at position \(p) is not a run character"
        case let .truncated(p): "RLE counts: the string ends inside a run at position \(p)"
        case let .countsSum(e, a): "RLE counts cover \(a) pixels, expected height × width = \(e)"
        }
    }
}

/// A binary mask of height × width as COCO RLE runs.
public struct RLE: Equatable, Sendable {
    public let height: Int, width: Int
    public let counts: [Int]

    /// Encodes a row-major mask (non-zero = inside).
    public init(mask: [UInt8], width: Int, height: Int) throws {
        guard height > 0, width > 0 else { throw RLEError.invalidSize(height: height, width: width) }
        guard mask.count == width * height else { throw RLEError.maskSize(expected: width * height, actual: mask.count) }
        var runs: [Int] = []
        var inside = false, run = 0
        for p in 0..<(width * height) {
            let on = mask[(p % height) * width + p / height] != 0
            if on != inside { runs.append(run); run = 0; inside = on }
            run += 1
        }
        runs.append(run)
        self.height = height; self.width = width; counts = runs
    }

    /// Decodes pycocotools' compressed string for a height × width mask.
    public init(compressed: String, height: Int, width: Int) throws {
        guard height > 0, width > 0 else { throw RLEError.invalidSize(height: height, width: width) }
        let s = Array(compressed.utf8)
        var runs: [Int] = []
        var p = 0
        while p < s.count {
            var value = 0, shift = 0, more = true
            while more {
                guard p < s.count else { throw RLEError.truncated(position: p) }
                guard s[p] >= 48, s[p] < 112, shift < 60 else { throw RLEError.invalidCharacter(position: p, byte: s[p]) }
                let c = Int(s[p]) - 48
                value |= (c & 0x1f) << shift
                more = c & 0x20 != 0
                shift += 5
                p += 1
                if !more && c & 0x10 != 0 { value |= -1 << shift }
            }
            if runs.count > 2 { value += runs[runs.count - 2] }
            runs.append(value)
        }
        let total = runs.reduce(0, +)
        guard runs.allSatisfy({ $0 >= 0 }), total == height * width else { throw RLEError.countsSum(expected: height * width, actual: total) }
        self.height = height; self.width = width; counts = runs
    }

    /// The compressed `counts` string (pycocotools' `rleToString`).
    public var compressedCounts: String {
        var out: [UInt8] = []
        for (i, run) in counts.enumerated() {
            var x = i > 2 ? run - counts[i - 2] : run
            var more = true
            while more {
                var c = UInt8(truncatingIfNeeded: x & 0x1f)
                x >>= 5
                more = c & 0x10 != 0 ? x != -1 : x != 0
                if more { c |= 0x20 }
                out.append(c + 48)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The mask, row-major 0/1.
    public func mask() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: width * height)
        var p = 0
        for (i, run) in counts.enumerated() {
            if i % 2 == 1 { for q in p..<(p + run) { out[(q % height) * width + q / height] = 1 } }
            p += run
        }
        return out
    }

    /// Pixels inside.
    public var area: Int { stride(from: 1, to: counts.count, by: 2).reduce(0) { $0 + counts[$1] } }

    /// [x, y, w, h] of the set pixels as pycocotools' `toBbox` (all zero for an empty mask).
    public var bbox: [Int] {
        var x0 = width, y0 = height, x1 = -1, y1 = -1, p = 0
        for (i, run) in counts.enumerated() {
            if i % 2 == 1 && run > 0 {
                let first = p, last = p + run - 1
                x0 = min(x0, first / height); x1 = max(x1, last / height)
                if first / height == last / height {
                    y0 = min(y0, first % height); y1 = max(y1, last % height)
                } else {
                    y0 = 0; y1 = height - 1                  // the run wraps a column: it spans every row
                }
            }
            p += run
        }
        return x1 < 0 ? [0, 0, 0, 0] : [x0, y0, x1 - x0 + 1, y1 - y0 + 1]
    }
}
