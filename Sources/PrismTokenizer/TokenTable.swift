// Byte string → id lookups without allocating: the BPE asks for ranks of slices of the text being encoded.

/// An immutable open-addressing hash table from byte strings to ids, with the strings stored contiguously.
struct TokenTable {
    private(set) var bytes: [UInt8] = []     // all keys, concatenated in insertion order
    private(set) var starts: [Int] = [0]     // key k is bytes[starts[k]..<starts[k+1]]
    private(set) var ids: [Int32] = []
    private var slots: [Int32] = []          // index into `ids`, or -1
    private var shift = 64

    var count: Int { ids.count }

    init() {}

    /// Sized for `capacity` keys without rehashing.
    init(capacity: Int) {
        var slotCount = 64
        while slotCount < 2 * capacity { slotCount *= 2 }
        slots = [Int32](repeating: -1, count: slotCount)
        shift = 64 - slotCount.trailingZeroBitCount
        ids.reserveCapacity(capacity)
        starts.reserveCapacity(capacity + 1)
    }

    /// Adds a key; returns the id already stored for it instead when it is present.
    mutating func insert(_ key: UnsafeBufferPointer<UInt8>, id: Int) -> Int? {
        if 2 * (count + 1) > slots.count { grow() }
        if let existing = lookup(key.baseAddress, key.count) { return existing }
        let k = ids.count
        bytes.append(contentsOf: key)
        starts.append(bytes.count)
        ids.append(Int32(id))
        place(k)
        return nil
    }

    mutating func insert(_ key: [UInt8], id: Int) -> Int? {
        key.withUnsafeBufferPointer { insert($0, id: id) }
    }

    /// The id of `p[0..<count]`, or nil.
    @inline(__always)
    func lookup(_ p: UnsafePointer<UInt8>?, _ count: Int) -> Int? {
        if slots.isEmpty { return nil }
        let mask = slots.count - 1
        var s = Int(truncatingIfNeeded: TokenTable.hash(p, count) >> UInt64(shift))
        return slots.withUnsafeBufferPointer { sl in
            bytes.withUnsafeBufferPointer { kb in
                starts.withUnsafeBufferPointer { st in
                    while true {
                        let k = Int(sl[s])
                        if k < 0 { return nil }
                        let a = st[k], len = st[k + 1] - a
                        if len == count && (count == 0 || TokenTable.equal(kb.baseAddress! + a, p, count)) { return Int(ids[k]) }
                        s = (s + 1) & mask
                    }
                }
            }
        }
    }

    func lookup(_ key: [UInt8]) -> Int? {
        key.withUnsafeBufferPointer { lookup($0.baseAddress, $0.count) }
    }

    /// The bytes of the k-th inserted key.
    func key(_ k: Int) -> ArraySlice<UInt8> { bytes[starts[k]..<starts[k + 1]] }

    // MARK: - Internals

    private mutating func place(_ k: Int) {
        let mask = slots.count - 1
        var s = bytes.withUnsafeBufferPointer { b in
            Int(truncatingIfNeeded: TokenTable.hash(b.baseAddress.map { $0 + starts[k] }, starts[k + 1] - starts[k])
                >> UInt64(shift))
        }
        while slots[s] >= 0 { s = (s + 1) & mask }
        slots[s] = Int32(k)
    }

    private mutating func grow() {
        let capacity = max(64, slots.count * 2)
        slots = [Int32](repeating: -1, count: capacity)
        shift = 64 - capacity.trailingZeroBitCount
        for k in 0..<ids.count { place(k) }
    }

    /// 8 bytes at a time, multiplicative mixing; the top bits index the table.
    @inline(__always)
    static func hash(_ p: UnsafePointer<UInt8>?, _ count: Int) -> UInt64 {
        var h: UInt64 = 0x243F_6A88_85A3_08D3 ^ UInt64(count)
        guard let p else { return h &* 0x9E37_79B9_7F4A_7C15 }
        let raw = UnsafeRawPointer(p)
        var i = 0
        while i + 8 <= count {
            h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0x9E37_79B9_7F4A_7C15
            h ^= h >> 29
            i += 8
        }
        var tail: UInt64 = 0
        var sh: UInt64 = 0
        while i < count {
            tail |= UInt64(p[i]) << sh
            sh += 8
            i += 1
        }
        h = (h ^ tail) &* 0x9E37_79B9_7F4A_7C15
        h ^= h >> 32
        return h &* 0xD6E8_FEB8_6659_FD93
    }

    @inline(__always)
    static func equal(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>?, _ count: Int) -> Bool {
        guard let b else { return count == 0 }
        var i = 0
        while i < count {
            if a[i] != b[i] { return false }
            i += 1
        }
        return true
    }
}

/// A built `TokenTable` copied into raw storage for lookups on the hot path: each slot holds a hash tag, the id
/// and the key's place, so a lookup touches the slot and (on a tag match) the key bytes only.
final class FrozenTokenTable: @unchecked Sendable {
    private struct Slot {
        var tag: UInt32
        var id: Int32          // -1: empty
        var offset: UInt32
        var length: UInt32
    }

    let count: Int
    private let bytes: UnsafeMutablePointer<UInt8>
    private let starts: UnsafeMutablePointer<Int>
    private let slots: UnsafeMutablePointer<Slot>
    private let mask: Int
    private let shift: UInt64

    init(_ t: TokenTable) {
        count = t.count
        bytes = .allocate(capacity: max(1, t.bytes.count))
        bytes.initialize(from: t.bytes, count: t.bytes.count)
        starts = .allocate(capacity: t.starts.count)
        starts.initialize(from: t.starts, count: t.starts.count)
        var capacity = 16
        while capacity < 2 * t.count { capacity *= 2 }
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: Slot(tag: 0, id: -1, offset: 0, length: 0), count: capacity)
        mask = capacity - 1
        shift = UInt64(64 - capacity.trailingZeroBitCount)
        for k in 0..<t.count {
            let a = t.starts[k], len = t.starts[k + 1] - a
            let h = TokenTable.hash(bytes + a, len)
            var s = Int(truncatingIfNeeded: h >> shift) & mask
            while slots[s].id >= 0 { s = (s + 1) & mask }
            slots[s] = Slot(tag: UInt32(truncatingIfNeeded: h), id: t.ids[k], offset: UInt32(a), length: UInt32(len))
        }
    }

    deinit {
        bytes.deallocate(); starts.deallocate(); slots.deallocate()
    }

    /// The id of `p[0..<count]`, or nil.
    @inline(__always)
    func lookup(_ p: UnsafePointer<UInt8>?, _ count: Int) -> Int? {
        let h = TokenTable.hash(p, count)
        let tag = UInt32(truncatingIfNeeded: h)
        var s = Int(truncatingIfNeeded: h >> shift) & mask
        while true {
            let slot = slots[s]
            if slot.id < 0 { return nil }
            if slot.tag == tag && Int(slot.length) == count
                && (count == 0 || TokenTable.equal(bytes + Int(slot.offset), p, count)) {
                return Int(slot.id)
            }
            s = (s + 1) & mask
        }
    }

    func lookup(_ key: [UInt8]) -> Int? {
        key.withUnsafeBufferPointer { lookup($0.baseAddress, $0.count) }
    }

    /// The bytes of the k-th inserted key.
    @inline(__always)
    func key(_ k: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: bytes + starts[k], count: starts[k + 1] - starts[k])
    }
}
