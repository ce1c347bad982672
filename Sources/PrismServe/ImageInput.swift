// Image references in requests → encoded bytes: `data:image/…;base64,…`, an http(s) URL fetched with a size
// and time limit, or (only with --allow-local-files) a local path or file:// URL. Every failure is a 400 that
// names the parameter; the dimensions are read from the header before anything is decoded.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PrismIO

public struct ImageLimits: Sendable {
    /// Largest encoded image accepted (data URI, download or file).
    public var maxBytes: Int
    /// Largest decoded image, width × height (a small PNG can claim a huge size).
    public var maxPixels: Int
    /// Whole download of an http(s) image, connect to last byte.
    public var fetchTimeout: Double
    public var allowLocalFiles: Bool
    /// Whether http(s) image URLs are downloaded (off: only data URIs, and local files when allowed).
    public var allowURLs = true

    public init(maxBytes: Int = 10 << 20, maxPixels: Int = 40_000_000, fetchTimeout: Double = 10, allowLocalFiles: Bool = false) {
        self.maxBytes = maxBytes; self.maxPixels = maxPixels; self.fetchTimeout = fetchTimeout; self.allowLocalFiles = allowLocalFiles
    }
}

struct ImageLoader: Sendable {
    let limits: ImageLimits

    /// The encoded bytes `reference` names, checked to be a JPEG or PNG within the limits.
    func load(_ reference: String, param: String) async throws -> Data {
        let data: Data
        if reference.hasPrefix("data:") {
            data = try decodeDataURI(reference, param: param)
        } else if let url = URL(string: reference), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" {
            guard limits.allowURLs else {
                throw APIError.invalid("Image URLs are disabled on this server (started with --no-image-urls); send a data:image/…;base64 URI.",
                                       param: param, code: "image_urls_disabled")
            }
            data = try await fetch(url, param: param)
        } else if reference.hasPrefix("file://") || reference.hasPrefix("/") {
            guard limits.allowLocalFiles else {
                throw APIError.invalid("Local image paths are disabled on this server (start it with --allow-local-files).",
                                       param: param, code: "local_files_disabled")
            }
            let path = reference.hasPrefix("file://") ? (URL(string: reference)?.path ?? "") : reference
            let attributes = try? FileManager.default.attributesOfItem(atPath: path)
            guard let size = attributes?[.size] as? Int, let d = FileManager.default.contents(atPath: path) else {
                throw APIError.invalid("\(path): cannot read the image file.", param: param, code: "invalid_image")
            }
            guard size <= limits.maxBytes else { throw tooBig(size, param) }
            data = d
        } else {
            throw APIError.invalid("Unsupported image reference: use a data:image/…;base64 URI or an http(s) URL.",
                                   param: param, code: "invalid_image_url")
        }
        try check(data, param: param)
        return data
    }

    func decodeDataURI(_ uri: String, param: String) throws -> Data {
        guard let comma = uri.firstIndex(of: ",") else {
            throw APIError.invalid("Malformed data URI: no ',' before the data.", param: param, code: "invalid_image_url")
        }
        let header = uri[uri.index(uri.startIndex, offsetBy: 5)..<comma].lowercased()
        guard header.hasPrefix("image/"), header.hasSuffix(";base64") else {
            throw APIError.invalid("Data URIs must be 'data:image/<type>;base64,…'.", param: param, code: "invalid_image_url")
        }
        let payload = uri[uri.index(after: comma)...]
        // base64 grows data by 4/3: refuse before decoding what would exceed the limit
        guard payload.utf8.count / 4 * 3 <= limits.maxBytes + 3 else { throw tooBig(payload.utf8.count / 4 * 3, param) }
        guard let data = Data(base64Encoded: String(payload), options: .ignoreUnknownCharacters) else {
            throw APIError.invalid("The data URI's base64 payload is invalid.", param: param, code: "invalid_image")
        }
        guard data.count <= limits.maxBytes else { throw tooBig(data.count, param) }
        return data
    }

    func fetch(_ url: URL, param: String) async throws -> Data {
        let seconds = limits.fetchTimeout
        do {
            return try await Download(url: url, limit: limits.maxBytes, seconds: seconds).run()
        } catch Download.Failure.tooLarge(let bytes) {
            throw tooBig(bytes, param)
        } catch Download.Failure.status(let code) {
            throw APIError.invalid("Fetching \(url.absoluteString) answered HTTP \(code).", param: param, code: "image_fetch_failed")
        } catch Download.Failure.timedOut {
            throw APIError.invalid(String(format: "Fetching %@ took longer than %.0f s.", url.absoluteString, seconds),
                                   param: param, code: "image_fetch_timeout")
        } catch {
            throw APIError.invalid("Fetching \(url.absoluteString) failed: \(error.localizedDescription)", param: param, code: "image_fetch_failed")
        }
    }

    func tooBig(_ bytes: Int, _ param: String) -> APIError {
        APIError.invalid("The image is \(bytes) bytes; this server accepts at most \(limits.maxBytes).", param: param, code: "image_too_large")
    }

    /// JPEG or PNG by magic bytes, and a pixel count within the limit, before any decoding.
    func check(_ data: Data, param: String) throws {
        guard RGBImage.sniff(data) != nil else {
            throw APIError.invalid("The image is not a JPEG or PNG.", param: param, code: "invalid_image")
        }
        if let (w, h) = imageDimensions(data), w * h > limits.maxPixels {
            throw APIError.invalid("The image is \(w)×\(h) pixels; this server accepts at most \(limits.maxPixels).",
                                   param: param, code: "image_too_large")
        }
    }
}

/// Width and height from a PNG IHDR or a JPEG start-of-frame header (nil when neither is found).
func imageDimensions(_ data: Data) -> (Int, Int)? {
    let b = [UInt8](data.prefix(1 << 16))
    func be16(_ i: Int) -> Int { Int(b[i]) << 8 | Int(b[i + 1]) }
    if RGBImage.sniff(b) == .png {
        guard b.count >= 24 else { return nil }
        return (be16(16) << 16 | be16(18), be16(20) << 16 | be16(22))
    }
    // JPEG: walk the marker segments to the first SOFn (C0–CF except C4 DHT, C8 JPG, CC DAC)
    var i = 2
    while i + 9 < b.count {
        guard b[i] == 0xFF else { return nil }
        let marker = b[i + 1]
        if marker == 0xFF { i += 1; continue }
        if (0xC0...0xCF).contains(marker) && ![0xC4, 0xC8, 0xCC].contains(marker) { return (be16(i + 7), be16(i + 5)) }
        i += 2 + be16(i + 2)
    }
    return nil
}

/// One GET through URLSession that gives up past `limit` bytes (Content-Length or bytes received) or `seconds`.
final class Download: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    enum Failure: Error { case tooLarge(Int), status(Int), timedOut }
    let url: URL, limit: Int, seconds: Double
    private let lock = NSLock()
    private var data = Data()
    private var failure: Failure?
    private var continuation: CheckedContinuation<Data, any Error>?

    init(url: URL, limit: Int, seconds: Double) { self.url = url; self.limit = limit; self.seconds = seconds }

    func run() async throws -> Data {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = seconds
        configuration.timeoutIntervalForResource = seconds
        let session = URLSession(configuration: configuration, delegate: self, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        return try await withCheckedThrowingContinuation { c in
            lock.lock(); continuation = c; lock.unlock()
            session.dataTask(with: url).resume()
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        let status = (response as? HTTPURLResponse)?.statusCode ?? 200
        if status != 200 {
            fail(.status(status)); completionHandler(.cancel)
        } else if response.expectedContentLength > Int64(limit) {
            fail(.tooLarge(Int(response.expectedContentLength))); completionHandler(.cancel)
        } else {
            completionHandler(.allow)
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive chunk: Data) {
        lock.lock()
        data.append(chunk)
        let over = data.count > limit
        lock.unlock()
        if over { fail(.tooLarge(limit + 1)); dataTask.cancel() }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        lock.lock()
        let c = continuation
        continuation = nil
        let result: Result<Data, any Error>
        if let failure { result = .failure(failure) } else if let e = error as? URLError, e.code == .timedOut {
            result = .failure(Failure.timedOut)
        } else if let error { result = .failure(error) } else { result = .success(data) }
        lock.unlock()
        c?.resume(with: result)
    }

    private func fail(_ f: Failure) { lock.lock(); if failure == nil { failure = f }; lock.unlock() }
}

struct DeadlineExceeded: Error {}

/// Runs `operation`, cancelling it and throwing `DeadlineExceeded` after `seconds`.
func withDeadline<T: Sendable>(_ seconds: Double, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            throw DeadlineExceeded()
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
