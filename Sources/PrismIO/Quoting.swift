import Foundation

/// A name read from a file (tensor, key, shard, JSON column), quoted for a one-line error: control characters
/// escaped, and long names cut, so a corrupt or hostile file cannot break the message over lines or flood the
/// terminal. `quote` is `'` for names, `"` for JSON keys.
public func quoted(_ name: String, limit: Int = 120, quote: Character = "'") -> String {
    let q = String(quote)
    var out = q
    var count = 0
    for scalar in name.unicodeScalars {
        if count == limit { out += "…"; break }
        count += 1
        switch scalar.value {
        case 0x0A: out += "\\n"
        case 0x09: out += "\\t"
        case 0x0D: out += "\\r"
        case 0..<0x20, 0x7F, 0x80..<0xA0, 0x2028, 0x2029: out += "\\u{\(String(scalar.value, radix: 16))}"
        case 0x5C: out += "\\\\"
        case _ where Character(scalar) == quote: out += "\\" + q
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + q
}
