// Zero-copy parsing of tf.Example and tf.SequenceExample (spec §3): the hot path of every read.
//
// protobuf-c's unpack allocates every message, list and string (about twenty allocations for a four-feature
// Example), which held small-record parsing near 60 MB/s. TensorFlow's own fast path
// (core/util/example_proto_fast_parsing.cc) walks the wire format by hand for the same reason; so does this file,
// for the seven message types of example.proto / feature.proto and nothing else. protobuf-c still encodes.
//
// It accepts exactly what protobuf-c 1.4 accepts (ExampleWireTests compares the two on thousands of mutated
// payloads), with protobuf-c's rules: tags of at most 5 bytes and never field 0; varints of at most 10 bytes;
// length prefixes of at most 5 bytes and 2^31-1; wire types 3, 4, 6 and 7 rejected even in unknown fields;
// a known field with the wrong wire type rejected; packed and unpacked numbers both read; a message field given
// twice merged as protobuf-c merges (repeated fields joined, a Feature's kind: the later one if it has one);
// the last of a Feature's kinds wins; a repeated map key keeps its last value. Keys must be valid UTF-8.
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
    /// Whether the Feature had a kind at all (protobuf-c's merge of a repeated map value needs it).
    let hasKind: Bool

    static let none = FeatureView(kind: .bytes, count: 0, list: UnsafeRawBufferPointer(start: nil, count: 0),
                                  packedFloats: nil, hasKind: false)

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
        var cursor = WireCursor(list)
        while !cursor.atEnd {
            let (field, wire) = cursor.tag()!
            if field == 1 && wire == 2 {
                let run = cursor.lengthDelimited()!
                for i in 0 ..< run.count / 4 { try body(Float(bitPattern: UInt32(littleEndian: run.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))) }
            } else if field == 1 && wire == 5 {
                try body(Float(bitPattern: UInt32(littleEndian: cursor.fixed32()!)))
            } else {
                cursor.skip(wire)
            }
        }
    }

    @inline(__always)
    public func forEachInt64(_ body: (Int64) throws -> Void) rethrows {
        guard kind == .int64, count > 0 else { return }
        var cursor = WireCursor(list)
        while !cursor.atEnd {
            let (field, wire) = cursor.tag()!
            if field == 1 && wire == 2 {
                var run = WireCursor(cursor.lengthDelimited()!)
                while !run.atEnd { try body(Int64(bitPattern: run.varint()!)) }
            } else if field == 1 && wire == 0 {
                try body(Int64(bitPattern: cursor.varint()!))
            } else {
                cursor.skip(wire)
            }
        }
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
            if let packed = packedFloats {
                return .floats([Float](unsafeUninitializedCapacity: count) { buffer, n in
                    if count > 0 { memcpy(buffer.baseAddress!, packed, 4 * count) }   // little-endian wire = memory
                    n = count
                })
            }
            var values: [Float] = []
            values.reserveCapacity(count)
            forEachFloat { values.append($0) }
            return .floats(values)
        case .int64:
            var values: [Int64] = []
            values.reserveCapacity(count)
            forEachInt64 { values.append($0) }
            return .int64s(values)
        }
    }
}

/// A named feature (or feature list) of the payload just parsed.
struct WireEntry {
    var key: UnsafeRawBufferPointer
    var feature: FeatureView
    /// Feature lists: the steps are `steps[first ..< first + stepCount]`.
    var first = 0
    var stepCount = 0
}

/// Parses payloads one after another into reusable storage. Everything it hands out points into the payload,
/// valid while the payload is and until the next `parse`. A value type, so that the hot loops run on a local
/// copy without Swift's run-time exclusivity checks.
public struct ExampleParser {
    /// Context features (the features of a tf.Example) in wire order, one per key (the last).
    private(set) var features: [WireEntry] = []
    /// Feature lists in wire order, one per key; their steps are in `steps`.
    private(set) var featureLists: [WireEntry] = []
    private(set) var steps: [FeatureView] = []
    /// Whether the payload had a `feature_lists` field (a tf.SequenceExample), even an empty one.
    public private(set) var hasFeatureLists = false
    private var base: UnsafeRawPointer?
    /// Where the field being read starts, for errors.
    private var fieldStart: UnsafeRawPointer?

    public init() {
        features.reserveCapacity(16)
    }

    /// Calls `body` for every feature, then for every step of every feature list (wire order).
    @inline(__always)
    public func forEachFeatureView(_ body: (FeatureView) throws -> Void) rethrows {
        for entry in features { try body(entry.feature) }
        for list in featureLists { for i in list.first ..< list.first + list.stepCount { try body(steps[i]) } }
    }

    public var featureCount: Int { features.count }
    public var featureListCount: Int { featureLists.count }

    public func featureKey(_ i: Int) -> UnsafeRawBufferPointer { features[i].key }
    public func featureValue(_ i: Int) -> FeatureView { features[i].feature }
    public func featureListKey(_ i: Int) -> UnsafeRawBufferPointer { featureLists[i].key }
    public func featureListSteps(_ i: Int) -> ArraySlice<FeatureView> {
        steps[featureLists[i].first ..< featureLists[i].first + featureLists[i].stepCount]
    }

    /// Keys must be UTF-8 (off only in tests, to see the raw keys).
    var validatesKeys = true

    /// Parses a serialized tf.SequenceExample, or with `sequence: false` a tf.Example (a tf.Example is a
    /// SequenceExample with only a context: field 1 is shared; as a tf.Example, field 2 is an unknown field).
    /// Throws `.invalidExample(nil, …)` naming the byte that is wrong.
    public mutating func parse(_ payload: UnsafeRawBufferPointer, sequence: Bool = true) throws {
        features.removeAll(keepingCapacity: true)
        featureLists.removeAll(keepingCapacity: true)
        steps.removeAll(keepingCapacity: true)
        hasFeatureLists = false
        base = payload.baseAddress
        var cursor = WireCursor(payload)
        while !cursor.atEnd {
            let (field, wire) = try tag(&cursor)
            if field == 1 || (field == 2 && sequence) {
                let body = try message(&cursor, wire, field == 1 ? "Example.features" : "SequenceExample.feature_lists")
                if field == 1 { try parseFeatures(body) } else { try parseFeatureLists(body) }
            } else {
                try skip(&cursor, wire)
            }
        }
        try Self.finish(&features, validatesKeys: validatesKeys)
        try Self.finish(&featureLists, validatesKeys: validatesKeys)
    }

    // MARK: - Messages

    /// Features { repeated FeatureEntry feature = 1 } with FeatureEntry { string key = 1; Feature value = 2 }.
    private mutating func parseFeatures(_ body: UnsafeRawBufferPointer) throws {
        var cursor = WireCursor(body)
        while !cursor.atEnd {
            let (field, wire) = try tag(&cursor)
            guard field == 1 else { try skip(&cursor, wire); continue }
            var entry = WireCursor(try message(&cursor, wire, "Features.feature"))
            var key = UnsafeRawBufferPointer(start: nil, count: 0)
            var value: FeatureView?
            while !entry.atEnd {
                let (field, wire) = try tag(&entry)
                if field == 1 {
                    key = try message(&entry, wire, "FeatureEntry.key")
                } else if field == 2 {
                    let feature = try parseFeature(try message(&entry, wire, "FeatureEntry.value"))
                    if feature.hasKind || value == nil { value = feature }   // protobuf-c's merge of a repeated value
                } else {
                    try skip(&entry, wire)
                }
            }
            features.append(WireEntry(key: key, feature: value ?? .none))
        }
    }

    /// FeatureLists { repeated FeatureListEntry feature_list = 1 }, FeatureListEntry { string key = 1;
    /// FeatureList value = 2 }, FeatureList { repeated Feature feature = 1 }.
    private mutating func parseFeatureLists(_ body: UnsafeRawBufferPointer) throws {
        hasFeatureLists = true
        var cursor = WireCursor(body)
        while !cursor.atEnd {
            let (field, wire) = try tag(&cursor)
            guard field == 1 else { try skip(&cursor, wire); continue }
            var entry = WireCursor(try message(&cursor, wire, "FeatureLists.feature_list"))
            var key = UnsafeRawBufferPointer(start: nil, count: 0)
            let first = steps.count
            while !entry.atEnd {
                let (field, wire) = try tag(&entry)
                if field == 1 {
                    key = try message(&entry, wire, "FeatureListEntry.key")
                } else if field == 2 {
                    // A repeated value is merged by joining its steps, as protobuf-c merges repeated fields.
                    var list = WireCursor(try message(&entry, wire, "FeatureListEntry.value"))
                    while !list.atEnd {
                        let (field, wire) = try tag(&list)
                        if field == 1 { steps.append(try parseFeature(try message(&list, wire, "FeatureList.feature"))) }
                        else { try skip(&list, wire) }
                    }
                } else {
                    try skip(&entry, wire)
                }
            }
            featureLists.append(WireEntry(key: key, feature: .none, first: first, stepCount: steps.count - first))
        }
    }

    /// Feature { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3 } }.
    @inline(__always)
    private mutating func parseFeature(_ body: UnsafeRawBufferPointer) throws -> FeatureView {
        var cursor = WireCursor(body)
        var result = FeatureView.none
        while !cursor.atEnd {
            let (field, wire) = try tag(&cursor)
            switch field {
            case 1: result = try bytesList(try message(&cursor, wire, "Feature.bytes_list"))
            case 2: result = try floatList(try message(&cursor, wire, "Feature.float_list"))
            case 3: result = try int64List(try message(&cursor, wire, "Feature.int64_list"))
            default: try skip(&cursor, wire)
            }
        }
        return result
    }

    @inline(__always)
    private mutating func bytesList(_ body: UnsafeRawBufferPointer) throws -> FeatureView {
        var cursor = WireCursor(body)
        var count = 0
        while !cursor.atEnd {
            let (field, wire) = try tag(&cursor)
            if field == 1 {
                _ = try message(&cursor, wire, "BytesList.value")
                count += 1
            } else {
                try skip(&cursor, wire)
            }
        }
        return FeatureView(kind: .bytes, count: count, list: body, packedFloats: nil, hasKind: true)
    }

    @inline(__always)
    private mutating func floatList(_ body: UnsafeRawBufferPointer) throws -> FeatureView {
        var cursor = WireCursor(body)
        var count = 0, runs = 0
        var packed: UnsafeRawPointer?
        while !cursor.atEnd {
            let at = cursor.p
            let (field, wire) = try tag(&cursor)
            if field == 1 && wire == 2 {
                let run = try message(&cursor, wire, "FloatList.value")
                guard run.count % 4 == 0 else {
                    throw invalid("packed floats of \(run.count) bytes, not a multiple of 4", at)
                }
                count += run.count / 4
                packed = run.baseAddress
                runs += 1
            } else if field == 1 && wire == 5 {
                guard cursor.fixed32() != nil else { throw invalid("truncated fixed32", at) }
                count += 1
                runs += 2
            } else if field == 1 {
                throw invalid("FloatList.value has wire type \(wire)", at)
            } else {
                try skip(&cursor, wire)
            }
        }
        return FeatureView(kind: .float, count: count, list: body, packedFloats: runs == 1 ? packed : nil, hasKind: true)
    }

    @inline(__always)
    private mutating func int64List(_ body: UnsafeRawBufferPointer) throws -> FeatureView {
        var cursor = WireCursor(body)
        var count = 0
        while !cursor.atEnd {
            let at = cursor.p
            let (field, wire) = try tag(&cursor)
            if field == 1 && wire == 2 {
                var run = WireCursor(try message(&cursor, wire, "Int64List.value"))
                while !run.atEnd {
                    let start = run.p
                    guard run.varint() != nil else { throw invalid("truncated varint in packed Int64List", start) }
                    count += 1
                }
            } else if field == 1 && wire == 0 {
                guard cursor.varint() != nil else { throw invalid("truncated varint", at) }
                count += 1
            } else if field == 1 {
                throw invalid("Int64List.value has wire type \(wire)", at)
            } else {
                try skip(&cursor, wire)
            }
        }
        return FeatureView(kind: .int64, count: count, list: body, packedFloats: nil, hasKind: true)
    }

    // MARK: - Wire primitives with errors

    @inline(__always)
    private mutating func tag(_ cursor: inout WireCursor) throws -> (UInt32, UInt8) {
        let at = cursor.p
        fieldStart = at
        guard let tag = cursor.tag() else { throw invalid("invalid field tag", at) }
        return tag
    }

    /// The body of a length-delimited field that must be one.
    @inline(__always)
    private mutating func message(_ cursor: inout WireCursor, _ wire: UInt8, _ name: StaticString) throws -> UnsafeRawBufferPointer {
        let at = fieldStart ?? cursor.p
        guard wire == 2 else { throw invalid("\(name) has wire type \(wire)", at) }
        guard let body = cursor.lengthDelimited() else { throw invalid("\(name) runs past the end of its message", at) }
        return body
    }

    private mutating func skip(_ cursor: inout WireCursor, _ wire: UInt8) throws {
        let at = fieldStart ?? cursor.p
        guard cursor.skipChecked(wire) else {
            throw invalid(wire == 3 || wire == 4 || wire > 5 ? "unsupported wire type \(wire)" : "unknown field runs past the end of its message", at)
        }
    }

    private func invalid(_ reason: String, _ at: UnsafeRawPointer) -> TFRecordError {
        let offset = base.map { at - $0 } ?? 0
        return .invalidExample(nil, reason: "\(reason) (byte \(offset))")
    }

    /// Keeps the last entry of each key (in wire order) and checks that keys are UTF-8.
    private static func finish(_ entries: inout [WireEntry], validatesKeys: Bool) throws {
        let n = entries.count
        if n > 1 {
            var duplicate = false
            if n <= 16 {
                // A handful of keys: compare every pair, which mostly stops at the length or the first byte.
                outer: for i in 0 ..< n - 1 {
                    for j in i + 1 ..< n where same(entries[i].key, entries[j].key) {
                        duplicate = true
                        break outer
                    }
                }
            } else {
                let order = (0 ..< n).sorted { compare(entries[$0].key, entries[$1].key) < 0 }
                for k in 1 ..< n where same(entries[order[k - 1]].key, entries[order[k]].key) {
                    duplicate = true
                    break
                }
            }
            if duplicate {
                var seen = Set<[UInt8]>()
                var kept: [WireEntry] = []
                for entry in entries.reversed() where seen.insert(Array(entry.key)).inserted { kept.append(entry) }
                entries = kept.reversed()
            }
        }
        if validatesKeys {
            for entry in entries where !isUTF8(entry.key) {
                throw TFRecordError.invalidExample(nil, reason: "feature key is not valid UTF-8")
            }
        }
    }
}

@inline(__always)
func same(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    a.count == b.count && (a.count == 0 || (a[0] == b[0] && memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0))
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

/// Reads protobuf wire primitives with protobuf-c's limits; nil where protobuf-c would fail.
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
        var result = [String: Feature](minimumCapacity: features.count)
        for entry in features { result[String(decoding: entry.key, as: UTF8.self)] = entry.feature.feature }
        return result
    }

    public func materializedFeatureLists() -> [String: [Feature]] {
        var result = [String: [Feature]](minimumCapacity: featureLists.count)
        for i in 0 ..< featureLists.count {
            result[String(decoding: featureLists[i].key, as: UTF8.self)] = featureListSteps(i).map(\.feature)
        }
        return result
    }
}
