// Incremental detokenisation for printing while generating: a token can end inside a multi-byte character
// (byte-level BPE), so bytes that may still become a character are held back until the next token.

/// Accepts ids one at a time and returns only complete UTF-8 text. The concatenation of everything it returns,
/// `finish()` included, equals `tokenizer.decode(allIds)` (without the special tokens when it hides them).
public struct StreamingDecoder {
    public let tokenizer: TikTokenizer
    /// Special tokens (`<|reserved_token_…|>`, role markers) add no text: what is printed is the answer only.
    public let hidesSpecialTokens: Bool
    private var pending: [UInt8] = []

    public init(_ tokenizer: TikTokenizer, hidingSpecialTokens: Bool = false) {
        self.tokenizer = tokenizer
        hidesSpecialTokens = hidingSpecialTokens
    }

    /// Text completed by `id` (possibly empty).
    public mutating func append(_ id: Int) -> String {
        if hidesSpecialTokens && tokenizer.isSpecial(id) { return "" }
        tokenizer.appendBytes(id, to: &pending)
        let cut = StreamingDecoder.completePrefix(pending)
        if cut == 0 { return "" }
        let text = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    /// Text completed by `ids`.
    public mutating func append<S: Sequence>(contentsOf ids: S) -> String where S.Element == Int {
        var text = ""
        for id in ids { text += append(id) }
        return text
    }

    /// The held-back bytes, an unfinished character becoming U+FFFD; the decoder is empty afterwards.
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Whether bytes are held back waiting for the rest of a character.
    public var hasPending: Bool { !pending.isEmpty }

    /// Length of the prefix that can be decoded now: everything except a trailing sequence that is a valid but
    /// unfinished UTF-8 character. Cutting only there keeps U+FFFD replacement identical to decoding all at once.
    static func completePrefix(_ b: [UInt8]) -> Int {
        let n = b.count
        var p = n - 1
        // back over at most 3 continuation bytes to the last lead byte
        while p >= 0 && p > n - 4 && b[p] & 0xC0 == 0x80 { p -= 1 }
        guard p >= 0 else { return n }
        let lead = b[p]
        let need: Int
        switch lead {
        case 0xC2...0xDF: need = 2
        case 0xE0...0xEF: need = 3
        case 0xF0...0xF4: need = 4
        default: return n
        }
        let have = n - p
        if have >= need { return n }
        if have >= 2 {
            // the second byte's range depends on the lead (no overlongs, surrogates or > U+10FFFF)
            let second = b[p + 1]
            let ok: Bool
            switch lead {
            case 0xE0: ok = second >= 0xA0
            case 0xED: ok = second <= 0x9F
            case 0xF0: ok = second >= 0x90
            case 0xF4: ok = second <= 0x8F
            default: ok = true
            }
            if !ok { return n }
        }
        return p
    }
}
