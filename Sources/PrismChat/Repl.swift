import Foundation
import PrismIO
import PrismSAM

/// What generating one answer cost, for the dim stats line and `/stats`.
public struct ReplyStats: Equatable, Sendable {
    public var promptTokens = 0        // tokens prefilled for this answer (new ones only, when the cache was reused)
    public var cachedTokens = 0        // tokens reused from the KV cache
    public var imageTokens = 0
    public var generatedTokens = 0
    public var prefillSeconds = 0.0
    public var decodeSeconds = 0.0
    public var interrupted = false
    /// The weights' storage, e.g. "Q4_K_M GGUF 10.52 GB" (empty: not shown).
    public var model = ""
    /// Why generation ended: a stop token, the max-tokens budget (the answer is cut short) or Ctrl-C.
    public var finishReason = FinishReason.stop
    public init() {}

    public enum FinishReason: String, Sendable { case stop, length, interrupted }

    public var summary: String {
        let pf = prefillSeconds > 0 ? Double(promptTokens) / prefillSeconds : 0
        let dc = decodeSeconds > 0 ? Double(generatedTokens) / decodeSeconds : 0
        return (model.isEmpty ? "" : model + " · ") + String(format: "prompt %d tok (%d cached, %d image) · prefill %.1f tok/s · decode %d tok at %.1f tok/s%@",
                      promptTokens, cachedTokens, imageTokens, pf, generatedTokens, dc,
                      interrupted ? " · stopped" : finishReason == .length ? " · cut at max tokens" : "")
    }
}

/// The model side of the REPL. Implementations keep their KV cache between calls and reuse the longest
/// common prefix of the conversation's tokens, so a follow-up question prefills only the new turn.
public protocol ChatEngine: AnyObject {
    /// Streams the assistant's reply to `state` (whose last turn is the user's) through `onText`;
    /// stops early when `shouldStop()` turns true.
    func reply(to state: ChatState, onText: (String) -> Void, shouldStop: () -> Bool) throws -> ReplyStats
}

public struct SegmentResult: Equatable, Sendable {
    public var overlayPath: String
    public var maskPath: String
    public var score: Float
    public var area: Int
    public init(overlayPath: String, maskPath: String, score: Float, area: Int) {
        self.overlayPath = overlayPath; self.maskPath = maskPath; self.score = score; self.area = area
    }
}

public struct EverythingResult: Equatable, Sendable {
    public var count: Int
    public var masksPath: String
    public var overlayPath: String
    public init(count: Int, masksPath: String, overlayPath: String) {
        self.count = count; self.masksPath = masksPath; self.overlayPath = overlayPath
    }
}

public protocol Segmenter: AnyObject {
    /// The mask SAM's click rule returns for clicks and/or a box (see SamPredictor.selectedMask).
    func segment(imagePath: String, points: [SamPoint], box: SamBox?) throws -> SegmentResult
    func segmentEverything(imagePath: String) throws -> EverythingResult
}

/// Where lines come from: libedit on a terminal, plain stdin otherwise, a script in tests. nil = end of input.
public protocol LineReader: AnyObject {
    func readLine(prompt: String) -> String?
}

/// The interactive loop. All I/O is injected, so tests drive it with scripted input and fake engines.
public final class Repl {
    public private(set) var state: ChatState
    public private(set) var lastStats: ReplyStats?
    private let engine: ChatEngine
    private let segmenter: Segmenter?
    private let reader: LineReader
    private let write: (String) -> Void
    private let checkImage: (String) throws -> Void
    private let shouldStop: () -> Bool
    private let styled: Bool
    /// Images attached at start (`--image`): /clear and /system keep them attached for the next message.
    private let startImages: [String]

    public init(state: ChatState, engine: ChatEngine, segmenter: Segmenter?, reader: LineReader,
                write: @escaping (String) -> Void, checkImage: @escaping (String) throws -> Void,
                shouldStop: @escaping () -> Bool = { false }, styled: Bool = false) {
        self.state = state; self.engine = engine; self.segmenter = segmenter; self.reader = reader
        self.write = write; self.checkImage = checkImage; self.shouldStop = shouldStop; self.styled = styled
        startImages = state.pendingImages
    }

    /// Forgets the conversation but keeps the start images and any not yet sent attached; says which.
    private func clearConversation(_ what: String) {
        var keep: [String] = []
        for p in startImages + state.pendingImages where !keep.contains(p) { keep.append(p) }
        state.clear()
        state.pendingImages = keep
        let names = keep.map { URL(fileURLWithPath: $0).lastPathComponent }.joined(separator: ", ")
        write(dim(keep.isEmpty ? what : "\(what); still attached for your next message: \(names)") + "\n")
    }

    private func dim(_ s: String) -> String { styled ? "\u{1B}[2m\(s)\u{1B}[0m" : s }
    private func error(_ s: String) { write((styled ? "\u{1B}[31merror:\u{1B}[0m " : "error: ") + s + "\n") }

    /// Runs until /quit or end of input.
    public func run() {
        var assembler = MultilineAssembler()
        while let line = reader.readLine(prompt: assembler.isContinuing ? "... " : ">>> ") {
            guard let logical = assembler.feed(line) else { continue }
            if !handle(logical) { return }
        }
        write("\n")
    }

    /// Handles one logical line; false means quit. Errors are reported on one line and leave the state intact.
    @discardableResult
    public func handle(_ line: String) -> Bool {
        do {
            guard let command = try ReplParser.parse(line) else { return true }
            return try apply(command)
        } catch {
            self.error("\(error)")
            return true
        }
    }

    private func apply(_ command: ReplCommand) throws -> Bool {
        switch command {
        case .quit:
            return false
        case .help:
            write(ReplParser.help + "\n")
        case .clear:
            clearConversation("conversation cleared")
        case let .system(text):
            state.system = text
            clearConversation("system prompt set; conversation cleared")
        case let .set(key, value):
            state.settings.set(key, value)
            write(dim("\(key.rawValue) = \(key == .temp || key == .top_p ? String(value) : String(UInt64(value)))") + "\n")
        case let .image(paths):
            // Absolute paths, so a saved transcript loads from any directory.
            let absolute = paths.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
            for p in absolute { try checkImage(p) }   // all or nothing: a bad path attaches none
            state.pendingImages += absolute
            write(dim("attached \(paths.joined(separator: ", ")) (\(state.pendingImages.count) pending for your next message)") + "\n")
        case let .segment(points, box):
            let (segmenter, image) = try segmentTarget()
            if PromptSyntax.isNegativeOnly(points: points, box: box) { write("warning: \(PromptSyntax.negativeOnlyWarning)\n") }
            let r = try segmenter.segment(imagePath: image, points: points, box: box)
            write(String(format: "mask: predicted IoU %.3f, area %d px → %@ (overlay %@)\n", r.score, r.area, r.maskPath, r.overlayPath))
        case .segmentEverything:
            let (segmenter, image) = try segmentTarget()
            let r = try segmenter.segmentEverything(imagePath: image)
            write("everything: \(r.count) masks → \(r.masksPath) (overlay \(r.overlayPath))\n")
        case let .save(path):
            try writeTranscript(path)
            write(dim("saved \(state.turns.count) turns to \(path)") + "\n")
        case let .load(path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ReplError.invalidValue(key: "/load", value: path, expected: "a readable transcript file")
            }
            let loaded = try ChatState.fromTranscript(data, path: path)
            for img in loaded.allImages { try checkImage(img) }
            state = loaded
            write(dim("loaded \(state.turns.count) turns from \(path)") + "\n")
        case .stats:
            write((lastStats.map { $0.summary } ?? "no answer yet") + "\n")
        case let .say(text):
            state.addUserTurn(text)
            var answer = ""
            let stats: ReplyStats
            do {
                stats = try engine.reply(to: state, onText: { piece in
                    let safe = TerminalText.escapingControls(piece)
                    answer += safe
                    self.write(safe)
                },
                                         shouldStop: shouldStop)
            } catch {
                state.rollbackUserTurn()   // the history stays as it was before the failed turn
                if !answer.isEmpty { write("\n") }
                throw error
            }
            state.addAssistantTurn(answer)
            lastStats = stats
            write("\n" + dim(stats.summary) + "\n")
        }
        return true
    }

    private func segmentTarget() throws -> (Segmenter, String) {
        guard let segmenter else { throw ReplError.usage("/segment needs a segmentation model (none loaded)") }
        guard let image = state.lastImage else { throw ReplError.usage("/segment needs an image: attach one with /image PATH") }
        return (segmenter, image)
    }

    /// Atomically (temporary file, then rename); a failure names the file and the system's reason.
    private func writeTranscript(_ path: String) throws {
        try writeAtomically(state.transcriptData(), to: URL(fileURLWithPath: path))
    }
}
