// Zero-copy parsing of tf.Example and tf.SequenceExample (spec §3): the hot path of every read.
//
// protobuf-c's unpack allocates every message, list and string (about twenty allocations for a four-feature
// Example), which held small-record parsing near 60 MB/s. TensorFlow's own fast path
// (core/util/example_proto_fast_parsing.cc) walks the wire format by hand for the same reason; so does the C
// scanner in Sources/CExampleWire, for the seven message types of example.proto / feature.proto and nothing
// else, and this file hands its results out as views. protobuf-c still encodes.
//
// It accepts exactly what protobuf-c 1.4 accepts (ExampleWireTests compares the two on thousands of mutated and
// generated payloads), with protobuf-c's rules: tags of at most 5 bytes and never field 0; varints of at most 10 bytes;
// length prefixes of at most 5 bytes and 2^31-1; wire types 3, 4, 6 and 7 rejected even in unknown fields;
// a known field with the wrong wire type rejected; packed and unpacked numbers both read; a message field given
// twice merged as protobuf-c merges (repeated fields joined, a Feature's kind: the later one if it has one, and
// two values without a kind refused, as protobuf-c's merge_messages fails on them);
// the last of a Feature's kinds wins; a repeated map key keeps its last value. Keys must be valid UTF-8.
import CExampleWire
import Foundation

/// One feature as it lies in a payload, valid while the payload is: its kind, how many values, and the body of
/// its list message, already validated, so reading the values cannot fail.
public struct FeatureView {
    /// `.bytes` also for a Feature with no kind set (TensorFlow reads it as an empty list).
    public let kind: Feature.Kind
    public let count: Int
    /// The BytesList / FloatList / Int64List message body.
    let list: UnsafeRawBufferPointer
    /// The floats when they are one packed run (the usual layout), else nil.
    let packedFloats: UnsafeRawPointer?
    /// False for a Feature with no kind set.
    public let hasKind: Bool

    static let none = FeatureView(kind: .bytes, count: 0, list: UnsafeRawBufferPointer(start: nil, count: 0),
                                  packedFloats: nil, hasKind: false)

    init(kind: Feature.Kind, count: Int, list: UnsafeRawBufferPointer, packedFloats: UnsafeRawPointer?, hasKind: Bool) {
        self.kind = kind
        self.count = count
        self.list = list
        self.packedFloats = packedFloats
        self.hasKind = hasKind
    }

    @inline(__always)
    init(_ f: pw_feature, _ base: UnsafeRawPointer) {
        switch Int(f.kind) {
        case PW_FLOAT: kind = .float
        case PW_INT64: kind = .int64
        default: kind = .bytes
        }
        hasKind = Int(f.kind) != PW_NONE
        count = Int(f.count)
        list = UnsafeRawBufferPointer(start: base + Int(f.list_offset), count: Int(f.list_length))
        packedFloats = f.packed_offset == UInt32.max ? nil : base + Int(f.packed_offset)
    }

    /// Calls `body` with each bytes value, in order (nothing for other kinds).
    @inline(__always)
    public func forEachBytes(_ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        guard kind == .bytes, count > 0 else { return }
        var cursor = WireCursor(list)
        while !cursor.atEnd {
            let (field, wire) = cursor.tag()!
            if field == 1 && wire == 2 { try body(cursor.lengthDelimited()!) } else { cursor.skip(wire) }
        }
    }

    @inline(__always)
    public func forEachFloat(_ body: (Float) throws -> Void) rethrows {
        guard kind == .float, count > 0 else { return }
        if let packed = packedFloats {
            for i in 0 ..< count { try body(Float(bitPattern: UInt32(littleEndian: packed.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))) }
            return
        }
        try withUnsafeTemporaryAllocation(of: Float.self, capacity: count) { values in
            pw_float_values(list.baseAddress?.assumingMemoryBound(to: UInt8.self), list.count, values.baseAddress)
            for value in values { try body(value) }
        }
    }

    @inline(__always)
    public func forEachInt64(_ body: (Int64) throws -> Void) rethrows {
        guard kind == .int64, count > 0 else { return }
        try withUnsafeTemporaryAllocation(of: Int64.self, capacity: count) { values in
            pw_int64_values(list.baseAddress?.assumingMemoryBound(to: UInt8.self), list.count, values.baseAddress)
            for value in values { try body(value) }
        }
    }

    /// Decodes the int64 values into `out` (room for `count`); nothing for other kinds.
    @inline(__always)
    public func copyInt64s(into out: UnsafeMutablePointer<Int64>) {
        guard kind == .int64, count > 0 else { return }
        pw_int64_values(list.baseAddress?.assumingMemoryBound(to: UInt8.self), list.count, out)
    }

    /// Decodes the float values into `out` (room for `count`); nothing for other kinds.
    @inline(__always)
    public func copyFloats(into out: UnsafeMutablePointer<Float>) {
        guard kind == .float, count > 0 else { return }
        if let packed = packedFloats { UnsafeMutableRawPointer(out).copyMemory(from: packed, byteCount: 4 * count) }   // little-endian wire
        else { pw_float_values(list.baseAddress?.assumingMemoryBound(to: UInt8.self), list.count, out) }
    }

    /// The values as a Swift `Feature` (copied).
    public var feature: Feature {
        switch kind {
        case .bytes:
            var values: [[UInt8]] = []
            values.reserveCapacity(count)
            forEachBytes { values.append(Array($0)) }
            return .bytes(values)
        case .float:
            return .floats([Float](unsafeUninitializedCapacity: count) { buffer, n in
                if count > 0 { pw_float_values(list.baseAddress?.assumingMemoryBound(to: UInt8.self), list.count, buffer.baseAddress) }
                n = count
            })
        case .int64:
            return .int64s([Int64](unsafeUninitializedCapacity: count) { buffer, n in
                if count > 0 { pw_int64_values(list.baseAddress?.assumingMemoryBound(to: UInt8.self), list.count, buffer.baseAddress) }
                n = count
            })
        }
    }
}

/// The steps of a feature list, as views.
public struct FeatureSteps: RandomAccessCollection {
    let steps: UnsafePointer<pw_feature>?
    let base: UnsafeRawPointer
    public let startIndex = 0
    public let endIndex: Int

    public subscript(i: Int) -> FeatureView { FeatureView(steps![i], base) }
}

/// Parses payloads one after another into reusable storage (the C scanner's). Everything it hands out points into
/// the payload, valid while the payload is and until the next `parse`.
public struct ExampleParser {
    /// The scanner's result arrays, freed with the last copy of the parser.
    private final class Storage {
        let result = UnsafeMutablePointer<pw_result>.allocate(capacity: 1)
        init() { result.initialize(to: pw_result()) }
        deinit {
            pw_free(result)
            result.deallocate()
        }
    }

    private var storage = Storage()
    private var base = UnsafeRawPointer(bitPattern: 1)!
    /// Keys must be UTF-8 (off only in tests, to see the raw keys).
    var validatesKeys = true

    public init() {}

    private var result: UnsafeMutablePointer<pw_result> { storage.result }

    /// Whether the payload had a `feature_lists` field (a tf.SequenceExample), even an empty one.
    public var hasFeatureLists: Bool { result.pointee.has_feature_lists != 0 }
    /// Context features (the features of a tf.Example) in wire order, one per key (the last).
    public var featureCount: Int { result.pointee.n_features }
    public var featureListCount: Int { result.pointee.n_lists }

    @inline(__always)
    public func featureKey(_ i: Int) -> UnsafeRawBufferPointer { key(result.pointee.features[i]) }
    @inline(__always)
    public func featureValue(_ i: Int) -> FeatureView { FeatureView(result.pointee.features[i].feature, base) }
    public func featureListKey(_ i: Int) -> UnsafeRawBufferPointer { key(result.pointee.lists[i]) }
    public func featureListSteps(_ i: Int) -> FeatureSteps {
        let entry = result.pointee.lists[i]
        return FeatureSteps(steps: UnsafePointer(result.pointee.steps.map { $0 + Int(entry.first) }), base: base,
                            endIndex: Int(entry.step_count))
    }

    @inline(__always)
    private func key(_ entry: pw_entry) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + Int(entry.key_offset), count: Int(entry.key_length))
    }

    /// Calls `body` for every feature, then for every step of every feature list (wire order).
    @inline(__always)
    public func forEachFeatureView(_ body: (FeatureView) throws -> Void) rethrows {
        let r = result.pointee
        for i in 0 ..< r.n_features { try body(FeatureView(r.features[i].feature, base)) }
        for i in 0 ..< r.n_lists {
            let list = r.lists[i]
            for j in Int(list.first) ..< Int(list.first + list.step_count) { try body(FeatureView(r.steps[j], base)) }
        }
    }

    /// Parses a serialized tf.SequenceExample, or with `sequence: false` a tf.Example (a tf.Example is a
    /// SequenceExample with only a context: field 1 is shared; as a tf.Example, field 2 is an unknown field).
    /// Throws `.invalidExample(nil, …)` naming the byte that is wrong.
    public mutating func parse(_ payload: UnsafeRawBufferPointer, sequence: Bool = true) throws {
        if !isKnownUniquelyReferenced(&storage) { storage = Storage() }   // a copy keeps what it had parsed
        base = UnsafeRawPointer(payload.baseAddress) ?? UnsafeRawPointer(bitPattern: 1)!
        let code = pw_parse(payload.baseAddress?.assumingMemoryBound(to: UInt8.self), payload.count, sequence ? 1 : 0, result)
        if Int(code) != PW_OK { throw Self.error(result.pointee) }
        guard validatesKeys else { return }
        let r = result.pointee
        for i in 0 ..< r.n_features where r.features[i].key_ascii == 0 { try Self.checkUTF8(key(r.features[i])) }
        for i in 0 ..< r.n_lists where r.lists[i].key_ascii == 0 { try Self.checkUTF8(key(r.lists[i])) }
    }

    private static func checkUTF8(_ key: UnsafeRawBufferPointer) throws {
        if String(validating: key.bindMemory(to: UInt8.self), as: UTF8.self) == nil {
            throw TFRecordError.invalidExample(nil, reason: "feature key is not valid UTF-8")
        }
        // written back, a key would end at its first NUL and could merge with another (found by the example fuzz target)
        if key.contains(0) { throw TFRecordError.invalidExample(nil, reason: "feature key contains a NUL byte") }
    }

    private static func error(_ r: pw_result) -> TFRecordError {
        let field = r.error_field.map { String(cString: $0) } ?? ""
        let reason: String
        switch Int(r.error) {
        case Int(PW_BAD_TAG): reason = "invalid field tag"
        case Int(PW_WRONG_WIRE): reason = "\(field) has wire type \(r.error_wire)"
        case Int(PW_PAST_END): reason = "\(field) runs past the end of its message"
        case Int(PW_UNSUPPORTED_WIRE): reason = "unsupported wire type \(r.error_wire)"
        case Int(PW_UNKNOWN_PAST_END): reason = "unknown field runs past the end of its message"
        case Int(PW_PACKED_FLOATS): reason = "packed floats of \(r.error_extra) bytes, not a multiple of 4"
        case Int(PW_TRUNCATED_FIXED32): reason = "truncated fixed32"
        case Int(PW_TRUNCATED_VARINT): reason = "truncated varint"
        case Int(PW_TRUNCATED_PACKED): reason = "truncated varint in packed Int64List"
        case Int(PW_KINDLESS_MERGE): reason = "FeatureEntry.value given twice, neither with a kind (protobuf-c refuses the merge)"
        default: return .invalidExample(nil, reason: "out of memory")
        }
        return .invalidExample(nil, reason: "\(reason) (byte \(r.error_offset))")
    }
}

/// Byte order (memcmp's), shorter first on a tie; short keys without a call.
@inline(__always)
func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    let n = min(a.count, b.count)
    if n <= 16 {
        for i in 0 ..< n where a[i] != b[i] { return Int(a[i]) - Int(b[i]) }
    } else {
        let c = memcmp(a.baseAddress!, b.baseAddress!, n)
        if c != 0 { return Int(c) }
    }
    return a.count - b.count
}

@inline(__always)
func isUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
    var high: UInt8 = 0
    for byte in bytes { high |= byte }
    return high < 0x80 || String(validating: bytes.bindMemory(to: UInt8.self), as: UTF8.self) != nil
}

// MARK: - Cursor

/// Reads protobuf wire primitives with protobuf-c's limits; nil where protobuf-c would fail. Walks bytes lists that
/// the C scanner has already validated.
struct WireCursor {
    var p: UnsafeRawPointer
    let end: UnsafeRawPointer

    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer) {
        // An empty buffer may have no base address: any non-nil pointer with end == p works.
        p = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        end = p + bytes.count
    }

    @inline(__always) var atEnd: Bool { p >= end }
    @inline(__always) var remaining: Int { end - p }

    @inline(__always)
    func byte(_ i: Int) -> UInt8 { p.load(fromByteOffset: i, as: UInt8.self) }

    /// Field number and wire type: at most 5 bytes, and a first byte whose field bits are not all zero.
    @inline(__always)
    mutating func tag() -> (UInt32, UInt8)? {
        let b0 = byte(0)
        if b0 & 0xF8 == 0 { return nil }
        if b0 < 0x80 {
            p += 1
            return (UInt32(b0 >> 3), b0 & 7)
        }
        var tag = UInt32((b0 & 0x7F) >> 3)
        var shift: UInt32 = 4
        for i in 1 ..< min(5, remaining) {
            let b = byte(i)
            if b & 0x80 != 0 {
                tag |= UInt32(b & 0x7F) << shift
                shift += 7
            } else {
                tag |= UInt32(b) << shift
                p += i + 1
                return (tag, b0 & 7)
            }
        }
        return nil
    }

    /// A varint of at most 10 bytes (bits past 64 dropped, as protobuf-c does).
    @inline(__always)
    mutating func varint() -> UInt64? {
        if p < end {
            let b0 = byte(0)
            if b0 < 0x80 {
                p += 1
                return UInt64(b0)
            }
        }
        return varintSlow()
    }

    mutating func varintSlow() -> UInt64? {
        var value: UInt64 = 0
        for i in 0 ..< min(10, remaining) {
            let b = byte(i)
            value |= UInt64(b & 0x7F) &<< UInt64(7 * i)
            if b < 0x80 {
                p += i + 1
                return value
            }
        }
        return nil
    }

    @inline(__always)
    mutating func fixed32() -> UInt32? {
        guard remaining >= 4 else { return nil }
        let value = p.loadUnaligned(as: UInt32.self)
        p += 4
        return value
    }

    /// A length prefix (at most 5 bytes, at most 2^31-1) and the bytes it covers.
    @inline(__always)
    mutating func lengthDelimited() -> UnsafeRawBufferPointer? {
        var length = 0
        var header = 0
        if p < end && byte(0) < 0x80 {
            length = Int(byte(0))
            header = 1
        } else {
            var value: UInt64 = 0
            for i in 0 ..< min(5, remaining) {
                let b = byte(i)
                value |= UInt64(b & 0x7F) << UInt64(7 * i)
                if b < 0x80 { header = i + 1; break }
            }
            guard header > 0, value <= UInt64(Int32.max) else { return nil }
            length = Int(value)
        }
        guard length <= remaining - header else { return nil }
        let body = UnsafeRawBufferPointer(start: p + header, count: length)
        p += header + length
        return body
    }

    /// Steps over a field of wire type `wire`; false where protobuf-c fails (groups, types 6 and 7, truncation).
    @inline(__always)
    mutating func skipChecked(_ wire: UInt8) -> Bool {
        switch wire {
        case 0: return varint() != nil
        case 1:
            guard remaining >= 8 else { return false }
            p += 8
            return true
        case 2: return lengthDelimited() != nil
        case 5: return fixed32() != nil
        default: return false
        }
    }

    /// For bodies already validated.
    @inline(__always)
    mutating func skip(_ wire: UInt8) { _ = skipChecked(wire) }
}

// MARK: - Swift values

extension ExampleParser {
    /// The context features as Swift values.
    public func materializedFeatures() -> [String: Feature] {
        var out = [String: Feature](minimumCapacity: featureCount)
        for i in 0 ..< featureCount { out[String(decoding: featureKey(i), as: UTF8.self)] = featureValue(i).feature }
        return out
    }

    public func materializedFeatureLists() -> [String: [Feature]] {
        var out = [String: [Feature]](minimumCapacity: featureListCount)
        for i in 0 ..< featureListCount {
            out[String(decoding: featureListKey(i), as: UTF8.self)] = featureListSteps(i).map(\.feature)
        }
        return out
    }
}
