// The MLA key/value cache (specs/kimi_vl.md §5.1): per token and layer it keeps only the normalised latent
// c̃ (kv_lora_rank) and the rotated shared k_pe (qk_rope_head_dim) — 576 floats for Kimi-VL instead of the
// 16 × (192 + 128) a full K/V cache would hold. Keys and values are re-derived from it inside MLA.
import PrismCore

public final class KVCache {
    /// Floats per token and layer: kv_lora_rank + qk_rope_head_dim.
    public let width: Int
    public let latentWidth: Int
    /// Tokens committed to every layer (the next token's position).
    public private(set) var count: Int = 0
    /// Per layer: count × width floats, row t = [c̃_t ; k_pe_t].
    private var layers: [[Float]]

    public init(config: TextConfig) {
        latentWidth = config.kvLoraRank
        width = config.kvLoraRank + config.qkRopeHeadDim
        layers = Array(repeating: [], count: config.numHiddenLayers)
    }

    /// A new cache holding the first `n` tokens of `other`: a prefix-cache hit continues from a copy, so the
    /// cached entry stays intact for the next request that shares it.
    public init(prefixOf other: KVCache, count n: Int) {
        precondition(n >= 0 && n <= other.count, "KVCache(prefixOf:count: \(n)) of a cache with \(other.count) tokens")
        latentWidth = other.latentWidth
        width = other.width
        layers = other.layers.map { Array($0[0..<(n * other.width)]) }
        count = n
    }

    /// Appends rows [n, width] to `layer`; they become visible to `count` after `commit(n)`.
    func append(layer: Int, rows: UnsafeBufferPointer<Float>) {
        precondition(rows.count % width == 0, "KVCache.append: \(rows.count) floats is not a multiple of \(width)")
        layers[layer].append(contentsOf: rows)
    }

    /// All rows of `layer` (committed plus the ones appended during the current forward), [S, width].
    func rows(layer: Int) -> ArraySlice<Float> { layers[layer][...] }

    /// Calls `body` with `layer`'s rows in place (no copy): [S, width] with S = rows.count / width.
    func withRows<R>(layer: Int, _ body: (UnsafeBufferPointer<Float>) -> R) -> R {
        layers[layer].withUnsafeBufferPointer(body)
    }

    func commit(_ n: Int) {
        count += n
        for l in layers.indices {
            precondition(layers[l].count == count * width, "KVCache: layer \(l) holds \(layers[l].count / width) tokens, expected \(count)")
        }
    }

    /// Forgets everything from token `n` on (to re-run a turn or drop a rejected continuation).
    public func truncate(to n: Int) {
        precondition(n >= 0 && n <= count, "KVCache.truncate(to: \(n)) with \(count) tokens")
        for l in layers.indices { layers[l].removeSubrange((n * width)...) }
        count = n
    }

    public func reset() { truncate(to: 0) }

    /// Bytes held (for reports): count × layers × width × 4.
    public var byteCount: Int { layers.reduce(0) { $0 + $1.count } * 4 }
    /// Bytes the layers hold, spare capacity included (appends grow an array to up to twice its rows).
    var reservedBytes: Int { layers.reduce(0) { $0 + $1.capacity } * 4 }

    /// Gives back the spare capacity, before the cache is kept for reuse.
    func compact() {
        layers = layers.map { layer in
            [Float](unsafeUninitializedCapacity: layer.count) { buffer, n in
                n = buffer.initialize(from: layer).1 - buffer.startIndex
            }
        }
    }
}
