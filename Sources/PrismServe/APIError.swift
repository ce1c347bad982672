// Every failure a client can cause, as OpenAI reports it: an HTTP status and
// {"error": {"message", "type", "param", "code"}}. Handlers throw these; nothing a request sends reaches a trap.
import Foundation
import Hummingbird

public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?
    /// Seconds a client should wait before retrying (sent as Retry-After).
    public var retryAfter: Int?

    public init(_ status: HTTPResponse.Status, _ message: String, type: String = "invalid_request_error",
                param: String? = nil, code: String? = nil, retryAfter: Int? = nil) {
        self.status = status; self.message = message; self.type = type; self.param = param; self.code = code
        self.retryAfter = retryAfter
    }

    public var description: String { "\(status.code) \(type): \(message)" }

    public static func invalid(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(.badRequest, message, param: param, code: code)
    }
    public static func unauthorized() -> APIError {
        APIError(.unauthorized, "Incorrect or missing API key: send it as 'Authorization: Bearer KEY'.", code: "invalid_api_key")
    }
    public static func tooLarge(limit: Int) -> APIError {
        APIError(.contentTooLarge, "The request body exceeds the server's limit of \(limit) bytes.", code: "request_too_large")
    }
    public static func busy(retryAfter: Int) -> APIError {
        APIError(.tooManyRequests, "The server's queue is full; retry after \(retryAfter) s.", type: "rate_limit_error",
                 code: "queue_full", retryAfter: retryAfter)
    }
    public static func timeout(seconds: Double) -> APIError {
        APIError(.gatewayTimeout, String(format: "The request did not finish within the server's %.0f s limit.", seconds),
                 type: "timeout_error", code: "timeout")
    }
    public static func unavailable(_ message: String) -> APIError {
        APIError(.serviceUnavailable, message, type: "server_error", code: "unavailable")
    }
    public static func notFound(_ message: String, code: String? = nil) -> APIError {
        APIError(.notFound, message, code: code)
    }
    public static func server(_ message: String) -> APIError { APIError(.internalServerError, message, type: "server_error") }

    struct Body: Encodable {
        struct Inner: Encodable {
            let message: String, type: String, param: String?, code: String?
            func encode(to encoder: any Encoder) throws {
                // OpenAI sends param and code as null rather than leaving them out
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(message, forKey: .message); try c.encode(type, forKey: .type)
                try c.encode(param, forKey: .param); try c.encode(code, forKey: .code)
            }
            enum CodingKeys: String, CodingKey { case message, type, param, code }
        }
        let error: Inner
    }

    /// The JSON body, also used as an SSE `data:` payload when a stream fails.
    public var json: Data {
        (try? JSONEncoder().encode(Body(error: .init(message: message, type: type, param: param, code: code)))) ?? Data()
    }
}

extension APIError: HTTPResponseError {
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: json)))
    }
}

/// Names the JSON path of a decoding failure the way OpenAI's `param` does (`messages[0].content`).
func parameterPath(_ path: [any CodingKey]) -> String? {
    guard !path.isEmpty else { return nil }
    var out = ""
    for key in path {
        if let i = key.intValue { out += "[\(i)]" } else { out += out.isEmpty ? key.stringValue : ".\(key.stringValue)" }
    }
    return out
}

/// A DecodingError as a 400 that says which field and what was expected.
func apiError(decoding error: any Error) -> APIError {
    switch error {
    case DecodingError.dataCorrupted(let c) where c.codingPath.isEmpty:
        return .invalid("The request body is not valid JSON.", code: "invalid_json")
    case DecodingError.dataCorrupted(let c):
        return .invalid("Invalid value for '\(parameterPath(c.codingPath) ?? "")': \(c.debugDescription)", param: parameterPath(c.codingPath))
    case DecodingError.keyNotFound(let key, let c):
        let path = parameterPath(c.codingPath + [key])
        return .invalid("Missing required parameter: '\(path ?? key.stringValue)'.", param: path, code: "missing_required_parameter")
    case DecodingError.typeMismatch(let type, let c), DecodingError.valueNotFound(let type, let c):
        let path = parameterPath(c.codingPath)
        return .invalid("Invalid type for '\(path ?? "body")': expected \(jsonTypeName(type)).", param: path, code: "invalid_type")
    default:
        return .invalid("The request body could not be read: \(error)")
    }
}

private func jsonTypeName(_ t: Any.Type) -> String {
    switch t {
    case is String.Type: "a string"
    case is Bool.Type: "a boolean"
    case is Int.Type, is Int64.Type: "an integer"
    case is Double.Type, is Float.Type: "a number"
    case is [Any].Type: "an array"
    default: t is any Collection.Type ? "an array" : "an object"
    }
}
