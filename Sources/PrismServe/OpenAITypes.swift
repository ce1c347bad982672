// The OpenAI chat-completions schema, the parts Prism serves (field names as in the API reference):
// requests decode strictly by type, unknown fields are ignored as OpenAI's own server does.
import Foundation

// MARK: - Request

public struct ChatCompletionRequest: Decodable, Sendable {
    public var model: String?
    public var messages: [ChatMessageIn]
    public var maxTokens: Int?
    public var maxCompletionTokens: Int?
    public var temperature: Double?
    public var topP: Double?
    /// Not in OpenAI's schema; llama-server and vLLM take it.
    public var topK: Int?
    public var seed: Int64?
    public var stop: StopSequences?
    public var stream: Bool?
    public var streamOptions: StreamOptions?
    public var n: Int?
    /// Not in OpenAI's schema (vLLM's name): generate to max_tokens even past the model's end token (benchmarks).
    public var ignoreEos: Bool?

    enum CodingKeys: String, CodingKey {
        case model, messages, temperature, seed, stop, stream, n
        case maxTokens = "max_tokens", maxCompletionTokens = "max_completion_tokens", topP = "top_p", topK = "top_k"
        case streamOptions = "stream_options", ignoreEos = "ignore_eos"
    }

    public struct StreamOptions: Decodable, Sendable {
        public var includeUsage: Bool?
        enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
    }
}

/// `stop`: one string or a list of them.
public struct StopSequences: Decodable, Sendable {
    public var values: [String]
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let one = try? c.decode(String.self) { values = [one] } else { values = try c.decode([String].self) }
    }
}

public struct ChatMessageIn: Decodable, Sendable {
    public enum Role: String, Decodable, Sendable { case system, developer, user, assistant }
    public var role: Role
    public var content: [ContentPart]

    enum CodingKeys: String, CodingKey { case role, content }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        role = try c.decode(Role.self, forKey: .role)
        if try c.decodeNil(forKey: .content) {
            content = []
        } else if let text = try? c.decode(String.self, forKey: .content) {
            content = [.text(text)]
        } else {
            content = try c.decode([ContentPart].self, forKey: .content)
        }
    }
}

/// `{"type": "text", "text": …}` or `{"type": "image_url", "image_url": {"url": …}}` (a bare URL string too).
public enum ContentPart: Decodable, Sendable, Equatable {
    case text(String)
    case imageURL(String)

    enum CodingKeys: String, CodingKey { case type, text, imageURL = "image_url" }
    enum URLKeys: String, CodingKey { case url }
    enum Kind: String, Decodable { case text, imageURL = "image_url" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        switch try c.decode(Kind.self, forKey: .type) {
        case .text:
            self = .text(try c.decode(String.self, forKey: .text))
        case .imageURL:
            if let url = try? c.decode(String.self, forKey: .imageURL) {
                self = .imageURL(url)
            } else {
                self = .imageURL(try c.nestedContainer(keyedBy: URLKeys.self, forKey: .imageURL).decode(String.self, forKey: .url))
            }
        }
    }
}

// MARK: - Response

public struct Usage: Codable, Sendable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int
    public var totalTokens: Int
    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens"
    }
    public init(prompt: Int, completion: Int) { promptTokens = prompt; completionTokens = completion; totalTokens = prompt + completion }
}

public struct AssistantMessage: Codable, Sendable {
    public var role = "assistant"
    public var content: String
}

public struct ChatCompletion: Codable, Sendable {
    public struct Choice: Codable, Sendable {
        public var index: Int
        public var message: AssistantMessage
        public var finishReason: String
        enum CodingKeys: String, CodingKey { case index, message, finishReason = "finish_reason" }
    }
    public var id: String
    public var object = "chat.completion"
    public var created: Int
    public var model: String
    public var choices: [Choice]
    public var usage: Usage
}

public struct ChatCompletionChunk: Codable, Sendable {
    public struct Delta: Codable, Sendable {
        public var role: String?
        public var content: String?
    }
    public struct Choice: Codable, Sendable {
        public var index: Int
        public var delta: Delta
        /// Encoded as null until the last chunk (the key is always present, as OpenAI sends it).
        public var finishReason: String?
        enum CodingKeys: String, CodingKey { case index, delta, finishReason = "finish_reason" }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(delta, forKey: .delta)
            try c.encode(finishReason, forKey: .finishReason)
        }
    }
    public var id: String
    public var object = "chat.completion.chunk"
    public var created: Int
    public var model: String
    public var choices: [Choice]
    public var usage: Usage?
}

public struct ModelList: Codable, Sendable {
    public struct Model: Codable, Sendable {
        public var id: String
        public var object = "model"
        public var created: Int
        public var ownedBy = "prism"
        enum CodingKeys: String, CodingKey { case id, object, created, ownedBy = "owned_by" }
    }
    public var object = "list"
    public var data: [Model]
}
