// A strict JSON (RFC 8259) reader for JSONL rows that keeps every number as written.
//
// Foundation's JSONSerialization turns numbers into NSNumber on the way in, which is how 99999999999999999999999
// became 200376420520689663, 1e39 became inf and true became 1.0 without a word: by the time a row is seen, the
// literal is gone. Here a number stays its literal, so the converter can check it against int64 or float32 and
// name the file and line of any that does not fit, and floats are rounded once, by strtof, not via a double.
// Beyond RFC 8259 it reads NaN, Infinity and -Infinity, the tokens Python's json module and Arrow write and read
// for the float values JSON has no number for.
import Foundation
import PrismIO

/// A JSON value, numbers as their literal text (already checked against the JSON grammar).
indirect enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in order; the reader refuses a key given twice.
    case object([(key: String, value: JSONValue)])

    static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)): return x.map(\.key) == y.map(\.key) && x.map(\.value) == y.map(\.value)
        default: return false
        }
    }

    /// What a person would call it in an error message.
    var shortDescription: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return n
        // quoted: escaped newlines and control characters must not break an error over lines
        case .string(let s): return s.count > 40 ? quoted(String(s.prefix(37)) + "…", quote: "\"") : quoted(s, quote: "\"")
        case .array: return "a list"
        case .object: return "an object"
        }
    }
}

struct JSONSyntaxError: Error, Equatable {
    /// 1-based byte column.
    let column: Int
    let message: String
    var description: String { "invalid JSON at column \(column): \(message)" }
}

struct JSONReader {
    private let start: UnsafePointer<UInt8>
    private var p: UnsafePointer<UInt8>
    private let end: UnsafePointer<UInt8>
    /// Deep nesting is refused rather than allowed to exhaust the stack.
    static let maxDepth = 64

    /// Parses one JSON text (surrounding whitespace allowed, a leading UTF-8 byte order mark skipped).
    static func parse(_ bytes: UnsafeRawBufferPointer) throws -> JSONValue {
        guard let base = bytes.baseAddress, bytes.count > 0 else { throw JSONSyntaxError(column: 1, message: "empty line") }
        var reader = JSONReader(start: base.assumingMemoryBound(to: UInt8.self), count: bytes.count)
        if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { reader.p += 3 }
        reader.skipSpace()
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.p == reader.end else { throw reader.error("unexpected text after the value") }
        return value
    }

    private init(start: UnsafePointer<UInt8>, count: Int) {
        self.start = start
        p = start
        end = start + count
    }

    private func error(_ message: String) -> JSONSyntaxError { JSONSyntaxError(column: p - start + 1, message: message) }

    private mutating func skipSpace() {
        while p < end, p.pointee == 0x20 || p.pointee == 0x09 || p.pointee == 0x0A || p.pointee == 0x0D { p += 1 }
    }

    private mutating func value(depth: Int) throws -> JSONValue {
        guard p < end else { throw error("unexpected end of line") }
        switch p.pointee {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "N"): try literal("NaN"); return .number("NaN")
        case UInt8(ascii: "I"): try literal("Infinity"); return .number("Infinity")
        case UInt8(ascii: "-") where end - p > 1 && p[1] == UInt8(ascii: "I"):
            try literal("-Infinity")
            return .number("-Infinity")
        case UInt8(ascii: "-"), UInt8(ascii: "0") ... UInt8(ascii: "9"): return .number(try number())
        default: throw error("unexpected character \(printable(p.pointee))")
        }
    }

    private mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard end - p >= n, memcmp(p, word.utf8Start, n) == 0 else { throw error("unexpected character \(printable(p.pointee))") }
        p += n
    }

    private mutating func object(depth: Int) throws -> JSONValue {
        guard depth <= Self.maxDepth else { throw error("nested deeper than \(Self.maxDepth) levels") }
        p += 1
        var members: [(key: String, value: JSONValue)] = []
        skipSpace()
        if p < end && p.pointee == UInt8(ascii: "}") { p += 1; return .object(members) }
        while true {
            skipSpace()
            guard p < end, p.pointee == UInt8(ascii: "\"") else { throw error("expected a key in quotes") }
            let keyColumn = p
            let key = try string()
            if members.contains(where: { $0.key == key }) {
                p = keyColumn
                // quoted: a key may hold escaped newlines or control characters (the message stays one line)
                throw error("the key \(quoted(key, quote: "\"")) appears twice")
            }
            skipSpace()
            guard p < end, p.pointee == UInt8(ascii: ":") else { throw error("expected ':'") }
            p += 1
            skipSpace()
            members.append((key, try value(depth: depth)))
            skipSpace()
            guard p < end else { throw error("unexpected end of line in an object") }
            if p.pointee == UInt8(ascii: ",") { p += 1; continue }
            if p.pointee == UInt8(ascii: "}") { p += 1; return .object(members) }
            throw error("expected ',' or '}'")
        }
    }

    private mutating func array(depth: Int) throws -> JSONValue {
        guard depth <= Self.maxDepth else { throw error("nested deeper than \(Self.maxDepth) levels") }
        p += 1
        var items: [JSONValue] = []
        skipSpace()
        if p < end && p.pointee == UInt8(ascii: "]") { p += 1; return .array(items) }
        while true {
            skipSpace()
            items.append(try value(depth: depth))
            skipSpace()
            guard p < end else { throw error("unexpected end of line in a list") }
            if p.pointee == UInt8(ascii: ",") { p += 1; continue }
            if p.pointee == UInt8(ascii: "]") { p += 1; return .array(items) }
            throw error("expected ',' or ']'")
        }
    }

    /// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    private mutating func number() throws -> String {
        let first = p
        if p.pointee == UInt8(ascii: "-") { p += 1 }
        guard p < end, isDigit(p.pointee) else { throw error("a number needs digits") }
        if p.pointee == UInt8(ascii: "0") { p += 1 } else { while p < end && isDigit(p.pointee) { p += 1 } }
        if p < end && p.pointee == UInt8(ascii: ".") {
            p += 1
            guard p < end, isDigit(p.pointee) else { throw error("a number needs digits after '.'") }
            while p < end && isDigit(p.pointee) { p += 1 }
        }
        if p < end && (p.pointee == UInt8(ascii: "e") || p.pointee == UInt8(ascii: "E")) {
            p += 1
            if p < end && (p.pointee == UInt8(ascii: "+") || p.pointee == UInt8(ascii: "-")) { p += 1 }
            guard p < end, isDigit(p.pointee) else { throw error("a number needs digits in its exponent") }
            while p < end && isDigit(p.pointee) { p += 1 }
        }
        return String(decoding: UnsafeBufferPointer(start: first, count: p - first), as: UTF8.self)
    }

    private func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private mutating func string() throws -> String {
        p += 1
        let first = p
        // Fast path: no escapes.
        while p < end && p.pointee != UInt8(ascii: "\"") && p.pointee != UInt8(ascii: "\\") && p.pointee >= 0x20 { p += 1 }
        if p < end && p.pointee == UInt8(ascii: "\"") {
            let raw = UnsafeBufferPointer(start: first, count: p - first)
            guard let text = String(validating: raw, as: UTF8.self) else {
                p = first
                throw error("a string that is not valid UTF-8")
            }
            p += 1
            return text
        }
        var bytes = [UInt8](UnsafeBufferPointer(start: first, count: p - first))
        while true {
            guard p < end else { throw error("a string without its closing quote") }
            let c = p.pointee
            if c == UInt8(ascii: "\"") { p += 1; break }
            if c < 0x20 { throw error("a control character inside a string (escape it)") }
            if c != UInt8(ascii: "\\") { bytes.append(c); p += 1; continue }
            p += 1
            guard p < end else { throw error("a string without its closing quote") }
            let e = p.pointee
            p += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): bytes.append(e)
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800 ..< 0xDC00).contains(scalar) {
                    guard end - p >= 6, p[0] == UInt8(ascii: "\\"), p[1] == UInt8(ascii: "u") else { throw error("a lone UTF-16 surrogate") }
                    p += 2
                    let low = try hex4()
                    guard (0xDC00 ..< 0xE000).contains(low) else { throw error("a lone UTF-16 surrogate") }
                    scalar = 0x10000 + (scalar - 0xD800) << 10 + (low - 0xDC00)
                } else if (0xDC00 ..< 0xE000).contains(scalar) {
                    throw error("a lone UTF-16 surrogate")
                }
                bytes.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
            default:
                p -= 1
                throw error("an unknown escape \\\(printable(e))")
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw error("a string that is not valid UTF-8") }
        return text
    }

    private mutating func hex4() throws -> UInt32 {
        guard end - p >= 4 else { throw error("\\u needs 4 hex digits") }
        var value: UInt32 = 0
        for _ in 0 ..< 4 {
            let c = p.pointee
            let digit: UInt32
            switch c {
            case UInt8(ascii: "0") ... UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a") ... UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A") ... UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("\\u needs 4 hex digits")
            }
            value = value << 4 | digit
            p += 1
        }
        return value
    }

    private func printable(_ c: UInt8) -> String {
        c >= 0x21 && c < 0x7F ? "'\(Character(Unicode.Scalar(c)))'" : String(format: "0x%02X", c)
    }
}
