// Which tf.Example keys become which JSONL columns (spec §4). Converting back, a file's schema.json names the
// keys exactly; this table is for JSONL written by hand or by other tools.
import Foundation

/// One renamed key. `kind`: the kind to read the column as when JSON cannot tell (an empty list, integral numbers
/// in a float list). `image`: bytes values are written as image files and the column holds their relative paths.
public struct KeyMapping: Equatable, Sendable {
    public var tf: String
    public var json: String
    public var kind: Feature.Kind?
    public var image: Bool

    public init(_ tf: String, _ json: String, _ kind: Feature.Kind?, image: Bool = false) {
        self.tf = tf
        self.json = json
        self.kind = kind
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
        KeyMapping("image/object/bbox/xmin", "xmin", .float),
        KeyMapping("image/object/bbox/ymin", "ymin", .float),
        KeyMapping("image/object/bbox/xmax", "xmax", .float),
        KeyMapping("image/object/bbox/ymax", "ymax", .float),
        KeyMapping("image/object/class/label", "labels", .int64),
        KeyMapping("image/object/class/text", "classes", .bytes),
        KeyMapping("image/object/mask", "masks", .bytes, image: true),
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
    public mutating func map(_ tf: String, to json: String, kind: Feature.Kind? = nil, image: Bool = false) {
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
