// The one error type of PrismData. Every case says where: file, record index, byte offset.
import Foundation

/// Where a record starts: the file, the 0-based record index and the byte offset of its header.
/// For compressed files the offset counts uncompressed bytes, as TensorFlow's reader does.
public struct RecordLocation: Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var record: Int
    public var offset: UInt64

    public init(file: String, record: Int, offset: UInt64) {
        self.file = file
        self.record = record
        self.offset = offset
    }

    public var description: String { "\(file): record \(record)" }
}

public enum TFRecordError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The masked CRC of the 8 length bytes does not match.
    case corruptedLength(RecordLocation)
    /// The masked CRC of the payload does not match.
    case corruptedData(RecordLocation)
    /// The file ends inside a 12-byte header (`available` bytes were left; 0 is a clean end, never an error).
    case truncatedHeader(RecordLocation, available: Int)
    /// The payload or its CRC runs past the end of the file.
    case truncatedPayload(RecordLocation, length: UInt64, available: UInt64)
    /// A length whose CRC checks but that is larger than `limit` (only reachable in compressed streams,
    /// where the end of file is unknown in advance).
    case recordTooLarge(RecordLocation, length: UInt64, limit: UInt64)
    /// The gzip / zlib stream ends before its trailer.
    case truncatedStream(RecordLocation, compression: TFRecordCompression)
    /// zlib reported an error ("inflate failed: incorrect header check").
    case compression(RecordLocation, function: String, message: String)
    /// The payload is not a valid tf.Example / tf.SequenceExample (location is nil outside a file).
    case invalidExample(RecordLocation?, reason: String)
    /// A system call failed on a file ("open failed: No such file or directory").
    case io(file: String, function: String, message: String)
    /// A conversion input (JSONL line, image folder entry) that cannot become a tf.Example; line is 1-based.
    case invalidInput(file: String, line: Int, message: String)

    public var location: RecordLocation? {
        switch self {
        case .corruptedLength(let l), .corruptedData(let l), .truncatedHeader(let l, _),
             .truncatedPayload(let l, _, _), .recordTooLarge(let l, _, _), .truncatedStream(let l, _),
             .compression(let l, _, _):
            return l
        case .invalidExample(let l, _): return l
        case .io, .invalidInput: return nil
        }
    }

    /// Short reason, without the location (used in skip reports).
    public var reason: String {
        switch self {
        case .corruptedLength(let l): return "corrupted record at \(l.offset) (length CRC mismatch)"
        case .corruptedData(let l): return "corrupted record at \(l.offset) (data CRC mismatch)"
        case .truncatedHeader(let l, let n): return "truncated record at \(l.offset) (\(n) of 12 header bytes)"
        case .truncatedPayload(let l, let length, let available):
            return "truncated record at \(l.offset) (length \(length), \(available) bytes left)"
        case .recordTooLarge(let l, let length, let limit):
            return "corrupted record at \(l.offset) (length \(length) exceeds limit \(limit))"
        case .truncatedStream(let l, let c): return "truncated record at \(l.offset) (\(c.rawValue) stream ends early)"
        case .compression(let l, let function, let message):
            return "corrupted record at \(l.offset) (\(function) failed: \(message))"
        case .invalidExample(let l, let why):
            return l.map { "invalid tf.Example at \($0.offset): \(why)" } ?? "invalid tf.Example: \(why)"
        case .io(_, let function, let message): return "\(function) failed: \(message)"
        case .invalidInput(_, _, let message): return message
        }
    }

    public var description: String {
        switch self {
        case .io(let file, _, _): return "\(reason) (\(file))"
        case .invalidInput(let file, let line, let message): return line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)"
        default: return location.map { "\($0): \(reason)" } ?? reason
        }
    }
}

/// `errno` rendered for `TFRecordError.io`.
func systemError(_ function: String, _ file: String, _ code: Int32 = errno) -> TFRecordError {
    .io(file: file, function: function, message: String(cString: strerror(code)))
}
