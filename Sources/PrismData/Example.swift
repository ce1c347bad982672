// tf.Example (spec §3) as Swift values. Decoded by the zero-copy parser in ExampleWire.swift (which accepts
// exactly what protobuf-c accepts), encoded through the protobuf-c code in CExampleProto; this file only copies
// between those and Swift values.
import CExampleProto
import CProtobufC
import Foundation

/// One tf.Feature: a list of byte strings, floats or int64s. A Feature with no kind set decodes as an
/// empty bytes list (TensorFlow's parser treats both as zero values).
public enum Feature: Hashable, Sendable {
    case bytes([[UInt8]])
    case floats([Float])
    case int64s([Int64])

    public enum Kind: String, Codable, Sendable { case bytes, float, int64 }

    public var kind: Kind {
        switch self {
        case .bytes: return .bytes
        case .floats: return .float
        case .int64s: return .int64
        }
    }

    /// Number of values in the list.
    public var count: Int {
        switch self {
        case .bytes(let v): return v.count
        case .floats(let v): return v.count
        case .int64s(let v): return v.count
        }
    }

    /// A bytes list of UTF-8 strings.
    public static func strings(_ values: [String]) -> Feature { .bytes(values.map { Array($0.utf8) }) }
}

/// tf.Example: a map from feature name to Feature.
public struct Example: Hashable, Sendable {
    public var features: [String: Feature]

    public init(_ features: [String: Feature] = [:]) { self.features = features }

    public subscript(key: String) -> Feature? {
        get { features[key] }
        set { features[key] = newValue }
    }

    /// Decodes a serialized tf.Example; throws `.invalidExample(nil, …)` if it is not one.
    public init(serialized: UnsafeRawBufferPointer) throws {
        var parser = ExampleParser()
        try parser.parse(serialized, sequence: false)
        features = parser.materializedFeatures()
    }

    public init<Bytes: ContiguousBytes>(serialized: Bytes) throws {
        self = try serialized.withUnsafeBytes { try Example(serialized: $0) }
    }

    /// The wire encoding, features in key order (so equal examples serialize to equal bytes).
    public func serialized() -> [UInt8] {
        let arena = ProtoArena()
        let message = arena.make(Tensorflow__Example.self, tensorflow__example__init)
        message.pointee.features = ProtoCodec.features(features, arena)
        return ProtoCodec.pack(message, tensorflow__example__get_packed_size, tensorflow__example__pack)
    }
}

// MARK: - C ↔ Swift

/// Allocations for one message being encoded, freed together.
final class ProtoArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    deinit { for block in blocks { block.deallocate() } }

    func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * MemoryLayout<T>.stride,
                                                   alignment: MemoryLayout<T>.alignment)
        blocks.append(raw)
        return raw.bindMemory(to: T.self, capacity: max(1, count))
    }

    /// One message, initialised by its generated `__init` function.
    func make<T>(_ type: T.Type, _ initialize: (UnsafeMutablePointer<T>?) -> Void) -> UnsafeMutablePointer<T> {
        let message = allocate(T.self, count: 1)
        initialize(message)
        return message
    }

    func copy<T>(_ values: [T]) -> UnsafeMutablePointer<T> {
        let storage = allocate(T.self, count: values.count)
        _ = UnsafeMutableBufferPointer(start: storage, count: values.count).initialize(from: values)
        return storage
    }

    func cString(_ string: String) -> UnsafeMutablePointer<CChar> {
        let utf8 = Array(string.utf8CString)
        return copy(utf8)
    }
}

enum ProtoCodec {
    /// Runs a generated `__unpack`; protobuf-c returns NULL for anything that is not a valid message.
    static func unpack<T>(_ bytes: UnsafeRawBufferPointer,
                          _ unpack: (UnsafeMutablePointer<ProtobufCAllocator>?, Int, UnsafePointer<UInt8>?) -> UnsafeMutablePointer<T>?) throws -> UnsafeMutablePointer<T> {
        var empty: UInt8 = 0
        let message = withUnsafePointer(to: &empty) { fallback in
            unpack(nil, bytes.count, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? fallback)
        }
        guard let message else {
            throw TFRecordError.invalidExample(nil, reason: "protobuf-c unpack failed: not a valid protobuf message")
        }
        return message
    }

    static func pack<T>(_ message: UnsafeMutablePointer<T>, _ size: (UnsafePointer<T>?) -> Int,
                        _ pack: (UnsafePointer<T>?, UnsafeMutablePointer<UInt8>?) -> Int) -> [UInt8] {
        let count = size(message)
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            initialized = pack(message, buffer.baseAddress)
        }
    }

    // MARK: Decoding (the reference the wire parser is tested against; nothing else decodes with protobuf-c)

    static func referenceExample(_ bytes: UnsafeRawBufferPointer) throws -> Example {
        let message = try unpack(bytes, tensorflow__example__unpack)
        defer { tensorflow__example__free_unpacked(message, nil) }
        return Example(try features(message.pointee.features))
    }

    static func referenceSequenceExample(_ bytes: UnsafeRawBufferPointer) throws -> SequenceExample {
        let message = try unpack(bytes, tensorflow__sequence_example__unpack)
        defer { tensorflow__sequence_example__free_unpacked(message, nil) }
        var lists: [String: [Feature]] = [:]
        if let entries = message.pointee.feature_lists, entries.pointee.n_feature_list > 0 {
            for i in 0 ..< entries.pointee.n_feature_list {
                guard let entry = entries.pointee.feature_list[i] else { continue }
                var steps: [Feature] = []
                if let list = entry.pointee.value, list.pointee.n_feature > 0 {
                    steps = (0 ..< list.pointee.n_feature).map { feature(list.pointee.feature[$0]) }
                }
                lists[try key(entry.pointee.key)] = steps
            }
        }
        return SequenceExample(context: try features(message.pointee.context), featureLists: lists)
    }

    static func features(_ features: UnsafeMutablePointer<Tensorflow__Features>?) throws -> [String: Feature] {
        guard let features, features.pointee.n_feature > 0 else { return [:] }
        var result = [String: Feature](minimumCapacity: features.pointee.n_feature)
        for i in 0 ..< features.pointee.n_feature {
            guard let entry = features.pointee.feature[i] else { continue }
            result[try key(entry.pointee.key)] = feature(entry.pointee.value)   // a repeated key: last wins
        }
        return result
    }

    /// Map keys are proto3 strings: invalid UTF-8 is rejected, as TensorFlow's parser does.
    static func key(_ key: UnsafeMutablePointer<CChar>?) throws -> String {
        guard let key else { return "" }
        guard let string = String(validatingCString: key) else {
            throw TFRecordError.invalidExample(nil, reason: "feature key is not valid UTF-8")
        }
        return string
    }

    static func feature(_ feature: UnsafeMutablePointer<Tensorflow__Feature>?) -> Feature {
        guard let feature else { return .bytes([]) }   // map entry without a value
        switch feature.pointee.kind_case {
        case TENSORFLOW__FEATURE__KIND_FLOAT_LIST:
            guard let list = feature.pointee.float_list?.pointee, list.n_value > 0 else { return .floats([]) }
            return .floats(Array(UnsafeBufferPointer(start: list.value, count: list.n_value)))
        case TENSORFLOW__FEATURE__KIND_INT64_LIST:
            guard let list = feature.pointee.int64_list?.pointee, list.n_value > 0 else { return .int64s([]) }
            return .int64s(Array(UnsafeBufferPointer(start: list.value, count: list.n_value)))
        case TENSORFLOW__FEATURE__KIND_BYTES_LIST:
            guard let list = feature.pointee.bytes_list?.pointee, list.n_value > 0 else { return .bytes([]) }
            return .bytes(UnsafeBufferPointer(start: list.value, count: list.n_value).map { item in
                item.len == 0 ? [] : Array(UnsafeBufferPointer(start: item.data, count: item.len))
            })
        default:
            return .bytes([])
        }
    }

    // MARK: Encoding

    static func features(_ features: [String: Feature], _ arena: ProtoArena) -> UnsafeMutablePointer<Tensorflow__Features> {
        let message = arena.make(Tensorflow__Features.self, tensorflow__features__init)
        let entries = features.keys.sorted().map { key -> UnsafeMutablePointer<Tensorflow__Features__FeatureEntry>? in
            let entry = arena.make(Tensorflow__Features__FeatureEntry.self, tensorflow__features__feature_entry__init)
            entry.pointee.key = arena.cString(key)
            entry.pointee.value = feature(features[key]!, arena)
            return entry
        }
        message.pointee.n_feature = entries.count
        message.pointee.feature = arena.copy(entries)
        return message
    }

    static func feature(_ feature: Feature, _ arena: ProtoArena) -> UnsafeMutablePointer<Tensorflow__Feature> {
        let message = arena.make(Tensorflow__Feature.self, tensorflow__feature__init)
        switch feature {
        case .bytes(let values):
            let list = arena.make(Tensorflow__BytesList.self, tensorflow__bytes_list__init)
            list.pointee.n_value = values.count
            list.pointee.value = arena.copy(values.map { ProtobufCBinaryData(len: $0.count, data: arena.copy($0)) })
            message.pointee.kind_case = TENSORFLOW__FEATURE__KIND_BYTES_LIST
            message.pointee.bytes_list = list
        case .floats(let values):
            let list = arena.make(Tensorflow__FloatList.self, tensorflow__float_list__init)
            list.pointee.n_value = values.count
            list.pointee.value = arena.copy(values)
            message.pointee.kind_case = TENSORFLOW__FEATURE__KIND_FLOAT_LIST
            message.pointee.float_list = list
        case .int64s(let values):
            let list = arena.make(Tensorflow__Int64List.self, tensorflow__int64_list__init)
            list.pointee.n_value = values.count
            list.pointee.value = arena.copy(values)
            message.pointee.kind_case = TENSORFLOW__FEATURE__KIND_INT64_LIST
            message.pointee.int64_list = list
        }
        return message
    }
}
