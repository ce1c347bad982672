import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// HTTP/1.1 over a plain loopback socket, so tests see exactly what the server sends (status, headers, chunked
/// framing) and can drop the connection in the middle of a stream.
final class RawHTTP {
    let fd: Int32
    let path: String
    let hostHeader: String
    private var buffer: [UInt8] = []

    struct Failure: Error, CustomStringConvertible { let description: String }

    init(url: String) throws {
        guard let u = URL(string: url), let port = u.port else { throw Failure(description: "bad URL \(url)") }
        path = u.path.isEmpty ? "/" : u.path + (u.query.map { "?" + $0 } ?? "")
        hostHeader = "127.0.0.1:\(port)"
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0 else { Glibc.close(fd); throw Failure(description: "connect to \(hostHeader) failed (errno \(errno))") }
    }

    func send(method: String, body: Data?, headers: [String: String]) throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nConnection: close\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if let body {
            if headers["Content-Type"] == nil { head += "Content-Type: application/json\r\n" }
            head += "Content-Length: \(body.count)\r\n"
        }
        head += "\r\n"
        try write(Array(head.utf8) + (body.map { [UInt8]($0) } ?? []))
    }

    func write(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(description: "send failed (errno \(errno))") }
            sent += n
        }
    }

    /// Reads more bytes into the buffer; false at end of stream.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 { throw Failure(description: "recv failed (errno \(errno))") }
        if n == 0 { return false }
        buffer += chunk[0..<n]
        return true
    }

    private func line() throws -> String {
        while true {
            if let i = buffer.firstIndex(of: 10) {
                let l = String(decoding: buffer[..<i], as: UTF8.self).trimmingCharacters(in: .init(charactersIn: "\r"))
                buffer.removeFirst(i + 1)
                return l
            }
            guard try fill() else { throw Failure(description: "connection closed inside a line") }
        }
    }

    private func bytes(_ n: Int) throws -> [UInt8] {
        while buffer.count < n { guard try fill() else { throw Failure(description: "connection closed inside a body") } }
        let out = Array(buffer[..<n])
        buffer.removeFirst(n)
        return out
    }

    /// Status line and headers.
    func readHead() throws -> (status: Int, headers: [String: String]) {
        let status = try line().split(separator: " ")
        guard status.count >= 2, let code = Int(status[1]) else { throw Failure(description: "bad status line") }
        var headers: [String: String] = [:]
        while true {
            let l = try line()
            if l.isEmpty { break }
            if let c = l.firstIndex(of: ":") {
                headers[l[..<c].lowercased()] = l[l.index(after: c)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return (code, headers)
    }

    /// The next piece of a chunked body (nil after the last chunk).
    func readChunk() throws -> [UInt8]? {
        guard let size = Int(try line().split(separator: ";")[0], radix: 16) else { throw Failure(description: "bad chunk size") }
        if size == 0 { _ = try? line(); return nil }
        let data = try bytes(size)
        _ = try line()
        return data
    }

    /// The rest of a chunked body.
    func readRest() throws -> [UInt8] {
        var rest: [UInt8] = []
        while let c = try readChunk() { rest += c }
        return rest
    }

    func readResponse() throws -> HTTPResult {
        let (status, headers) = try readHead()
        var body: [UInt8] = []
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            body = try readRest()
        } else if let n = headers["content-length"].flatMap({ Int($0) }) {
            body = try bytes(n)
        } else {
            while try fill() {}
            body = buffer
        }
        return HTTPResult(status: status, headers: headers, body: Data(body))
    }

    func close() { Glibc.close(fd) }
}
