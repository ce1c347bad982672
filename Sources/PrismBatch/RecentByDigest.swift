// What the last few rows computed from an image, by the image bytes' digest: datasets often show one image in
// several consecutive rows (questions, point prompts), and the work per image (decoding, preprocessing, SAM's
// encoder) is the expensive part of a row. Least recently used goes first.
import PrismIO

struct RecentByDigest<Value> {
    let limit: Int
    private var entries: [(digest: ContentDigest, value: Value)] = []

    init(limit: Int) { self.limit = limit }

    /// The value kept for `digest`, or `make()`'s, kept.
    mutating func value(for digest: ContentDigest, make: () throws -> Value) rethrows -> Value {
        if let i = entries.firstIndex(where: { $0.digest == digest }) {
            let hit = entries.remove(at: i)
            entries.append(hit)
            return hit.value
        }
        let value = try make()
        entries.append((digest, value))
        if entries.count > limit { entries.removeFirst() }
        return value
    }
}
