// Kimi-VL's tokenizer (specs/kimi_vl.md §6): tiktoken-format byte-level BPE plus the special tokens that
// tokenization_moonshot.py derives from tokenizer_config.json.
import Foundation
import PrismIO

/// Errors loading or using a tokenizer or chat template; each renders as one line naming the file.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case missingFile(path: String)
    case malformedLine(path: String, line: Int, reason: String)
    case invalidModel(path: String, reason: String)
    case templateNotFound(path: String)
    case templateNotFoundInSearch(name: String, searched: [String])
    case invalidTemplate(path: String, reason: String)
    case imageCountMismatch(images: Int, tokenCounts: Int)
    case invalidImageTokenCount(image: Int, count: Int)

    public var description: String {
        switch self {
        case let .missingFile(p): "\(p): file not found"
        case let .malformedLine(p, l, r): "\(p):\(l): \(r)"
        case let .invalidModel(p, r): "\(p): \(r)"
        case let .templateNotFound(p): "\(p): chat template not found"
        case let .templateNotFoundInSearch(n, s):
            "chat template Prompts/\(n) not found above \(s.joined(separator: " or ")); pass its path explicitly"
        case let .invalidTemplate(p, r): "\(p): invalid chat template: \(r)"
        case let .imageCountMismatch(i, c): "the conversation has \(i) image(s) but \(c) image token count(s) were given"
        case let .invalidImageTokenCount(i, c): "image \(i): token count \(c) must be positive"
        }
    }
}

/// Byte-level BPE exactly as tiktoken: split by the pre-tokenisation regex, merge each piece's bytes by lowest rank.
public final class TikTokenizer: @unchecked Sendable {
    /// Lines in tiktoken.model; special ids start here (163584 for Kimi-VL).
    public let numBaseTokens: Int
    /// All special tokens, name → id: the named ones from tokenizer_config.json and `<|reserved_token_{id}|>`.
    public let specialTokens: [String: Int]
    /// One past the largest id (base + special).
    public let vocabularySize: Int

    /// 256 reserved + 2, as tokenization_moonshot.py (`num_reserved_special_tokens = 256`).
    public static let specialTokenCount = 258

    private let ranks: FrozenTokenTable      // key index == rank == id
    private let specials: FrozenTokenTable   // special name bytes → id
    private let specialNames: [Int: String]
    private let specialLengths: [Int]        // distinct name lengths in bytes, longest first
    private let specialFirstByte: [Bool]
    private let cache = PieceCache()
    /// The files it was read from (errors about its tokens name them).
    public let modelPath: String
    public let configPath: String

    /// Loads `tiktoken.model` and `tokenizer_config.json` from a checkpoint directory.
    public convenience init(directory: URL) throws {
        try self.init(model: directory.appendingPathComponent("tiktoken.model"),
                      config: directory.appendingPathComponent("tokenizer_config.json"))
    }

    public convenience init(model: URL, config: URL) throws {
        let ranks = try TikTokenizer.loadRanks(model)
        let named = try TikTokenizer.loadSpecialNames(config)
        // tokenization_moonshot.py: ids num_base_tokens ..< +258, named from added_tokens_decoder, others reserved.
        // A named id outside that range means the two files do not belong together (typically a truncated or
        // foreign tiktoken.model shifted the special range); the reference would silently drop the name.
        let base = ranks.count
        let specialRange = base..<(base + TikTokenizer.specialTokenCount)
        if let (id, name) = named.filter({ !specialRange.contains($0.key) }).min(by: { $0.key < $1.key }) {
            throw TokenizerError.invalidModel(path: model.path, reason:
                "\(base) tokens put the special ids at \(specialRange.lowerBound)..<\(specialRange.upperBound), but "
                + "\(config.lastPathComponent) names id \(id) ('\(name)'): the files do not match (truncated or wrong tiktoken.model?)")
        }
        var specials: [Int: String] = [:]
        for id in specialRange { specials[id] = named[id] ?? "<|reserved_token_\(id)|>" }
        try self.init(ranks: ranks, specials: specials, vocabularySize: base + TikTokenizer.specialTokenCount,
                      source: config.path, modelPath: model.path, key: { "added_tokens_decoder.\($0)" })
    }

    /// `ranks`: token bytes → id (= rank) for the base vocabulary; `specials`: id → name. `source` is the file the
    /// special names come from, `modelPath` the one the ranks come from (the same file for GGUF).
    init(ranks table: TokenTable, specials names: [Int: String], vocabularySize: Int, source: String,
         modelPath: String? = nil, key: (Int) -> String) throws {
        ranks = FrozenTokenTable(table)
        numBaseTokens = ranks.count
        self.modelPath = modelPath ?? source
        configPath = source
        var tokens: [String: Int] = [:]
        var specialTable = TokenTable()
        for (id, name) in names.sorted(by: { $0.key < $1.key }) {
            if let other = specialTable.insert(Array(name.utf8), id: id) {
                throw ConfigError.invalidValue(path: source, key: key(id), reason: "'\(name)' is already the name of id \(other)")
            }
            tokens[name] = id
        }
        specialTokens = tokens
        specialNames = names
        specials = FrozenTokenTable(specialTable)
        self.vocabularySize = vocabularySize
        specialLengths = Set(tokens.keys.map { $0.utf8.count }).sorted(by: >)
        var first = [Bool](repeating: false, count: 256)
        for name in tokens.keys { if let b = name.utf8.first { first[Int(b)] = true } }
        specialFirstByte = first
    }

    public func specialTokenID(_ name: String) -> Int? { specialTokens[name] }

    public func isSpecial(_ id: Int) -> Bool { specialNames[id] != nil }

    func specialName(_ id: Int) -> String? { specialNames[id] }

    /// The rank (= id) of a base-vocabulary token's bytes.
    func rankOf(_ b: [UInt8]) -> Int? { ranks.lookup(b) }

    /// The bytes of one token (a special token's name for special ids), or nil for an unknown id.
    public func tokenBytes(_ id: Int) -> [UInt8]? {
        if id >= 0 && id < numBaseTokens { return Array(ranks.key(id)) }
        return specialNames[id].map { Array($0.utf8) }
    }

    // MARK: - Encoding

    /// Token ids of `text`. With `allowSpecial` (tiktoken's `allowed_special="all"`) special-token names in the
    /// text become their ids; without it they are encoded as plain text. Like tokenization_moonshot.py, the text is
    /// first cut into 400 000-character chunks and runs of at most 25 000 (non-)whitespace characters.
    public func encode(_ text: String, allowSpecial: Bool = true) -> [Int] {
        var text = text
        var out: [Int] = []
        out.reserveCapacity(text.utf8.count / 3 + 1)
        var pre = PreTokenizer()
        text.withUTF8 { buf in
            for chunk in TikTokenizer.chunks(buf) {
                if allowSpecial {
                    encodeWithSpecials(buf, chunk, &pre, &out)
                } else {
                    encodeOrdinary(buf, chunk, &pre, &out)
                }
            }
        }
        return out
    }

    /// Text and special-token runs, as `tokenize` in the chat template needs them.
    func encodeOrdinary(_ text: String, into out: inout [Int]) {
        var text = text
        var pre = PreTokenizer()
        text.withUTF8 { buf in
            for chunk in TikTokenizer.chunks(buf) { encodeOrdinary(buf, chunk, &pre, &out) }
        }
    }

    private func encodeWithSpecials(_ buf: UnsafeBufferPointer<UInt8>, _ range: Range<Int>,
                                    _ pre: inout PreTokenizer, _ out: inout [Int]) {
        scanSpecials(buf, range, ordinary: { encodeOrdinary(buf, $0, &pre, &out) }, special: { out.append($0) })
    }

    /// Calls `ordinary` for the text between special-token names (possibly empty ranges) and `special` for each
    /// name, leftmost first (the longest name where several start at one place).
    private func scanSpecials(_ buf: UnsafeBufferPointer<UInt8>, _ range: Range<Int>,
                              ordinary: (Range<Int>) -> Void, special: (Int) -> Void) {
        var start = range.lowerBound
        var p = start
        let end = range.upperBound
        while p < end {
            if specialFirstByte[Int(buf[p])],
               let (id, len) = specialLengths.lazy.filter({ p + $0 <= end })
                   .compactMap({ len in self.specials.lookup(buf.baseAddress! + p, len).map { ($0, len) } }).first {
                ordinary(start..<p)
                special(id)
                p += len
                start = p
            } else {
                p += 1
            }
        }
        ordinary(start..<end)
    }

    /// A string cut at special-token names.
    enum Segment: Equatable { case text(String), special(Int) }

    func segments(_ text: String) -> [Segment] {
        var text = text
        var out: [Segment] = []
        text.withUTF8 { buf in
            scanSpecials(buf, 0..<buf.count, ordinary: { r in
                if !r.isEmpty { out.append(.text(String(decoding: buf[r], as: UTF8.self))) }
            }, special: { out.append(.special($0)) })
        }
        return out
    }

    private func encodeOrdinary(_ buf: UnsafeBufferPointer<UInt8>, _ range: Range<Int>,
                                _ pre: inout PreTokenizer, _ out: inout [Int]) {
        if range.isEmpty { return }
        pre.split(buf, range) { piece in
            let p = buf.baseAddress! + piece.lowerBound
            if let id = ranks.lookup(p, piece.count) {
                out.append(id)
            } else {
                let key = UnsafeBufferPointer(start: p, count: piece.count)
                if let ids = cache.get(key) {
                    out.append(contentsOf: ids)
                } else {
                    var ids: [Int] = []
                    bytePairEncode(p, piece.count, &ids)
                    cache.put(key, ids)
                    out.append(contentsOf: ids)
                }
            }
        }
    }

    /// tiktoken's `_byte_pair_merge`: repeatedly merge the adjacent pair whose concatenation has the lowest rank
    /// (leftmost on ties), then emit the rank of each part. Every single byte has a rank (checked at load).
    /// Long pieces take a heap-based path that makes the same merges in O(n log n) instead of O(n²).
    func bytePairEncode(_ p: UnsafePointer<UInt8>, _ len: Int, _ out: inout [Int]) {
        let starts = len > 64 ? mergeWithHeap(p, len) : mergeByScanning(p, len)
        for j in 0..<(starts.count - 1) { out.append(ranks.lookup(p + starts[j], starts[j + 1] - starts[j])!) }
    }

    /// Part starts (plus the end) after merging, exactly as tiktoken's loop: scan for the minimum each round.
    func mergeByScanning(_ p: UnsafePointer<UInt8>, _ len: Int) -> [Int] {
        let none = Int.max
        @inline(__always) func rank(_ a: Int, _ b: Int) -> Int { ranks.lookup(p + a, b - a) ?? none }
        var pos = [Int](0...len)                       // part starts, plus the end
        var pairRank = [Int](repeating: none, count: len + 1)
        var best = (none, -1)
        for i in 0..<(len - 1) {
            pairRank[i] = rank(i, i + 2)
            if pairRank[i] < best.0 { best = (pairRank[i], i) }
        }
        while best.0 != none {
            let i = best.1
            // ranks of the pairs the merged part forms with its neighbours (pos[i+3]/pos[i+2] before removal)
            if i > 0 { pairRank[i - 1] = i + 2 < pos.count ? rank(pos[i - 1], pos[i + 2]) : none }
            pairRank[i] = i + 3 < pos.count ? rank(pos[i], pos[i + 3]) : none
            pos.remove(at: i + 1)
            pairRank.remove(at: i + 1)
            best = (none, -1)
            for j in 0..<(pos.count - 1) where pairRank[j] < best.0 { best = (pairRank[j], j) }
        }
        return pos
    }

    /// The same merges with a min-heap of (rank, start) over a linked list of parts: the minimum (rank, start) is
    /// tiktoken's choice (lowest rank, leftmost); a heap entry is stale when its part is gone or its pair's rank
    /// changed (a pair's bytes, hence rank, change whenever its end moves).
    func mergeWithHeap(_ p: UnsafePointer<UInt8>, _ len: Int) -> [Int] {
        let none = Int.max
        @inline(__always) func rank(_ a: Int, _ b: Int) -> Int { ranks.lookup(p + a, b - a) ?? none }
        var next = [Int](1...(len + 1))               // next part's start; parts start at alive positions
        var prev = [Int](-1..<len)
        var alive = [Bool](repeating: true, count: len + 1)
        var pairRank = [Int](repeating: none, count: len + 1)
        var heap = MinHeap()
        for i in 0..<(len - 1) {
            pairRank[i] = rank(i, i + 2)
            if pairRank[i] != none { heap.push(UInt64(pairRank[i]) << 32 | UInt64(i)) }
        }
        while let top = heap.pop() {
            let r = Int(top >> 32), s = Int(top & 0xFFFF_FFFF)
            guard alive[s], pairRank[s] == r else { continue }
            let t = next[s]                            // merge part t into part s
            alive[t] = false
            next[s] = next[t]
            if next[t] <= len { prev[next[t]] = s }
            pairRank[s] = next[s] < len ? rank(s, next[next[s]]) : none
            if pairRank[s] != none { heap.push(UInt64(pairRank[s]) << 32 | UInt64(s)) }
            if s > 0 {
                let q = prev[s]
                pairRank[q] = rank(q, next[s])
                if pairRank[q] != none { heap.push(UInt64(pairRank[q]) << 32 | UInt64(q)) }
            }
        }
        var starts: [Int] = []
        var s = 0
        while s < len { starts.append(s); s = next[s] }
        starts.append(len)
        return starts
    }

    /// tokenization_moonshot.py's chunking: 400 000-code-point chunks, each cut into runs of at most 25 000
    /// consecutive whitespace or non-whitespace code points (Python `str.isspace`). Byte ranges.
    static func chunks(_ buf: UnsafeBufferPointer<UInt8>, maxChunk: Int = 400_000, maxRun: Int = 25_000) -> [Range<Int>] {
        if buf.count <= maxRun { return [0..<buf.count] }
        var out: [Range<Int>] = []
        var i = 0
        var index = 0                 // code points since the chunk start
        var sliceStart = 0, runLength = 0, runIsSpace = false
        while i < buf.count {
            let b0 = buf[i]
            let len: Int
            let space: Bool
            if b0 < 0x80 {
                len = 1
                space = (b0 >= 0x09 && b0 <= 0x0D) || (b0 >= 0x1C && b0 <= 0x20)
            } else {
                len = b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4
                space = pythonIsSpace(decodeScalar(buf, i, len))
            }
            if index == maxChunk {
                out.append(sliceStart..<i)
                sliceStart = i
                index = 0
            }
            if index == 0 { runIsSpace = space; runLength = 0 }
            if runIsSpace != space {
                runLength = 1
                runIsSpace = space
            } else {
                runLength += 1
                if runLength > maxRun {
                    out.append(sliceStart..<i)
                    sliceStart = i
                    runLength = 1
                }
            }
            index += 1
            i += len
        }
        out.append(sliceStart..<buf.count)
        return out
    }

    private static func decodeScalar(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ len: Int) -> UInt32 {
        let b0 = UInt32(b[i])
        switch len {
        case 2: return (b0 & 0x1F) << 6 | UInt32(b[i + 1] & 0x3F)
        case 3: return (b0 & 0x0F) << 12 | UInt32(b[i + 1] & 0x3F) << 6 | UInt32(b[i + 2] & 0x3F)
        default:
            return (b0 & 0x07) << 18 | UInt32(b[i + 1] & 0x3F) << 12 | UInt32(b[i + 2] & 0x3F) << 6
                | UInt32(b[i + 3] & 0x3F)
        }
    }

    /// Python's `str.isspace`: White_Space plus U+001C…U+001F (bidi class B/S).
    static func pythonIsSpace(_ v: UInt32) -> Bool {
        switch v {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    // MARK: - Decoding

    /// The concatenated bytes of `ids`; an unknown id contributes U+FFFD's bytes.
    public func decodeBytes<S: Sequence>(_ ids: S) -> [UInt8] where S.Element == Int {
        var out: [UInt8] = []
        for id in ids { appendBytes(id, to: &out) }
        return out
    }

    /// UTF-8 text of `ids`, invalid sequences replaced by U+FFFD (Python's `errors="replace"`).
    public func decode(_ ids: [Int]) -> String {
        String(decoding: decodeBytes(ids), as: UTF8.self)
    }

    func appendBytes(_ id: Int, to out: inout [UInt8]) {
        if id >= 0 && id < numBaseTokens {
            out.append(contentsOf: ranks.key(id))
        } else if let name = specialNames[id] {
            out.append(contentsOf: name.utf8)
        } else {
            out.append(contentsOf: [0xEF, 0xBF, 0xBD])
        }
    }

    // MARK: - Loading

    /// tiktoken.model: one `base64(token bytes) rank` per line; ranks must be 0..<lines.
    static func loadRanks(_ url: URL) throws -> TokenTable {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TokenizerError.missingFile(path: url.path)
        }
        let path = url.path
        var pool: [UInt8] = []                                     // decoded tokens, back to back
        pool.reserveCapacity(data.count)
        var entries: [(rank: Int, start: Int, end: Int, line: Int)] = []
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let b = raw.bindMemory(to: UInt8.self)
            var i = 0
            var lineNumber = 0
            @inline(__always) func isBlank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D }
            while i < b.count {
                lineNumber += 1
                var e = i
                while e < b.count && b[e] != 0x0A { e += 1 }
                defer { i = e + 1 }
                var fields: [Range<Int>] = []
                var j = i
                while j < e {
                    while j < e && isBlank(b[j]) { j += 1 }
                    let s = j
                    while j < e && !isBlank(b[j]) { j += 1 }
                    if j > s { fields.append(s..<j) }
                }
                if fields.isEmpty { continue }
                func text(_ r: Range<Int>) -> String { String(decoding: b[r], as: UTF8.self) }
                func fail(_ reason: String) -> TokenizerError {
                    .malformedLine(path: path, line: lineNumber, reason: reason)
                }
                guard fields.count == 2 else {
                    throw fail(fields.count == 1 ? "missing rank after '\(text(fields[0]))'"
                                                 : "expected 'base64 rank', found \(fields.count) fields")
                }
                let start = pool.count
                guard base64Decode(b[fields[0]], into: &pool) else { throw fail("invalid base64 '\(text(fields[0]))'") }
                var rank = 0
                for c in b[fields[1]] {
                    guard c >= 0x30 && c <= 0x39, rank < Int(Int32.max) / 10 else {
                        throw fail("rank '\(text(fields[1]))' is not a non-negative integer")
                    }
                    rank = rank * 10 + Int(c - 0x30)
                }
                entries.append((rank, start, pool.count, lineNumber))
            }
        }
        if entries.isEmpty { throw TokenizerError.invalidModel(path: path, reason: "no tokens") }
        entries.sort { ($0.rank, $0.line) < ($1.rank, $1.line) }
        for (k, e) in entries.enumerated() where e.rank != k {
            if k > 0 && entries[k - 1].rank == e.rank {
                throw TokenizerError.malformedLine(path: path, line: e.line,
                                                   reason: "duplicate rank \(e.rank) (also on line \(entries[k - 1].line))")
            }
            throw TokenizerError.invalidModel(path: path, reason: "ranks must be 0..<\(entries.count) without gaps; rank \(k) is missing")
        }
        var table = TokenTable(capacity: entries.count)
        try pool.withUnsafeBufferPointer { pb in
            for e in entries {
                let token = UnsafeBufferPointer(rebasing: pb[e.start..<e.end])
                if let other = table.insert(token, id: e.rank) {
                    let lines = (entries[other].line, e.line)
                    let base64 = Data(token).base64EncodedString()
                    throw TokenizerError.malformedLine(path: path, line: max(lines.0, lines.1),
                                                       reason: "duplicate token '\(base64)' (also on line \(min(lines.0, lines.1)))")
                }
            }
        }
        for byte in 0..<256 where table.lookup([UInt8(byte)]) == nil {
            throw TokenizerError.invalidModel(path: path, reason: String(format: "no token for the single byte 0x%02X (byte-level BPE needs all 256)", byte))
        }
        return table
    }

    /// Standard base64 with padding, appended to `out`; false (with `out` unchanged) when malformed.
    static func base64Decode(_ s: Slice<UnsafeBufferPointer<UInt8>>, into out: inout [UInt8]) -> Bool {
        let count = s.count
        if count % 4 != 0 || count == 0 { return false }
        let start = out.count
        var acc: UInt32 = 0, n = 0, pad = 0
        for (k, c) in s.enumerated() {
            let v: UInt32
            switch c {
            case 0x41...0x5A: v = UInt32(c - 0x41)
            case 0x61...0x7A: v = UInt32(c - 0x61 + 26)
            case 0x30...0x39: v = UInt32(c - 0x30 + 52)
            case 0x2B: v = 62
            case 0x2F: v = 63
            case 0x3D where k >= count - 2:   // '=' only in the last two places
                pad += 1
                v = 0
            default:
                out.removeSubrange(start...)
                return false
            }
            if pad > 0 && c != 0x3D {
                out.removeSubrange(start...)
                return false
            }
            acc = acc << 6 | v
            n += 1
            if n == 4 {
                out.append(UInt8(acc >> 16))
                if pad < 2 { out.append(UInt8(acc >> 8 & 0xFF)) }
                if pad < 1 { out.append(UInt8(acc & 0xFF)) }
                acc = 0; n = 0
            }
        }
        return true
    }

    private struct ConfigFile: Decodable {
        struct AddedToken: Decodable { let content: String }
        let addedTokensDecoder: [String: AddedToken]?
        enum CodingKeys: String, CodingKey { case addedTokensDecoder = "added_tokens_decoder" }
    }

    /// id → name from tokenizer_config.json's `added_tokens_decoder`.
    static func loadSpecialNames(_ url: URL) throws -> [Int: String] {
        let file = try JSONConfig.load(ConfigFile.self, from: url)
        var names: [Int: String] = [:]
        for (key, token) in file.addedTokensDecoder ?? [:] {
            guard let id = Int(key) else {
                throw ConfigError.invalidValue(path: url.path, key: "added_tokens_decoder.\(key)", reason: "not a token id")
            }
            names[id] = token.content
        }
        return names
    }
}

/// A binary min-heap of packed (rank << 32 | start) keys.
struct MinHeap {
    private var a: [UInt64] = []

    mutating func push(_ x: UInt64) {
        a.append(x)
        var i = a.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if a[parent] <= a[i] { break }
            a.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> UInt64? {
        guard let top = a.first else { return nil }
        let last = a.removeLast()
        if a.isEmpty { return top }
        a[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < a.count && a[l] < a[m] { m = l }
            if r < a.count && a[r] < a[m] { m = r }
            if m == i { break }
            a.swapAt(i, m)
            i = m
        }
        return top
    }
}

/// Piece bytes → ids for pieces that are not whole tokens (bounded; cleared when full).
private final class PieceCache: @unchecked Sendable {
    private var entries: [[UInt8]: [Int]] = [:]
    private let lock = NSLock()
    private let limit = 1 << 16

    func get(_ key: UnsafeBufferPointer<UInt8>) -> [Int]? {
        let k = Array(key)
        lock.lock(); defer { lock.unlock() }
        return entries[k]
    }

    func put(_ key: UnsafeBufferPointer<UInt8>, _ ids: [Int]) {
        let k = Array(key)
        lock.lock(); defer { lock.unlock() }
        if entries.count >= limit { entries.removeAll(keepingCapacity: true) }
        entries[k] = ids
    }
}
