// Kimi-VL's pre-tokenisation regex (specs/kimi_vl.md §6) as a hand-written scanner over Unicode scalars.
//
// The reference is tiktoken's Rust fancy-regex with this pat_str (alternatives tried in order, leftmost-first,
// backtracking within an alternative):
//   1. [\p{Han}]+
//   2. [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//   3. [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//   4. \p{N}{1,3}
//   5.  ?[^\s\p{L}\p{N}]+[\r\n]*
//   6. \s*[\r\n]+
//   7. \s+(?!\S)
//   8. \s+
// Each alternative below reproduces the match a backtracking engine finds first. Swift Regex (6.3) accepts the
// pattern, but its `\p{Han}` is Script_Extensions (。、・ join Han runs: 3 of the 192 fixture strings split
// differently) and it runs at about 0.3 MB/s against 100+ MB/s for this scanner.
// Character classes follow the reference engine's Unicode tables (Unicode 16.0 in tiktoken 0.14): `\p{Han}` is
// Script=Han (not Script_Extensions, so 、 and ー are not Han), `\s` is White_Space. Scalars assigned after the
// reference version count as unassigned; Tests/PrismTokenizerTests/Fixtures/unicode_classes.json checks every
// code point against tiktoken.

/// Per-scalar class bits used by the scanner.
struct CharClass: OptionSet {
    let rawValue: UInt8
    static let han = CharClass(rawValue: 1)       // \p{Han} (Script=Han)
    static let letter = CharClass(rawValue: 2)    // \p{L}
    static let number = CharClass(rawValue: 4)    // \p{N}
    static let upper = CharClass(rawValue: 8)     // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]
    static let lower = CharClass(rawValue: 16)    // [\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]
    static let space = CharClass(rawValue: 32)    // \s (White_Space)
    static let newline = CharClass(rawValue: 64)  // [\r\n]

    /// The Unicode version of the reference engine's tables; newer scalars are treated as unassigned.
    static let referenceUnicodeVersion = (major: 16, minor: 0)

    /// Script=Han in Unicode 16.0 (printed by Tools/reference/tokenizer_fixtures.py from tiktoken's engine).
    static let hanRanges: [ClosedRange<UInt32>] = [
        0x2E80...0x2E99, 0x2E9B...0x2EF3, 0x2F00...0x2FD5, 0x3005...0x3005, 0x3007...0x3007, 0x3021...0x3029,
        0x3038...0x303B, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xF900...0xFA6D, 0xFA70...0xFAD9, 0x16FE2...0x16FE3,
        0x16FF0...0x16FF1, 0x20000...0x2A6DF, 0x2A700...0x2B739, 0x2B740...0x2B81D, 0x2B820...0x2CEA1,
        0x2CEB0...0x2EBE0, 0x2EBF0...0x2EE5D, 0x2F800...0x2FA1D, 0x30000...0x3134A, 0x31350...0x323AF,
    ]

    /// Scalars whose General_Category changed after the reference version: the reference's value.
    static let generalCategoryOverrides: [UInt32: Unicode.GeneralCategory] = [
        0x0295: .lowercaseLetter,   // ʕ: Ll in Unicode 16, Lo from 17
    ]

    static func isHan(_ v: UInt32) -> Bool {
        if v < 0x2E80 { return false }
        var lo = 0, hi = hanRanges.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if hanRanges[mid].upperBound < v { lo = mid + 1 } else { hi = mid }
        }
        return lo < hanRanges.count && hanRanges[lo].contains(v)
    }

    /// Classifies one scalar from Unicode properties (cached for the BMP in `bmp`).
    static func compute(_ v: UInt32) -> CharClass {
        guard let s = Unicode.Scalar(v) else { return [] }
        var c: CharClass = []
        if v == 0x0D || v == 0x0A { c.insert(.newline) }
        let p = s.properties
        guard let age = p.age, (age.major, age.minor) <= referenceUnicodeVersion else { return c }
        if p.isWhitespace { c.insert(.space) }
        let han = isHan(v)
        if han { c.insert(.han) }
        switch generalCategoryOverrides[v] ?? p.generalCategory {
        case .uppercaseLetter, .titlecaseLetter:
            c.formUnion(han ? [.letter] : [.letter, .upper])
        case .lowercaseLetter:
            c.formUnion(han ? [.letter] : [.letter, .lower])
        case .modifierLetter, .otherLetter:
            c.formUnion(han ? [.letter] : [.letter, .upper, .lower])
        case .nonspacingMark, .spacingMark, .enclosingMark:
            if !han { c.formUnion([.upper, .lower]) }
        case .decimalNumber, .letterNumber, .otherNumber:
            c.insert(.number)
        default:
            break
        }
        return c
    }

    /// Classes of all BMP scalars, built once (about 5 ms).
    static let bmp: [UInt8] = (0..<0x10000).map { compute(UInt32($0)).rawValue }

    @inline(__always) static func of(_ v: UInt32) -> UInt8 {
        v < 0x10000 ? bmp[Int(v)] : compute(v).rawValue
    }
}

/// Splits valid UTF-8 into the regex's pieces. Reuses its buffers between calls; not thread-safe (one per encode).
struct PreTokenizer {
    private var scalars: [UInt32] = []
    private var classes: [UInt8] = []
    private var offsets: [Int] = []   // byte offset of each scalar, plus the end
    private let bmp = CharClass.bmp

    /// Calls `piece` with the byte range of each piece of `bytes[range]`, in order.
    mutating func split(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ piece: (Range<Int>) -> Void) {
        if scalars.count < range.count + 1 {
            let capacity = max(range.count + 1, 2 * scalars.count)
            scalars = [UInt32](repeating: 0, count: capacity)
            classes = [UInt8](repeating: 0, count: capacity)
            offsets = [Int](repeating: 0, count: capacity)
        }
        let table = bmp
        scalars.withUnsafeMutableBufferPointer { sp in
            classes.withUnsafeMutableBufferPointer { cp in
                offsets.withUnsafeMutableBufferPointer { op in
                    table.withUnsafeBufferPointer { bmp in
                        let n = PreTokenizer.decode(bytes, range, bmp, sp.baseAddress!, cp.baseAddress!, op.baseAddress!)
                        let scanner = Scanner(scalars: sp.baseAddress!, classes: cp.baseAddress!, n: n)
                        var i = 0
                        while i < n {
                            let end = scanner.scan(from: i)
                            piece(op[i]..<op[end])
                            i = end
                        }
                    }
                }
            }
        }
    }

    /// Splits a string into its pieces (for tests and inspection).
    static func pieces(_ text: String) -> [String] {
        var pre = PreTokenizer()
        var out: [String] = []
        let bytes = Array(text.utf8)
        bytes.withUnsafeBufferPointer { buf in
            pre.split(buf, 0..<buf.count) { out.append(String(decoding: buf[$0], as: UTF8.self)) }
        }
        return out
    }

    /// UTF-8 → scalars, their classes and byte offsets (plus the end offset); returns the scalar count.
    private static func decode(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ bmp: UnsafeBufferPointer<UInt8>,
                               _ scalars: UnsafeMutablePointer<UInt32>, _ classes: UnsafeMutablePointer<UInt8>,
                               _ offsets: UnsafeMutablePointer<Int>) -> Int {
        var i = range.lowerBound
        let end = range.upperBound
        var n = 0
        while i < end {
            let b0 = UInt32(b[i])
            var v: UInt32
            var len: Int
            if b0 < 0x80 {
                v = b0; len = 1
            } else if b0 < 0xE0 {
                v = (b0 & 0x1F) << 6 | UInt32(b[i + 1] & 0x3F); len = 2
            } else if b0 < 0xF0 {
                v = (b0 & 0x0F) << 12 | UInt32(b[i + 1] & 0x3F) << 6 | UInt32(b[i + 2] & 0x3F); len = 3
            } else {
                v = (b0 & 0x07) << 18 | UInt32(b[i + 1] & 0x3F) << 12 | UInt32(b[i + 2] & 0x3F) << 6
                    | UInt32(b[i + 3] & 0x3F); len = 4
            }
            scalars[n] = v
            classes[n] = v < 0x10000 ? bmp[Int(v)] : CharClass.compute(v).rawValue
            offsets[n] = i
            n += 1
            i += len
        }
        offsets[n] = end
        return n
    }
}

// MARK: - The eight alternatives

private struct Scanner {
    let scalars: UnsafeMutablePointer<UInt32>
    let classes: UnsafeMutablePointer<UInt8>
    let n: Int

    @inline(__always) private func has(_ i: Int, _ c: CharClass) -> Bool { classes[i] & c.rawValue != 0 }

    /// End (scalar index) of the piece starting at `i`.
    func scan(from i: Int) -> Int {
        // 1. [\p{Han}]+
        if has(i, .han) {
            var e = i + 1
            while e < n && has(e, .han) { e += 1 }
            return e
        }
        // 2. and 3.: optional prefix [^\r\n\p{L}\p{N}], tried first with it, then without
        let prefix = classes[i] & (CharClass.newline.rawValue | CharClass.letter.rawValue | CharClass.number.rawValue) == 0
        if prefix, let e = upperStarLowerPlus(i + 1) { return contraction(e) }
        if let e = upperStarLowerPlus(i) { return contraction(e) }
        if prefix, let e = upperPlusLowerStar(i + 1) { return contraction(e) }
        if let e = upperPlusLowerStar(i) { return contraction(e) }
        // 4. \p{N}{1,3}
        if has(i, .number) {
            var e = i + 1
            while e < n && e < i + 3 && has(e, .number) { e += 1 }
            return e
        }
        // 5. " ?[^\s\p{L}\p{N}]+[\r\n]*"
        let other = CharClass.space.rawValue | CharClass.letter.rawValue | CharClass.number.rawValue
        var j = i
        if scalars[i] == 0x20 && i + 1 < n && classes[i + 1] & other == 0 { j = i + 1 }
        if classes[j] & other == 0 {
            var e = j + 1
            while e < n && classes[e] & other == 0 { e += 1 }
            while e < n && has(e, .newline) { e += 1 }
            return e
        }
        guard has(i, .space) else { return i + 1 }  // unreachable: every scalar matches some alternative
        var k = i + 1
        while k < n && has(k, .space) { k += 1 }
        // 6. \s*[\r\n]+ : \s* backs off to the last newline of the run
        var m = k - 1
        while m >= i {
            if has(m, .newline) { return m + 1 }
            m -= 1
        }
        // 7. \s+(?!\S) : the whole run at the end of the text, else all but its last scalar
        if k == n { return n }
        if k - i >= 2 { return k - 1 }
        // 8. \s+
        return k
    }

    /// `[U]*[L]+` from `j` as a backtracking engine matches it: U* greedy, giving back until L+ can start.
    private func upperStarLowerPlus(_ j: Int) -> Int? {
        var k = j
        while k < n && has(k, .upper) { k += 1 }
        var m = k
        while true {
            if m < n && has(m, .lower) {
                var e = m + 1
                while e < n && has(e, .lower) { e += 1 }
                return e
            }
            if m == j { return nil }
            m -= 1
        }
    }

    /// `[U]+[L]*` from `j`.
    private func upperPlusLowerStar(_ j: Int) -> Int? {
        var k = j
        while k < n && has(k, .upper) { k += 1 }
        if k == j { return nil }
        while k < n && has(k, .lower) { k += 1 }
        return k
    }

    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)?` at `e`; simple case folding, so U+017F (ſ) matches s.
    private func contraction(_ e: Int) -> Int {
        guard e + 1 < n, scalars[e] == 0x27 else { return e }
        func folded(_ i: Int) -> UInt32 {
            let v = scalars[i]
            if v >= 0x41 && v <= 0x5A { return v | 0x20 }
            return v == 0x17F ? 0x73 : v
        }
        switch folded(e + 1) {
        case 0x73, 0x74, 0x6D, 0x64: return e + 2                                      // 's 't 'm 'd
        case 0x72: return e + 2 < n && folded(e + 2) == 0x65 ? e + 3 : e               // 're
        case 0x76: return e + 2 < n && folded(e + 2) == 0x65 ? e + 3 : e               // 've
        case 0x6C: return e + 2 < n && folded(e + 2) == 0x6C ? e + 3 : e               // 'll
        default: return e
        }
    }
}
