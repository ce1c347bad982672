// Kimi-VL's chat template (specs/kimi_vl.md §6) and the prompt expansion of images into `<|media_pad|>` × N
// (§4). The strings live in Prompts/kimi_vl_chat.json (format documented in its `_doc` field), read at run time.
import Foundation
import PrismIO

public enum ChatRole: String, Sendable, CaseIterable, Codable {
    case system, user, assistant
}

/// One part of a message: text, or an image whose pixels travel separately (in conversation order).
public enum ChatContent: Equatable, Sendable {
    case text(String)
    case image
}

public struct ChatMessage: Equatable, Sendable {
    public var role: ChatRole
    public var content: [ChatContent]

    public init(role: ChatRole, content: [ChatContent]) {
        self.role = role
        self.content = content
    }

    public init(role: ChatRole, text: String) {
        self.init(role: role, content: [.text(text)])
    }

    public static func system(_ text: String) -> ChatMessage { ChatMessage(role: .system, text: text) }
    public static func user(_ content: ChatContent...) -> ChatMessage { ChatMessage(role: .user, content: content) }
    public static func user(_ text: String) -> ChatMessage { ChatMessage(role: .user, text: text) }
    public static func assistant(_ text: String) -> ChatMessage { ChatMessage(role: .assistant, text: text) }

    public var imageCount: Int { content.filter { $0 == .image }.count }
}

public struct ChatTemplate: Sendable, Equatable {
    public struct Turn: Sendable, Equatable, Decodable {
        public let prefix: String
        public let suffix: String
    }

    /// The system prompt prepended when a conversation does not start with a system turn (nil: none).
    public let defaultSystemPrompt: String?
    public let roles: [ChatRole: Turn]
    /// The text an image part renders to; contains `mediaPad` once.
    public let image: String
    public let mediaPad: String
    public let generationPrompt: String
    /// Special-token names that end generation.
    public let stopTokens: [String]
    /// Where it was read from, for error messages.
    public let path: String

    public static let defaultFileName = "kimi_vl_chat.json"

    private struct File: Decodable {
        let defaultSystemPrompt: String?
        let roles: [String: Turn]
        let image: String
        let mediaPad: String
        let generationPrompt: String
        let stopTokens: [String]?
        enum CodingKeys: String, CodingKey {
            case defaultSystemPrompt = "default_system_prompt", roles, image, mediaPad = "media_pad"
            case generationPrompt = "generation_prompt", stopTokens = "stop_tokens"
        }
    }

    public init(contentsOf url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw TokenizerError.templateNotFound(path: url.path)
        }
        let file = try JSONConfig.load(File.self, from: url)
        var roles: [ChatRole: Turn] = [:]
        for (name, turn) in file.roles {
            guard let role = ChatRole(rawValue: name) else {
                throw TokenizerError.invalidTemplate(path: url.path, reason: "unknown role \(quoted(name)) in roles")
            }
            roles[role] = turn
        }
        for role in ChatRole.allCases where roles[role] == nil {
            throw TokenizerError.invalidTemplate(path: url.path, reason: "roles has no '\(role.rawValue)'")
        }
        guard !file.mediaPad.isEmpty, file.image.components(separatedBy: file.mediaPad).count == 2 else {
            throw TokenizerError.invalidTemplate(path: url.path, reason: "image must contain media_pad \(quoted(file.mediaPad)) exactly once")
        }
        defaultSystemPrompt = file.defaultSystemPrompt
        self.roles = roles
        image = file.image
        mediaPad = file.mediaPad
        generationPrompt = file.generationPrompt
        stopTokens = file.stopTokens ?? []
        path = url.path
    }

    /// Loads the template found by `locate`.
    public static func load(_ name: String = defaultFileName, explicit: URL? = nil) throws -> ChatTemplate {
        try ChatTemplate(contentsOf: locate(name, explicit: explicit))
    }

    /// Finds a template: `explicit` (a file, or a folder holding `name`) when given; otherwise `Prompts/<name>` in
    /// the nearest folder above each of `searchFrom` (default: the current directory, then the executable's).
    public static func locate(_ name: String = defaultFileName, explicit: URL? = nil,
                              searchFrom: [URL]? = nil) throws -> URL {
        let fm = FileManager.default
        if let explicit {
            var isDirectory: ObjCBool = false
            let exists = fm.fileExists(atPath: explicit.path, isDirectory: &isDirectory)
            let url = exists && isDirectory.boolValue ? explicit.appendingPathComponent(name) : explicit
            guard fm.fileExists(atPath: url.path) else { throw TokenizerError.templateNotFound(path: url.path) }
            return url
        }
        let starts = searchFrom ?? ProjectPaths.searchRoots
        if let url = ProjectPaths.locate("Prompts/\(name)", from: starts) { return url }
        throw TokenizerError.templateNotFoundInSearch(name: name, searched: starts.map(\.path))
    }

    // MARK: - Rendering

    /// A rendered conversation as runs: template text (special-token names meant), message text, image pads.
    private enum Run {
        case template(String)
        case text(String)
        case pad(image: Int)
    }

    private func runs(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> [Run] {
        var out: [Run] = []
        var images = 0
        func turn(_ role: ChatRole, _ content: [ChatContent]) {
            let t = roles[role]!
            out.append(.template(t.prefix))
            for part in content {
                switch part {
                case let .text(s):
                    out.append(.text(s))
                case .image:
                    let halves = image.components(separatedBy: mediaPad)
                    out.append(.template(halves[0]))
                    out.append(.pad(image: images))
                    out.append(.template(halves[1]))
                    images += 1
                }
            }
            out.append(.template(t.suffix))
        }
        // as the HF template: a default system turn only before a non-empty conversation not starting with one
        if let first = messages.first, first.role != .system, let system = defaultSystemPrompt {
            turn(.system, [.text(system)])
        }
        for m in messages { turn(m.role, m.content) }
        if addGenerationPrompt { out.append(.template(generationPrompt)) }
        return out
    }

    /// The prompt text exactly as the reference chat template renders it (one `<|media_pad|>` per image).
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        runs(messages, addGenerationPrompt: addGenerationPrompt).map {
            switch $0 {
            case let .template(s), let .text(s): s
            case .pad: mediaPad
            }
        }.joined()
    }

    /// Token ids of the rendered conversation with the k-th image's `<|media_pad|>` repeated `imageTokenCounts[k]`
    /// times. Template strings are encoded with special tokens; message text only with `specialTokensInText`
    /// (off: a user typing "<|im_end|>" gets plain text). With it on, the ids equal
    /// `tokenizer.encode(render(...))` after the processor's pad expansion.
    public func tokenize(_ messages: [ChatMessage], imageTokenCounts: [Int], addGenerationPrompt: Bool = true,
                         tokenizer: TikTokenizer, specialTokensInText: Bool = false) throws -> [Int] {
        let images = messages.reduce(0) { $0 + $1.imageCount }
        guard images == imageTokenCounts.count else {
            throw TokenizerError.imageCountMismatch(images: images, tokenCounts: imageTokenCounts.count)
        }
        if let k = imageTokenCounts.firstIndex(where: { $0 < 1 }) {
            throw TokenizerError.invalidImageTokenCount(image: k, count: imageTokenCounts[k])
        }
        guard let padID = tokenizer.specialTokenID(mediaPad) else {
            throw TokenizerError.invalidTemplate(path: path, reason: "media_pad \(quoted(mediaPad)) is not a special token of the tokenizer "
                                                 + "(\(tokenizer.configPath) with \(tokenizer.modelPath))")
        }
        var ids: [Int] = []
        var text = ""   // ordinary text not yet encoded: runs of it are encoded whole, as in the rendered string
        func flush() {
            if !text.isEmpty { tokenizer.encodeOrdinary(text, into: &ids) }
            text = ""
        }
        func addWithSpecials(_ s: String) {
            for segment in tokenizer.segments(s) {
                switch segment {
                case let .text(t): text += t
                case let .special(id): flush(); ids.append(id)
                }
            }
        }
        for run in runs(messages, addGenerationPrompt: addGenerationPrompt) {
            switch run {
            case let .template(s): addWithSpecials(s)
            case let .text(s): if specialTokensInText { addWithSpecials(s) } else { text += s }
            case let .pad(k):
                flush()
                ids.append(contentsOf: repeatElement(padID, count: imageTokenCounts[k]))
            }
        }
        flush()
        return ids
    }

    /// Ids of `stopTokens` known to the tokenizer.
    public func stopTokenIDs(_ tokenizer: TikTokenizer) -> [Int] {
        stopTokens.compactMap { tokenizer.specialTokenID($0) }
    }
}
