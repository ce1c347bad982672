// What the engine keeps between requests: KV prefixes of finished sequences (a chat's next turn, or another
// request with the same system prompt and image, continues from a copy of them) and vision-tower outputs by
// image digest (the same image under a different prompt skips MoonViT). Both are LRU with a byte budget.
import PrismCore
import PrismIO

/// What one prompt position stands for: a text token, or row `offset` of the image with `digest`.
/// Images without a digest (`opaque`) never match anything, so their KV is never reused.
enum PositionKey: Equatable {
    case token(Int)
    case image(ContentDigest, offset: Int)
    case opaque

    func matches(_ other: PositionKey) -> Bool { self != .opaque && self == other }

    /// Keys of a prompt's positions: each `<|media_pad|>` names the image and row it is spliced from, in order.
    static func keys(_ prompt: Prompt, mediaPadId: Int) -> [PositionKey] {
        var image = 0, offset = 0
        return prompt.tokens.map { t in
            guard t == mediaPadId, image < prompt.images.count else { return .token(t) }
            let img = prompt.images[image]
            let key: PositionKey = img.digest.map { .image($0, offset: offset) } ?? .opaque
            offset += 1
            if offset == img.tokenCount { image += 1; offset = 0 }
            return key
        }
    }
}

/// How many leading positions of `a` and `b` match (at most `limit`).
func commonPrefix(_ a: [PositionKey], _ b: [PositionKey], limit: Int = .max) -> Int {
    let most = min(limit, a.count, b.count)
    var n = 0
    while n < most && a[n].matches(b[n]) { n += 1 }
    return n
}

final class PrefixCache {
    struct Entry {
        let keys: [PositionKey]
        let cache: KVCache
        var lastUse: UInt64
    }

    let kvBudget: Int
    let visionBudget: Int
    private(set) var entries: [Entry] = []
    private var vision: [ContentDigest: (embedding: Tensor, lastUse: UInt64)] = [:]
    private var clock: UInt64 = 0

    init(kvBytes: Int, visionBytes: Int) { kvBudget = kvBytes; visionBudget = visionBytes }

    var kvBytes: Int { entries.reduce(0) { $0 + $1.cache.byteCount } }
    var visionBytes: Int { vision.values.reduce(0) { $0 + $1.embedding.count * 4 } }

    // MARK: - KV prefixes

    /// Length of the longest cached prefix of `keys`, at most `limit` (no copy, LRU untouched).
    func cachedLength(_ keys: [PositionKey], limit: Int) -> Int {
        entries.reduce(0) { best, e in max(best, commonPrefix(e.keys, keys, limit: min(limit, e.cache.count))) }
    }

    /// A fresh cache holding the longest cached prefix of `keys`, at most `limit` positions long.
    func lookup(_ keys: [PositionKey], limit: Int) -> KVCache? {
        var best = -1, bestLength = 0
        for (i, e) in entries.enumerated() {
            let n = commonPrefix(e.keys, keys, limit: min(limit, e.cache.count))
            if n > bestLength { best = i; bestLength = n }
        }
        guard best >= 0 else { return nil }
        clock += 1
        entries[best].lastUse = clock
        return KVCache(prefixOf: entries[best].cache, count: bestLength)
    }

    /// Keeps `cache` (whose rows are `keys`, taken over without a copy, cut before any image without a digest)
    /// unless an entry already covers it; entries it covers are dropped; the least recently used go first when
    /// over the budget.
    func insert(_ allKeys: [PositionKey], cache: KVCache) {
        precondition(allKeys.count == cache.count, "PrefixCache.insert: \(allKeys.count) keys for \(cache.count) cached tokens")
        let keys = Array(allKeys.prefix { $0 != .opaque })
        cache.truncate(to: keys.count)
        guard cache.count > 0, cache.byteCount <= kvBudget else { return }
        // kept without the spare capacity its appends left (up to as much again as its rows, uncounted)
        func isPrefix(_ a: [PositionKey], of b: [PositionKey]) -> Bool { a.count <= b.count && zip(a, b).allSatisfy { $0 == $1 } }
        clock += 1
        if let i = entries.firstIndex(where: { isPrefix(keys, of: $0.keys) }) { entries[i].lastUse = clock; return }
        entries.removeAll { isPrefix($0.keys, of: keys) }
        cache.compact()
        entries.append(Entry(keys: keys, cache: cache, lastUse: clock))
        var bytes = kvBytes
        while bytes > kvBudget, let lru = entries.indices.min(by: { entries[$0].lastUse < entries[$1].lastUse }) {
            bytes -= entries[lru].cache.byteCount
            entries.remove(at: lru)
        }
    }

    // MARK: - Vision embeddings

    func embedding(_ digest: ContentDigest?) -> Tensor? {
        guard let digest, let hit = vision[digest] else { return nil }
        clock += 1
        vision[digest]!.lastUse = clock
        return hit.embedding
    }

    func store(_ embedding: Tensor, for digest: ContentDigest?) {
        guard let digest, embedding.count * 4 <= visionBudget else { return }
        clock += 1
        vision[digest] = (embedding, clock)
        var bytes = visionBytes
        while bytes > visionBudget, let lru = vision.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            bytes -= lru.value.embedding.count * 4
            vision[lru.key] = nil
        }
    }

    func removeAll() { entries = []; vision = [:] }
}
