// Content digests (SHA-256 through OpenSSL's libcrypto) that name an image by its bytes, so caches of image
// embeddings and KV prefixes hit for identical bytes whatever path, URL or data URI they came from.
import CCrypto
import Foundation

public struct ContentDigest: Hashable, Sendable, CustomStringConvertible {
    /// The 32 bytes of SHA-256 as four words (cheap to hash and compare).
    public let words: (UInt64, UInt64, UInt64, UInt64)

    public init<D: ContiguousBytes>(of data: D) {
        var out = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        data.withUnsafeBytes { raw in _ = SHA256(raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count, &out) }
        func word(_ i: Int) -> UInt64 { out[(i * 8)..<(i * 8 + 8)].reduce(0) { $0 << 8 | UInt64($1) } }
        words = (word(0), word(1), word(2), word(3))
    }

    /// Lower-case hex, as `sha256sum` prints it.
    public var description: String {
        [words.0, words.1, words.2, words.3].map { w in
            let s = String(w, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }.joined()
    }

    public static func == (a: Self, b: Self) -> Bool { a.words == b.words }
    public func hash(into h: inout Hasher) { h.combine(words.0); h.combine(words.1); h.combine(words.2); h.combine(words.3) }
}
