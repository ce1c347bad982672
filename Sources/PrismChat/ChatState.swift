import Foundation
import PrismIO

/// Sampling settings a user can change with `/set` (mirrors the CLI flags).
public struct ChatSettings: Codable, Equatable, Sendable {
    public var temperature: Double = 0.2
    public var topP: Double = 1.0
    public var topK: Int = 0
    public var seed: UInt64 = 0
    public var maxTokens: Int = 512

    public init() {}

    enum CodingKeys: String, CodingKey {
        case temperature = "temp", topP = "top_p", topK = "top_k", seed, maxTokens = "max_tokens"
    }

    public enum Key: String, CaseIterable, Sendable {
        case temp, top_p, top_k, seed, max_tokens

        /// Parses and range-checks a value for this key.
        public func validate(_ s: String) throws -> Double {
            guard let v = Double(s) else {
                throw ReplError.invalidValue(key: rawValue, value: s, expected: self == .temp || self == .top_p ? "a number" : "an integer")
            }
            return try validate(v, text: s)
        }

        /// Range-checks a value (typed with `/set`, or read from a transcript); `text` is how it was written.
        public func validate(_ v: Double, text s: String) throws -> Double {
            func bad(_ expected: String) -> ReplError { .invalidValue(key: rawValue, value: s, expected: expected) }
            guard v.isFinite else { throw bad(self == .temp || self == .top_p ? "a number" : "an integer") }
            switch self {
            case .temp: guard v >= 0 && v <= 5 else { throw bad("a number in 0…5") }
            case .top_p: guard v > 0 && v <= 1 else { throw bad("a number in (0, 1]") }
            // top_k beyond any vocabulary means "off" just as well; seeds stay where a Double holds them exactly
            // (2^53), so the seed used is the one typed (the fuzz target found 2^63 crashing the echo)
            case .top_k: guard v >= 0 && v == v.rounded() && v <= 1e9 else { throw bad("an integer in 0…1000000000 (0 = off)") }
            case .seed: guard v >= 0 && v == v.rounded() && v <= 9_007_199_254_740_992 else { throw bad("an integer in 0…2^53") }
            case .max_tokens: guard v >= 1 && v == v.rounded() && v <= 1_000_000 else { throw bad("an integer ≥ 1") }
            }
            return v
        }
    }

    /// Decodes a transcript's settings with the same checks as `/set` (absent keys keep their defaults).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        for key in Key.allCases {
            let codingKey = CodingKeys(rawValue: key.rawValue)!
            // seed is a UInt64 on disk; every other value is a JSON number
            let value: Double?
            if key == .seed, let s = try? c.decodeIfPresent(UInt64.self, forKey: codingKey) {
                seed = s
                continue
            } else {
                value = try c.decodeIfPresent(Double.self, forKey: codingKey)
            }
            guard let value else { continue }
            let text = value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
            set(key, try key.validate(value, text: text))
        }
    }

    public mutating func set(_ key: Key, _ v: Double) {
        switch key {
        case .temp: temperature = v
        case .top_p: topP = v
        case .top_k: topK = Int(v)
        case .seed: seed = UInt64(v)
        case .max_tokens: maxTokens = Int(v)
        }
    }
}

/// One turn of the conversation; images are kept by path (the transcript stays small and portable).
public struct ChatTurn: Codable, Equatable, Sendable {
    public enum Role: String, Codable, Sendable { case user, assistant }
    public var role: Role
    public var text: String
    public var images: [String]

    public init(role: Role, text: String, images: [String] = []) {
        self.role = role; self.text = text; self.images = images
    }
}

/// The whole REPL state: a value, so commands are pure transformations that tests can check.
public struct ChatState: Codable, Equatable, Sendable {
    public var system: String?
    public var turns: [ChatTurn] = []
    public var pendingImages: [String] = []
    public var settings = ChatSettings()

    public init(system: String? = nil, settings: ChatSettings = ChatSettings()) {
        self.system = system; self.settings = settings
    }

    enum CodingKeys: String, CodingKey { case system, turns, settings }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        system = try c.decodeIfPresent(String.self, forKey: .system)
        turns = try c.decodeIfPresent([ChatTurn].self, forKey: .turns) ?? []
        settings = try c.decodeIfPresent(ChatSettings.self, forKey: .settings) ?? ChatSettings()
    }

    /// The image most recently attached or sent (what `/segment` works on).
    public var lastImage: String? { pendingImages.last ?? turns.last { !$0.images.isEmpty }?.images.last }

    /// Every image in the conversation, in order of appearance.
    public var allImages: [String] { turns.flatMap(\.images) }

    /// Starts a user turn with the pending images.
    public mutating func addUserTurn(_ text: String) {
        turns.append(ChatTurn(role: .user, text: text, images: pendingImages))
        pendingImages = []
    }

    public mutating func addAssistantTurn(_ text: String) { turns.append(ChatTurn(role: .assistant, text: text)) }

    /// Drops an unanswered user turn (e.g. after a failed generation), restoring its images as pending.
    public mutating func rollbackUserTurn() {
        guard let last = turns.last, last.role == .user else { return }
        turns.removeLast()
        pendingImages = last.images + pendingImages
    }

    public mutating func clear() { turns = []; pendingImages = [] }

    // MARK: - Transcript files

    public func transcriptData() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try enc.encode(self)
    }

    /// Reads a `/save` transcript; settings are checked like `/set`, so a hand-edited `"temp": -1` is an error
    /// naming the file and the key rather than a silently empty answer.
    public static func fromTranscript(_ data: Data, path: String) throws -> ChatState {
        do { return try JSONDecoder().decode(ChatState.self, from: data) } catch let e as ReplError {
            throw ReplError.invalidTranscript(path: path, reason: "settings: \(e)")
        } catch let e as DecodingError {
            throw JSONConfig.describe(e, path: path)
        } catch {
            throw ReplError.invalidTranscript(path: path, reason: "not a transcript written by /save")
        }
    }
}
