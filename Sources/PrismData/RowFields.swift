// One input record's columns, read the same way from a JSONL object or a tf.Example (the context features of a
// tf.SequenceExample): what the batch front ends (`prism ask --batch`, `prism segment --batch`) take from a row.
//
// JSONL follows what `prism convert` writes and people write by hand: a value may be a scalar or a list of one
// (`"question": "…"` or `"question": ["…"]`), image columns hold paths relative to the JSONL file's folder.
// In a TFRecord, text is a bytes feature (UTF-8), images are encoded bytes, numbers are float or int64 lists.
// A missing key and JSON null both read as absent (nil); a value of the wrong kind is an error naming the key.
import Foundation
import PrismIO

/// An image named by a row: a file (JSONL paths, resolved) or encoded bytes (TFRecord).
public enum RowImage: Equatable, Sendable {
    case file(String)
    case encoded([UInt8], name: String)
}

/// Why a row cannot be read: its location ("data.jsonl:12", "train.tfrecord: record 7"), the key if any, and why.
public struct RowFieldError: Error, Equatable, CustomStringConvertible {
    public let location: String
    public let key: String?
    public let message: String

    public init(location: String, key: String?, message: String) {
        self.location = location; self.key = key; self.message = message
    }

    public var description: String { key.map { "\(location): \(quoted($0, quote: "\"")): \(message)" } ?? "\(location): \(message)" }
}

public struct RowFields {
    /// Where the row came from, as error messages name it.
    public let location: String
    /// Folder that relative image paths start from (JSONL).
    private let base: String
    private let json: [String: JSONValue]?
    private let example: [String: Feature]?

    /// Parses record `record` of `files` (a JSONL line must be one JSON object).
    public init(_ record: RecordRef, in files: RecordFiles) throws {
        let file = files.files[record.file]
        switch files.format {
        case .jsonl:
            location = "\(file):\(record.line)"
            let folder = (file as NSString).deletingLastPathComponent
            base = folder.isEmpty ? "." : folder
            let value: JSONValue
            do { value = try JSONReader.parse(record.bytes) } catch let error as JSONSyntaxError {
                throw RowFieldError(location: location, key: nil, message: error.description)
            }
            guard case .object(let members) = value else {
                throw RowFieldError(location: location, key: nil, message: "a line must be a JSON object, found \(value.shortDescription)")
            }
            json = Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
            example = nil
        case .tfrecord:
            location = "\(file): record \(record.index)"
            base = "."
            var parser = ExampleParser()
            do { try parser.parse(record.bytes) } catch {
                throw RowFieldError(location: location, key: nil, message: "\(error)")
            }
            example = parser.materializedFeatures()
            json = nil
        }
    }

    /// Whether the row has a non-null value under `key`.
    public func has(_ key: String) -> Bool {
        if let json { if let v = json[key], v != .null { return true } else { return false } }
        return example?[key] != nil
    }

    /// One text value: a JSON string (or a list of one), a bytes feature of one UTF-8 value.
    public func text(_ key: String) throws -> String? {
        if let json {
            guard let value = json[key], value != .null else { return nil }
            switch value {
            case .string(let s): return s
            case .array(let items) where items.count == 1:
                if case .string(let s) = items[0] { return s }
                throw error(key, "expected text, found \(items[0].shortDescription) in a list")
            default: throw error(key, "expected text, found \(value.shortDescription)")
            }
        }
        guard let feature = example?[key] else { return nil }
        guard case .bytes(let values) = feature, values.count == 1 else {
            throw error(key, "expected one text value, found \(feature.count) \(feature.kind.rawValue) value\(feature.count == 1 ? "" : "s")")
        }
        guard let s = String(validating: values[0], as: UTF8.self) else { throw error(key, "the text is not UTF-8") }
        return s
    }

    /// One scalar as JSON text, for copying a row's id into an output row: a string (quoted and escaped) or a number
    /// literal as written; a list of one stands for its value.
    public func scalarJSON(_ key: String) throws -> String? {
        if let json {
            guard var value = json[key], value != .null else { return nil }
            if case .array(let items) = value, items.count == 1 { value = items[0] }
            switch value {
            case .string(let s): return jsonQuoted(s)
            case .number(let n): return n
            default: throw error(key, "expected a string or a number, found \(value.shortDescription)")
            }
        }
        guard let feature = example?[key] else { return nil }
        switch feature {
        case .bytes(let v) where v.count == 1:
            guard let s = String(validating: v[0], as: UTF8.self) else { throw error(key, "the value is not UTF-8 text") }
            return jsonQuoted(s)
        case .int64s(let v) where v.count == 1: return String(v[0])
        default: throw error(key, "expected one text or int64 value, found \(feature.count) \(feature.kind.rawValue) value\(feature.count == 1 ? "" : "s")")
        }
    }

    /// Images: JSON paths (one string or a list), resolved against the JSONL file's folder; encoded bytes values.
    public func images(_ key: String) throws -> [RowImage]? {
        if let json {
            guard let value = json[key], value != .null else { return nil }
            let items: [JSONValue]
            if case .array(let list) = value { items = list } else { items = [value] }
            return try items.map { item in
                guard case .string(let path) = item, !path.isEmpty else { throw error(key, "expected an image path, found \(item.shortDescription)") }
                return .file(path.hasPrefix("/") ? path : base + "/" + path)
            }
        }
        guard let feature = example?[key] else { return nil }
        guard case .bytes(let values) = feature else { throw error(key, "expected encoded images (bytes), found \(feature.kind.rawValue) values") }
        return values.enumerated().map { .encoded($1, name: "\(location): \(key)[\($0)]") }
    }

    /// Numbers as one flat list: JSON numbers, lists and lists of lists; float or int64 features.
    public func numbers(_ key: String) throws -> [Double]? {
        try numberLists(key).map { $0.flatMap { $0 } }
    }

    /// Numbers grouped as written: JSON `[[x, y], [x, y, 0]]` is two groups, `[x, y]` and a scalar one group;
    /// a float or int64 feature is one group.
    public func numberLists(_ key: String) throws -> [[Double]]? {
        if let json {
            guard let value = json[key], value != .null else { return nil }
            func number(_ v: JSONValue) throws -> Double {
                guard case .number(let literal) = v, let d = Double(literal), d.isFinite else {
                    throw error(key, "expected a number, found \(v.shortDescription)")
                }
                return d
            }
            guard case .array(let items) = value else { return [[try number(value)]] }
            if items.contains(where: { if case .array = $0 { return true } else { return false } }) {
                return try items.map { item in
                    guard case .array(let inner) = item else { throw error(key, "expected a list of number lists, found \(item.shortDescription) in it") }
                    return try inner.map(number)
                }
            }
            return [try items.map(number)]
        }
        guard let feature = example?[key] else { return nil }
        switch feature {
        case .floats(let v): return [v.map(Double.init)]
        case .int64s(let v): return [v.map(Double.init)]
        case .bytes: throw error(key, "expected numbers, found bytes values")
        }
    }

    private func error(_ key: String, _ message: String) -> RowFieldError {
        RowFieldError(location: location, key: key, message: message)
    }
}

/// `s` as a JSON string literal, escaped as the JSONL writer escapes (non-ASCII kept as UTF-8).
public func jsonQuoted(_ s: String) -> String {
    var buffer = ByteBuffer(capacity: s.utf8.count + 16)
    appendString(s.utf8, to: &buffer)
    return String(decoding: buffer.bytes, as: UTF8.self)
}
