import Foundation

/// Errors decoding config.json-style files, naming the file and the key path.
public enum ConfigError: Error, CustomStringConvertible, Equatable {
    case missingFile(path: String)
    case invalidJSON(path: String, reason: String)
    case missingKey(path: String, key: String)
    case wrongType(path: String, key: String, expected: String)
    case invalidValue(path: String, key: String, reason: String)

    public var description: String {
        switch self {
        case let .missingFile(p): "\(p): file not found"
        case let .invalidJSON(p, r): "\(p): not valid JSON: \(r)"
        case let .missingKey(p, k): "\(p): missing key \(quoted(k))"
        case let .wrongType(p, k, e): "\(p): key \(quoted(k)) should be \(e)"
        case let .invalidValue(p, k, r): "\(p): key \(quoted(k)): \(r)"
        }
    }
}

public enum JSONConfig {
    /// Decodes `T` from a JSON file, turning DecodingError into a one-line ConfigError.
    public static func load<T: Decodable>(_ type: T.Type, from url: URL) throws -> T {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ConfigError.missingFile(path: url.path)
        }
        return try decode(type, from: data, path: url.path)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, path: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let e as DecodingError {
            throw describe(e, path: path)
        } catch let e as ConfigError {
            throw e
        } catch {
            throw ConfigError.invalidJSON(path: path, reason: "\(error)")
        }
    }

    static func keyPath(_ path: [CodingKey], _ last: CodingKey? = nil) -> String {
        (path + (last.map { [$0] } ?? [])).map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            .joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
    }

    /// One-line ConfigError for a DecodingError while reading `path`.
    public static func describe(_ e: DecodingError, path: String) -> ConfigError {
        switch e {
        case let .keyNotFound(key, ctx): return .missingKey(path: path, key: keyPath(ctx.codingPath, key))
        case let .typeMismatch(type, ctx): return .wrongType(path: path, key: keyPath(ctx.codingPath), expected: "\(type)")
        case let .valueNotFound(type, ctx): return .wrongType(path: path, key: keyPath(ctx.codingPath), expected: "\(type)")
        case let .dataCorrupted(ctx):
            if ctx.codingPath.isEmpty {
                return .invalidJSON(path: path, reason: ctx.debugDescription)
            }
            return .invalidValue(path: path, key: keyPath(ctx.codingPath), reason: ctx.debugDescription)
        @unknown default: return .invalidJSON(path: path, reason: "\(e)")
        }
    }
}

// MARK: - Validation while decoding

/// Range-checked decoding for config structs. A failure is a `DecodingError` at the key, which
/// `JSONConfig` renders as one line naming the file and the full key path (`text_config.v_head_dim`), so
/// every size is known to be sane before anything is allocated from it.
extension KeyedDecodingContainer {
    /// Fails at `key` with `reason` unless `ok`.
    public func require(_ ok: Bool, _ key: Key, _ reason: @autoclosure () -> String) throws {
        if !ok { throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: reason()) }
    }

    /// An integer in `range`; `default` when the key is absent or null, or a missing-key error when there is none.
    public func int(_ key: Key, in range: ClosedRange<Int>, default value: Int? = nil) throws -> Int {
        let v: Int
        if let value { v = try decodeIfPresent(Int.self, forKey: key) ?? value } else { v = try decode(Int.self, forKey: key) }
        try require(range.contains(v), key, "must be in \(range.lowerBound)…\(range.upperBound), got \(v)")
        return v
    }

    /// A finite number, positive when `positive` (epsilons, scales, rope theta).
    public func float(_ key: Key, default value: Float, positive: Bool = false) throws -> Float {
        let v = try decodeIfPresent(Float.self, forKey: key) ?? value
        try require(v.isFinite && (!positive || v > 0), key, positive ? "must be a finite number > 0, got \(v)" : "must be finite, got \(v)")
        return v
    }

    /// A list of `count` integers, each in `range`.
    public func ints(_ key: Key, count: Int, in range: ClosedRange<Int>, default value: [Int]) throws -> [Int] {
        let v = try decodeIfPresent([Int].self, forKey: key) ?? value
        try require(v.count == count && v.allSatisfy(range.contains), key,
                    "must be \(count) integers in \(range.lowerBound)…\(range.upperBound), got \(v)")
        return v
    }
}
