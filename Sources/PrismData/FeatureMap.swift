// Which tf.Example keys become which JSONL fields (spec §4), and how feature values are written as JSON.
import Foundation

/// One renamed key. `list`: always written as a JSON array (boxes, classes), even with one value.
/// `image`: bytes values are written as image files and the field holds their relative paths.
public struct KeyMapping: Equatable, Sendable {
    public var tf: String
    public var json: String
    public var kind: Feature.Kind
    public var list: Bool
    public var image: Bool

    public init(_ tf: String, _ json: String, _ kind: Feature.Kind, list: Bool = false, image: Bool = false) {
        self.tf = tf
        self.json = json
        self.kind = kind
        self.list = list
        self.image = image
    }
}

public struct FeatureMap: Sendable {
    public private(set) var entries: [KeyMapping]

    public init(_ entries: [KeyMapping]) { self.entries = entries }

    /// TFDS / Object Detection API / image-text conventions.
    public static let conventional = FeatureMap([
        KeyMapping("image/encoded", "image", .bytes, image: true),
        KeyMapping("image/format", "format", .bytes),
        KeyMapping("image/height", "height", .int64),
        KeyMapping("image/width", "width", .int64),
        KeyMapping("image/filename", "filename", .bytes),
        KeyMapping("image/source_id", "source_id", .bytes),
        KeyMapping("image/key/sha256", "sha256", .bytes),
        KeyMapping("image/object/bbox/xmin", "xmin", .float, list: true),
        KeyMapping("image/object/bbox/ymin", "ymin", .float, list: true),
        KeyMapping("image/object/bbox/xmax", "xmax", .float, list: true),
        KeyMapping("image/object/bbox/ymax", "ymax", .float, list: true),
        KeyMapping("image/object/class/label", "labels", .int64, list: true),
        KeyMapping("image/object/class/text", "classes", .bytes, list: true),
        KeyMapping("image/object/mask", "masks", .bytes, list: true, image: true),
        KeyMapping("image/segmentation/class/encoded", "segmentation", .bytes, image: true),
        KeyMapping("image/segmentation/class/format", "segmentation_format", .bytes),
        KeyMapping("image/class/label", "class_label", .int64),
        KeyMapping("image/class/text", "class_text", .bytes),
        KeyMapping("question", "question", .bytes),
        KeyMapping("answer", "answer", .bytes),
        KeyMapping("caption", "caption", .bytes),
        KeyMapping("text", "text", .bytes),
    ])

    /// Keys kept as they are, no image files.
    public static let none = FeatureMap([])

    /// Adds or replaces the mapping of `tf` (from `--map tf=json`).
    public mutating func map(_ tf: String, to json: String, kind: Feature.Kind = .bytes, image: Bool = false) {
        if let i = entries.firstIndex(where: { $0.tf == tf }) {
            entries[i].json = json
        } else {
            entries.append(KeyMapping(tf, json, kind, image: image))
        }
    }

    /// Marks `tf` as an image feature (from `--image-key`).
    public mutating func markImage(_ tf: String) {
        if let i = entries.firstIndex(where: { $0.tf == tf }) { entries[i].image = true }
        else { entries.append(KeyMapping(tf, tf, .bytes, image: true)) }
    }

    func byTF(_ key: String) -> KeyMapping? { entries.first { $0.tf == key } }
    func byJSON(_ key: String) -> KeyMapping? { entries.first { $0.json == key } }

    /// The JSON name of a tf key: mapped, or the key itself; an unmapped key that collides with a mapped
    /// JSON name gets a `tf:` prefix (stripped again on the way back).
    func jsonKey(_ tf: String) -> String {
        if let mapping = byTF(tf) { return mapping.json }
        return byJSON(tf) != nil || tf.hasPrefix("tf:") ? "tf:" + tf : tf
    }

    func tfKey(_ json: String) -> (String, KeyMapping?) {
        if json.hasPrefix("tf:") { return (String(json.dropFirst(3)), nil) }
        if let mapping = byJSON(json) { return (mapping.tf, mapping) }
        return (json, nil)
    }
}

// MARK: - Feature values ↔ JSON

/// JSON text for feature values. A list of one value is written as a scalar (unless the key is a list key);
/// floats always carry a '.' or an exponent, ints never do, so the kind survives the round trip; bytes that are
/// not UTF-8 become {"base64": "…"}; an empty list or one with NaN/±inf is written typed: {"float": [1.0, "nan"]}.
struct JSONWriter {
    var bytes: [UInt8] = []

    mutating func raw(_ text: String) { bytes.append(contentsOf: text.utf8) }

    mutating func string(_ text: String) { string(utf8: Array(text.utf8)) }

    mutating func string(utf8 text: [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text {
            switch byte {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            case 0 ..< 0x20, 0x7F:
                raw("\\u00")
                bytes.append(hexDigit(byte >> 4))
                bytes.append(hexDigit(byte & 0xF))
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? UInt8(ascii: "0") + v : UInt8(ascii: "a") + v - 10 }

    mutating func bytesValue(_ value: [UInt8]) {
        if String(validating: value, as: UTF8.self) != nil {
            string(utf8: value)
        } else {
            raw("{\"base64\":")
            string(Data(value).base64EncodedString())
            raw("}")
        }
    }

    mutating func floatValue(_ value: Float) {
        if value.isFinite { raw(value.description) }     // shortest text that reads back as the same Float
        else { string(value.isNaN ? "nan" : value < 0 ? "-inf" : "inf") }
    }

    mutating func feature(_ feature: Feature, list: Bool) {
        let needsType: Bool
        switch feature {
        case .floats(let v): needsType = v.isEmpty || v.contains { !$0.isFinite }
        default: needsType = feature.count == 0
        }
        if needsType { raw("{\"\(feature.kind.rawValue)\":") }
        let asArray = needsType || list || feature.count != 1
        if asArray { raw("[") }
        switch feature {
        case .bytes(let values): for (i, v) in values.enumerated() { if i > 0 { raw(",") }; bytesValue(v) }
        case .floats(let values): for (i, v) in values.enumerated() { if i > 0 { raw(",") }; floatValue(v) }
        case .int64s(let values): for (i, v) in values.enumerated() { if i > 0 { raw(",") }; raw(String(v)) }
        }
        if asArray { raw("]") }
        if needsType { raw("}") }
    }
}

/// Reads a JSON value written by `JSONWriter` (or by hand) back into a Feature; `hint` is the kind a conventional
/// key has, used when the JSON alone cannot tell (integral numbers in a float list).
func featureFromJSON(_ value: Any, hint: Feature.Kind?) throws -> Feature {
    if let object = value as? [String: Any], object.count == 1, let (key, inner) = object.first,
       let kind = Feature.Kind(rawValue: key) {
        guard let items = inner as? [Any] else { throw JSONValueError("\"\(key)\" must hold an array") }
        return try feature(items, kind: kind)
    }
    let items = value as? [Any] ?? [value]
    guard let first = items.first else { throw JSONValueError("an empty array has no kind; write {\"float\": []} etc.") }
    let kind: Feature.Kind
    if let hint { kind = hint }
    else if first is String || first is [String: Any] { kind = .bytes }
    else if let number = first as? NSNumber, isInteger(number) && items.allSatisfy({ ($0 as? NSNumber).map(isInteger) ?? false }) { kind = .int64 }
    else { kind = .float }
    return try feature(items, kind: kind)
}

struct JSONValueError: Error { let message: String; init(_ message: String) { self.message = message } }

private func isInteger(_ number: NSNumber) -> Bool {
    if number is NSDecimalNumber { return !number.description.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) }
    return "cislqCISLQ".contains(String(cString: number.objCType))
}

private func feature(_ items: [Any], kind: Feature.Kind) throws -> Feature {
    switch kind {
    case .bytes:
        return .bytes(try items.map { item in
            if let text = item as? String { return Array(text.utf8) }
            if let object = item as? [String: Any], let encoded = object["base64"] as? String, let data = Data(base64Encoded: encoded) {
                return [UInt8](data)
            }
            throw JSONValueError("expected a string or {\"base64\": …}, found \(item)")
        })
    case .float:
        return .floats(try items.map { item in
            if let number = item as? NSNumber { return number.floatValue }
            switch item as? String {
            case "nan": return .nan
            case "inf": return .infinity
            case "-inf": return -.infinity
            default: throw JSONValueError("expected a number, found \(item)")
            }
        })
    case .int64:
        return .int64s(try items.map { item in
            guard let number = item as? NSNumber, isInteger(number) else { throw JSONValueError("expected an integer, found \(item)") }
            return number is NSDecimalNumber ? Int64(number.description) ?? number.int64Value : number.int64Value
        })
    }
}
