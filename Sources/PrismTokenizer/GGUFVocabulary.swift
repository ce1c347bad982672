// The tokenizer as llama.cpp's converter stores it in GGUF for Kimi models (DeepseekV2Model.set_vocab,
// pre-tokenizer "kimi-k2"): `tokenizer.ggml.tokens` holds every id's bytes as a GPT-2 byte-level string
// ("[PAD{i}]" for ids the tokenizer lacks), `tokenizer.ggml.token_type` marks them NORMAL (1), CONTROL (3,
// the special tokens) or UNUSED (5), and `tokenizer.ggml.merges` lists, in rank order, the pair each
// multi-byte token is merged from. tiktoken's rank of a token is its id, and the merges follow rank order,
// so the token list alone rebuilds the same encoder as tiktoken.model.
import Foundation
import PrismIO

/// GPT-2's reversible byte ↔ printable-character map (bytes_to_unicode).
public enum ByteLevel {
    /// Character for each byte: printable Latin-1 bytes map to themselves, the rest to U+0100 onwards.
    public static let characters: [Character] = {
        var out = [Character](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable { out[b] = Character(UnicodeScalar(UInt8(b))) } else { out[b] = Character(UnicodeScalar(next)!); next += 1 }
        }
        return out
    }()

    static let bytes: [Character: UInt8] = {
        var m: [Character: UInt8] = [:]
        for (b, c) in characters.enumerated() { m[c] = UInt8(b) }
        return m
    }()

    public static func encode<S: Sequence>(_ b: S) -> String where S.Element == UInt8 { String(b.map { characters[Int($0)] }) }

    /// nil when a character is not one of the 256.
    public static func decode(_ s: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(s.unicodeScalars.count)
        for c in s { guard let b = bytes[c] else { return nil }; out.append(b) }
        return out
    }
}

public enum GGUFTokenType: Int32 { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }

extension TikTokenizer {
    /// The tokenizer of a GGUF file written by llama.cpp's converter (or `prism quantize`) for a Kimi model.
    public convenience init(gguf f: GGUFFile) throws {
        func invalid(_ key: String, _ reason: String) -> Error { GGUFError.invalidValue(file: f.path, key: key, reason: reason) }
        let model = try f.string("tokenizer.ggml.model")
        guard model == "gpt2" else { throw invalid("tokenizer.ggml.model", "\(quoted(model)) is not supported (Kimi's byte-level BPE is 'gpt2')") }
        let pre = try f.string("tokenizer.ggml.pre")
        guard pre == "kimi-k2" else { throw invalid("tokenizer.ggml.pre", "\(quoted(pre)) is not supported (Prism implements 'kimi-k2')") }
        guard let tokens = try f.array("tokenizer.ggml.tokens").strings else { throw invalid("tokenizer.ggml.tokens", "must be an array of strings") }
        guard let types = try f.array("tokenizer.ggml.token_type").ints, types.count == tokens.count else {
            throw invalid("tokenizer.ggml.token_type", "must be one integer per token (\(tokens.count))")
        }
        var table = TokenTable(capacity: tokens.count)
        var specials: [Int: String] = [:]
        var base = 0
        for (id, (token, type)) in zip(tokens, types).enumerated() {
            switch GGUFTokenType(rawValue: Int32(type)) {
            case .normal?:
                // tiktoken ranks are 0 ..< n, so the BPE vocabulary must be the leading ids
                guard id == base else { throw invalid("tokenizer.ggml.tokens", "normal token \(id) follows non-normal ones") }
                guard let b = ByteLevel.decode(token) else { throw invalid("tokenizer.ggml.tokens", "token \(id) is not a byte-level string") }
                if let other = table.insert(b, id: id) { throw invalid("tokenizer.ggml.tokens", "tokens \(other) and \(id) are the same bytes") }
                base += 1
            case .control?, .userDefined?:
                specials[id] = token
            default:
                continue
            }
        }
        for byte in 0..<256 where table.lookup([UInt8(byte)]) == nil {
            throw invalid("tokenizer.ggml.tokens", String(format: "no token for the single byte 0x%02X", byte))
        }
        try self.init(ranks: table, specials: specials, vocabularySize: tokens.count, source: f.path,
                      key: { "tokenizer.ggml.tokens[\($0)]" })
    }

    /// The token list, types and merges llama.cpp's converter writes for the first `vocabularySize` ids.
    public func ggufVocabulary(vocabularySize: Int) -> (tokens: [String], types: [Int32], merges: [String]) {
        var tokens: [String] = [], types: [Int32] = []
        tokens.reserveCapacity(vocabularySize); types.reserveCapacity(vocabularySize)
        for id in 0..<vocabularySize {
            if id < numBaseTokens {
                tokens.append(ByteLevel.encode(tokenBytes(id)!)); types.append(GGUFTokenType.normal.rawValue)
            } else if let name = specialName(id) {
                tokens.append(name); types.append(GGUFTokenType.control.rawValue)
            } else {
                tokens.append("[PAD\(id)]"); types.append(GGUFTokenType.unused.rawValue)
            }
        }
        var merges: [String] = []
        for id in 0..<numBaseTokens {
            let b = tokenBytes(id)!
            guard b.count > 1 else { continue }
            let parts = mergeParts(b, maxRank: id)
            if parts.count == 2 { merges.append(ByteLevel.encode(parts[0]) + " " + ByteLevel.encode(parts[1])) }
        }
        return (tokens, types, merges)
    }

    /// Byte-pair merging of `b` using only merges of rank below `maxRank` (the converter's QwenModel.bpe).
    func mergeParts(_ b: [UInt8], maxRank: Int) -> [[UInt8]] {
        var parts = b.map { [$0] }
        while parts.count > 1 {
            var best: (index: Int, rank: Int)? = nil
            for i in 0..<(parts.count - 1) {
                if let r = rankOf(parts[i] + parts[i + 1]), best == nil || r < best!.rank { best = (i, r) }
            }
            guard let m = best, m.rank < maxRank else { break }
            parts[m.index] += parts[m.index + 1]
            parts.remove(at: m.index + 1)
        }
        return parts
    }
}
