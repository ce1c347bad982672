// A growable byte buffer for text output (JSONL rows, index lines): appends without Array's per-call checks.
import Foundation

struct ByteBuffer {
    /// Owns the memory; the struct keeps the pointer at hand so that appends touch no class.
    private final class Storage {
        let base: UnsafeMutablePointer<UInt8>
        init(_ capacity: Int) { base = .allocate(capacity: capacity) }
        deinit { base.deallocate() }
    }

    private var storage: Storage
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int = 1 << 16) {
        self.capacity = max(64, capacity)
        storage = Storage(self.capacity)
        base = storage.base
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    mutating func removeAll() { count = 0 }

    /// Drops everything after the first `n` bytes (a row that failed half-way).
    mutating func truncate(to n: Int) { count = min(count, n) }

    @inline(__always)
    mutating func reserve(_ extra: Int) {
        if count + extra > capacity { grow(count + extra) }
    }

    private mutating func grow(_ needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let bigger = Storage(newCapacity)
        bigger.base.update(from: base, count: count)
        storage = bigger
        base = bigger.base
        capacity = newCapacity
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        UnsafeMutableRawPointer(base + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    mutating func append(_ bytes: [UInt8]) { bytes.withUnsafeBytes { append($0) } }

    /// A signed decimal integer.
    @inline(__always)
    mutating func appendDecimal(_ value: Int64) {
        reserve(20)
        var magnitude = value.magnitude
        if value < 0 {
            base[count] = UInt8(ascii: "-")
            count += 1
        }
        if magnitude < 10 {
            base[count] = UInt8(truncatingIfNeeded: magnitude) + 48
            count += 1
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)   // 24 bytes of scratch, written backwards
        let n = withUnsafeMutableBytes(of: &digits) { scratch -> Int in
            var i = 24
            while magnitude > 0 {
                i -= 1
                scratch[i] = UInt8(truncatingIfNeeded: magnitude % 10) + 48
                magnitude /= 10
            }
            UnsafeMutableRawPointer(base + count).copyMemory(from: scratch.baseAddress! + i, byteCount: 24 - i)
            return 24 - i
        }
        count += n
    }

    /// Writes the contents to `sink` and empties the buffer.
    mutating func drain(into sink: FileSink) throws {
        try sink.write(bytes)
        count = 0
    }
}
