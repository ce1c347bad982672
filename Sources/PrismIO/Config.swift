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
        case let .missingKey(p, k): "\(p): missing key '\(k)'"
        case let .wrongType(p, k, e): "\(p): key '\(k)' should be \(e)"
        case let .invalidValue(p, k, r): "\(p): key '\(k)': \(r)"
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

    static func describe(_ e: DecodingError, path: String) -> ConfigError {
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
