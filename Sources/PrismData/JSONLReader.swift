// JSONL rows → tf.Example / tf.SequenceExample payloads, the way back of JSONLWriter.swift.
//
// With the file's schema (`data.schema.json`, written beside `data.jsonl`), every column goes back to its own key,
// kind and section, and an empty list to an empty list of the right kind. Without one (JSONL from elsewhere), keys
// come from the feature map and kinds from the values: strings are bytes, numbers written with a '.' or an
// exponent (or NaN, Infinity) make a float list, integers an int64 list; a scalar stands for a list of one, null
// for a missing feature, {"int64": […]} / {"float": […]} / {"bytes": […]} name a kind outright and
// {"base64": "…"} is a bytes value. A column the schema marks base64 holds bytes as base64 strings.
//
// Nothing changes silently: an integer beyond int64, a float beyond float32 (or so small it would become 0) and a
// boolean are errors naming the file, line and column, unless `lossy` is set (then they are clamped, rounded to
// ±inf or 0, and read as 1 / 0, and counted).
import Foundation
import PrismIO

struct JSONLRowReader {
    let file: String
    /// Folder that relative image paths start from.
    let base: String
    let map: FeatureMap
    let schema: JSONLSchema?
    let lossy: Bool
    private let context: [String: JSONLSchema.Column]
    private let lists: [String: JSONLSchema.Column]

    init(file: String, map: FeatureMap, schema: JSONLSchema?, lossy: Bool) {
        self.file = file
        let folder = (file as NSString).deletingLastPathComponent
        base = folder.isEmpty ? "." : folder   // a bare file name lives in the current folder, not in /
        self.map = map
        self.schema = schema
        self.lossy = lossy
        var context: [String: JSONLSchema.Column] = [:], lists: [String: JSONLSchema.Column] = [:]
        for column in schema?.columns ?? [] {
            if column.section == .context { context[column.name] = column } else { lists[column.name] = column }
        }
        self.context = context
        self.lists = lists
    }

    /// The serialized record of one line; `lossyValues` counts values changed under `lossy`.
    func payload(_ line: UnsafeRawBufferPointer, number: Int, lossyValues: inout Int) throws -> [UInt8] {
        let value: JSONValue
        do { value = try JSONReader.parse(line) } catch let error as JSONSyntaxError {
            throw TFRecordError.invalidInput(file: file, line: number, message: error.description)
        }
        guard case .object(let members) = value else {
            throw TFRecordError.invalidInput(file: file, line: number, message: "a line must be a JSON object")
        }
        var converter = ValueConverter(lossy: lossy)
        defer { lossyValues += converter.lossyValues }
        do {
            if isSequenceRow(members) {
                var context: [String: Feature] = [:], lists: [String: [Feature]] = [:]
                for (key, member) in members {
                    guard case .object(let columns) = member else {
                        throw RowError(key, "expected an object of columns, found \(member.shortDescription)")
                    }
                    if key == "context" { try features(columns, into: &context, &converter) }
                    else { try featureLists(columns, into: &lists, &converter) }
                }
                return SequenceExample(context: context, featureLists: lists).serialized()
            }
            var features: [String: Feature] = [:]
            try self.features(members, into: &features, &converter)
            return Example(features).serialized()
        } catch let error as RowError {
            throw TFRecordError.invalidInput(file: file, line: number, message: "\(quoted(error.key, quote: "\"")): \(error.message)")
        }
    }

    /// `{"context": {…}, "feature_lists": {…}}`: what the schema says, or, without one, a row of just those keys
    /// with `feature_lists` an object (a tf.Example column is always a list, so it cannot be mistaken).
    private func isSequenceRow(_ members: [(key: String, value: JSONValue)]) -> Bool {
        switch schema?.recordType {
        case .example?: return false
        case .sequenceExample?: return true
        default:
            guard members.allSatisfy({ $0.key == "context" || $0.key == "feature_lists" }),
                  let lists = members.first(where: { $0.key == "feature_lists" }), case .object = lists.value else { return false }
            return true
        }
    }

    private func features(_ members: [(key: String, value: JSONValue)], into out: inout [String: Feature],
                          _ converter: inout ValueConverter) throws {
        for (name, value) in members {
            if case .null = value { continue }   // a missing feature
            let (tfKey, reading, image) = resolve(name, context[name])
            let feature: Feature
            if image {
                feature = .bytes(try imagePaths(value, name).map { try readImage($0, name) })
            } else {
                feature = try converter.feature(value, reading, column: name)
            }
            out[tfKey] = feature
        }
    }

    private func featureLists(_ members: [(key: String, value: JSONValue)], into out: inout [String: [Feature]],
                              _ converter: inout ValueConverter) throws {
        for (name, value) in members {
            if case .null = value { continue }
            var (tfKey, reading, _) = resolve(name, lists[name])
            guard case .array(let steps) = value else {
                throw RowError(name, "a feature list must be a list of steps, found \(value.shortDescription)")
            }
            // Without a schema a feature list has one kind, from all its steps (so an empty step has one too).
            if reading.kind == nil && lists[name] == nil {
                let values = steps.flatMap { step -> [JSONValue] in if case .array(let items) = step { return items } else { return [step] } }
                if !values.isEmpty, let kind = try? ValueConverter.inferredKind(.array(values)) {
                    reading.kind = kind
                    reading.emptyKind = kind
                }
            }
            out[tfKey] = try steps.map { try converter.feature($0, reading, column: name) }
        }
    }

    /// The tf key, the kind (nil: from the values) and whether the column holds image paths.
    /// The tf key, how to read the values and whether the column holds image paths.
    private func resolve(_ name: String, _ column: JSONLSchema.Column?) -> (String, ValueConverter.Reading, Bool) {
        if let column {
            // A key that had several kinds is read by value; the schema's kind is then only that of empty lists.
            let reading = ValueConverter.Reading(kind: column.otherKinds == nil ? column.kind : nil, emptyKind: column.kind,
                                                 base64: column.bytesEncoding == .base64)
            return (column.tfKey, reading, column.imageFiles ?? false)
        }
        let (tfKey, mapping) = map.tfKey(name)
        return (tfKey, ValueConverter.Reading(kind: mapping?.kind, emptyKind: mapping?.kind, base64: false), mapping?.image ?? false)
    }

    private func imagePaths(_ value: JSONValue, _ name: String) throws -> [String] {
        switch value {
        case .string(let path): return [path]
        case .array(let items):
            return try items.map { item in
                guard case .string(let path) = item else { throw RowError(name, "expected an image path, found \(item.shortDescription)") }
                return path
            }
        default: throw RowError(name, "expected image paths, found \(value.shortDescription)")
        }
    }

    private func readImage(_ path: String, _ name: String) throws -> [UInt8] {
        let full = path.hasPrefix("/") ? path : base + "/" + path
        do { return try readWholeFile(full) } catch let error as TFRecordError {
            throw RowError(name, error.description)
        }
    }
}

struct RowError: Error {
    let key: String
    let message: String
    init(_ key: String, _ message: String) { self.key = key; self.message = message }
}

/// JSON values → one Feature, with the range checks.
struct ValueConverter {
    let lossy: Bool
    var lossyValues = 0

    init(lossy: Bool) { self.lossy = lossy }

    /// How a column's values are read: `kind` nil means from the values; `emptyKind` is the kind of an empty list;
    /// `base64`: bytes are base64 strings.
    struct Reading {
        var kind: Feature.Kind?
        var emptyKind: Feature.Kind?
        var base64: Bool
    }

    mutating func feature(_ value: JSONValue, _ reading: Reading, column: String) throws -> Feature {
        var items: [JSONValue]
        var kind = reading.kind
        switch value {
        case .array(let list): items = list
        case .object(let members) where members.count == 1 && Feature.Kind(rawValue: members[0].key) != nil:
            guard case .array(let list) = members[0].value else {
                throw RowError(column, "\(quoted(members[0].key, quote: "\"")) must hold a list")
            }
            kind = Feature.Kind(rawValue: members[0].key)
            items = list
        case .null: throw RowError(column, "null inside a feature list")
        default: items = [value]
        }
        if kind == nil && items.isEmpty {
            guard let empty = reading.emptyKind else {
                throw RowError(column, "an empty list has no kind: keep the schema.json beside the file, or write {\"float\": []} etc.")
            }
            kind = empty
        }
        do {
            switch try kind ?? Self.inferredKind(.array(items)) {
            case .int64: return .int64s(try items.map { try int64($0) })
            case .float: return .floats(try items.map { try float($0) })
            case .bytes: return .bytes(try items.map { try Self.bytes($0, base64: reading.base64) })
            }
        } catch let message as ValueError {
            throw RowError(column, message.text)
        }
    }

    /// The kind of a list of values: strings → bytes; any number written as a float → float; integers → int64.
    static func inferredKind(_ value: JSONValue) throws -> Feature.Kind {
        let items: [JSONValue]
        if case .array(let list) = value { items = list } else { items = [value] }
        var numbers = 0, floats = 0, strings = 0, specials = 0, bools = 0
        for item in items {
            switch item {
            case .number(let literal):
                numbers += 1
                if !isIntegerLiteral(literal) { floats += 1 }
            case .string(let text):
                strings += 1
                if ["nan", "inf", "-inf"].contains(text) { specials += 1 }
            case .object: strings += 1   // {"base64": …}
            case .bool: bools += 1
            case .null, .array: throw ValueError("expected values, found \(item.shortDescription) inside a list")
            }
        }
        if numbers > 0 && strings == specials { return floats > 0 || specials > 0 ? .float : .int64 }
        if strings > 0 && numbers == 0 && bools == 0 { return .bytes }
        if bools > 0 && strings == 0 { return floats > 0 ? .float : .int64 }
        guard items.isEmpty else { throw ValueError("a list mixes strings and numbers") }
        throw ValueError("an empty list has no kind")
    }

    private mutating func int64(_ item: JSONValue) throws -> Int64 {
        switch item {
        case .number(let literal):
            guard isIntegerLiteral(literal) else { throw ValueError("expected an integer, found \(literal)") }
            if let value = Int64(literal) { return value }
            guard lossy else { throw ValueError("\(literal) is beyond the int64 range (--lossy clamps it)") }
            lossyValues += 1
            return literal.hasPrefix("-") ? .min : .max
        case .bool(let flag):
            guard lossy else { throw ValueError("\(flag) is a boolean, which TFRecord features cannot hold: write 1 or 0 (--lossy does)") }
            lossyValues += 1
            return flag ? 1 : 0
        default:
            throw ValueError("expected an integer, found \(item.shortDescription)")
        }
    }

    private mutating func float(_ item: JSONValue) throws -> Float {
        switch item {
        case .number("NaN"): return .nan
        case .number("Infinity"): return .infinity
        case .number("-Infinity"): return -.infinity
        case .number(let literal):
            guard let value = Float(literal) else { throw ValueError("expected a number, found \(literal)") }
            if value.isInfinite {
                guard lossy else { throw ValueError("\(literal) is beyond the float32 range (--lossy makes it \(value))") }
                lossyValues += 1
            } else if value == 0 && mantissaIsNonzero(literal) {
                guard lossy else { throw ValueError("\(literal) is too small for float32 and would become 0 (--lossy makes it 0)") }
                lossyValues += 1
            }
            return value
        case .string("nan"): return .nan
        case .string("inf"): return .infinity
        case .string("-inf"): return -.infinity
        case .bool(let flag):
            guard lossy else { throw ValueError("\(flag) is a boolean, which TFRecord features cannot hold: write 1.0 or 0.0 (--lossy does)") }
            lossyValues += 1
            return flag ? 1 : 0
        default:
            throw ValueError("expected a number, found \(item.shortDescription)")
        }
    }

    /// Whether the digits before the exponent are not all zero ("0.0e5" is a real zero).
    private func mantissaIsNonzero(_ literal: String) -> Bool {
        literal.prefix { $0 != "e" && $0 != "E" }.contains { ("1" ... "9").contains($0) }
    }

    private static func bytes(_ item: JSONValue, base64: Bool) throws -> [UInt8] {
        switch item {
        case .string(let text) where base64:
            guard let data = Data(base64Encoded: text) else { throw ValueError("expected base64 text, found \(item.shortDescription)") }
            return [UInt8](data)
        case .string(let text): return Array(text.utf8)
        case .object(let members) where members.count == 1 && members[0].key == "base64":
            guard case .string(let encoded) = members[0].value, let data = Data(base64Encoded: encoded) else {
                throw ValueError("\"base64\" must hold base64 text")
            }
            return [UInt8](data)
        default:
            throw ValueError("expected a string or {\"base64\": …}, found \(item.shortDescription)")
        }
    }
}

/// Digits only: "12", "-3" (not "1.0", "1e3", NaN).
private func isIntegerLiteral(_ literal: String) -> Bool {
    !literal.contains { !($0.isASCII && ($0.isNumber || $0 == "-")) }
}

struct ValueError: Error {
    let text: String
    init(_ text: String) { self.text = text }
}
