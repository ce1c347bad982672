import PrismCore
import PrismTokenizer

/// Deterministic random numbers for the property tests.
typealias SplitMix = SplitMix64

/// Random valid text: ASCII, Latin, CJK, emoji, combining marks, whitespace and any scalar at all.
func randomText(_ rng: inout SplitMix, length: Int) -> String {
    let pools: [[UInt32]] = [
        Array(0x20...0x7E), [0x0A, 0x0D, 0x09, 0x20, 0x20, 0x3000, 0xA0], Array(0xC0...0x17F), Array(0x300...0x36F),
        Array(0x4E00...0x4E80), Array(0x3040...0x30FF), Array(0xAC00...0xAC40), Array(0x1F600...0x1F64F),
        [0x200D, 0xFE0F, 0x1F3FD, 0x27, 0x73, 0x17F], Array(0x20000...0x20010),
    ]
    var s = String.UnicodeScalarView()
    for _ in 0..<length {
        if rng.next() % 8 == 0 {
            // any scalar (not a surrogate)
            var v = UInt32(rng.next() % 0x110000)
            if (0xD800..<0xE000).contains(v) { v -= 0x800 }
            s.append(Unicode.Scalar(v)!)
        } else {
            let pool = pools[Int(rng.next() % UInt64(pools.count))]
            s.append(Unicode.Scalar(pool[Int(rng.next() % UInt64(pool.count))])!)
        }
    }
    return String(s)
}

/// The id of each single-byte token.
func byteTokenIDs(_ t: TikTokenizer) -> [Int] {
    var ids = [Int](repeating: -1, count: 256)
    for id in 0..<t.numBaseTokens {
        if let b = t.tokenBytes(id), b.count == 1 { ids[Int(b.first!)] = id }
    }
    return ids
}
