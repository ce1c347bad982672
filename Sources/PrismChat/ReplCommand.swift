import Foundation
import PrismSAM

/// One line of REPL input, parsed. Parsing is pure so every command is testable without a model.
public enum ReplCommand: Equatable, Sendable {
    case say(String)
    case image([String])
    case clear
    case system(String)
    case set(ChatSettings.Key, Double)
    case segment(points: [SamPoint], box: SamBox?)
    case segmentEverything
    case save(String)
    case load(String)
    case stats
    case help
    case quit
}

public enum ReplError: Error, Equatable, CustomStringConvertible {
    case unknownCommand(String)
    case usage(String)
    case invalidValue(key: String, value: String, expected: String)

    public var description: String {
        switch self {
        case let .unknownCommand(c): "unknown command \(c) (type /help for the list)"
        case let .usage(u): "usage: \(u)"
        case let .invalidValue(k, v, e): "invalid value '\(v)' for \(k): expected \(e)"
        }
    }
}

public enum ReplParser {
    public static let help = """
        /image PATH…          attach images to your next message (several allowed)
        /clear                forget the conversation (keeps the system prompt, settings and attached images)
        /system TEXT          set the system prompt (clears the conversation)
        /set KEY VALUE        temp, top_p, top_k, seed, max_tokens
        /segment X,Y[,1|0] [X,Y[,1|0]]… [box=X0,Y0,X1,Y1]
                              segment the last image from clicks (1 = on the object, 0 = not) and/or a box;
                              one click or a box alone returns the best of SAM's 3 masks, more prompts its single mask
        /segment everything   segment everything in the last image (COCO JSON + coloured overlay)
        /save FILE            save the transcript as JSON (images by path)
        /load FILE            load a transcript saved with /save
        /stats                show the last answer's token counts and speeds
        /help                 this list
        /quit                 exit (Ctrl-D also exits; Ctrl-C stops an answer)
        A line ending in \\ continues on the next line; \"\"\" starts and ends a multi-line block.
        """

    /// Every command name, for Tab completion.
    public static let commandNames = ["/clear", "/exit", "/help", "/image", "/load", "/quit", "/save", "/segment",
                                      "/set", "/stats", "/system"]

    /// nil for a blank line.
    public static func parse(_ line: String) throws -> ReplCommand? {
        let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return nil }
        guard trimmed.hasPrefix("/") else { return .say(trimmed) }
        let name = String(trimmed.prefix { !$0.isWhitespace })
        let rest = trimmed.dropFirst(name.count).trimmingCharacters(in: .whitespaces)
        switch name {
        case "/image":
            let paths = splitArguments(rest)
            guard !paths.isEmpty else { throw ReplError.usage("/image PATH…") }
            return .image(paths)
        case "/clear": return .clear
        case "/system":
            guard !rest.isEmpty else { throw ReplError.usage("/system TEXT") }
            return .system(rest)
        case "/set":
            let parts = rest.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard parts.count == 2 else { throw ReplError.usage("/set temp|top_p|top_k|seed|max_tokens VALUE") }
            guard let key = ChatSettings.Key(rawValue: parts[0]) else {
                throw ReplError.invalidValue(key: "/set", value: parts[0], expected: "one of temp, top_p, top_k, seed, max_tokens")
            }
            return .set(key, try key.validate(parts[1]))
        case "/segment":
            return try parseSegment(rest)
        case "/save", "/load":
            let p = splitArguments(rest)
            guard p.count == 1 else { throw ReplError.usage("\(name) FILE") }
            return name == "/save" ? .save(p[0]) : .load(p[0])
        case "/stats": return .stats
        case "/help", "/?": return .help
        case "/quit", "/exit": return .quit
        default: throw ReplError.unknownCommand(name)
        }
    }

    static let segmentUsage = "/segment X,Y[,1|0] [X,Y[,1|0]]… [box=X0,Y0,X1,Y1]  or  /segment everything"

    /// Clicks `X,Y[,1|0]` and at most one `box=X0,Y0,X1,Y1`, separated by spaces; or the word `everything`.
    static func parseSegment(_ rest: String) throws -> ReplCommand {
        // spaces around commas belong to one click or box ("10.5, 20, 0")
        let joined = rest.replacingOccurrences(of: #"\s*,\s*"#, with: ",", options: .regularExpression)
        let words = joined.split(whereSeparator: \.isWhitespace).map(String.init)
        if words == ["everything"] { return .segmentEverything }
        guard !words.isEmpty else { throw ReplError.usage(segmentUsage) }
        var points: [SamPoint] = [], box: SamBox?
        for w in words {
            if w.hasPrefix("box=") {
                guard box == nil else { throw ReplError.invalidValue(key: "/segment", value: w, expected: "at most one box=X0,Y0,X1,Y1") }
                box = try PromptSyntax.box(String(w.dropFirst(4)))
            } else if w.first.map({ $0.isNumber || $0 == "." || $0 == "-" }) == true {
                points.append(try PromptSyntax.point(w))
            } else {
                throw ReplError.usage(segmentUsage)
            }
        }
        return .segment(points: points, box: box)
    }

    /// Splits on spaces, honouring "double" and 'single' quotes and backslash escapes (paths with spaces).
    static func splitArguments(_ s: String) -> [String] {
        var out: [String] = [], cur = "", quote: Character? = nil, escaped = false, any = false
        for ch in s {
            if escaped { cur.append(ch); escaped = false; continue }
            if ch == "\\" { escaped = true; any = true; continue }
            if let q = quote { if ch == q { quote = nil } else { cur.append(ch) }; continue }
            if ch == "\"" || ch == "'" { quote = ch; any = true; continue }
            if ch.isWhitespace { if any || !cur.isEmpty { out.append(cur) }; cur = ""; any = false; continue }
            cur.append(ch)
        }
        if any || !cur.isEmpty { out.append(cur) }
        return out
    }
}

/// Joins physical lines into one logical input: a trailing backslash continues the line, and a line that is
/// exactly `"""` opens or closes a verbatim multi-line block.
public struct MultilineAssembler {
    private var buffer: [String] = []
    private var inBlock = false

    public init() {}

    /// True while more lines are needed (the caller shows a continuation prompt).
    public var isContinuing: Bool { inBlock || !buffer.isEmpty }

    /// Feeds one physical line; returns the logical line when complete.
    public mutating func feed(_ line: String) -> String? {
        if line.trimmingCharacters(in: .whitespaces) == "\"\"\"" {
            if inBlock {
                inBlock = false
                defer { buffer = [] }
                return buffer.joined(separator: "\n")
            }
            inBlock = true
            return nil
        }
        if inBlock { buffer.append(line); return nil }
        if line.hasSuffix("\\") { buffer.append(String(line.dropLast())); return nil }
        buffer.append(line)
        defer { buffer = [] }
        return buffer.joined(separator: "\n")
    }

    public mutating func reset() { buffer = []; inBlock = false }
}
