import ArgumentParser
import Foundation
import PrismChat
import PrismIO

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat about images in an interactive REPL.",
        discussion: "Type /help inside the REPL for its commands. Ctrl-C stops an answer; Ctrl-D or /quit exits.")

    @OptionGroup var modelArguments: ModelArguments
    @OptionGroup var generate: GenerateArguments
    @OptionGroup var precisionArguments: PrecisionArguments
    @Option(name: .customLong("image"), help: "Image to attach to the first message, and again after /clear (repeatable). (default: none)")
    var images: [String] = []
    @Option(help: "System prompt. (default: the template's default_system_prompt)") var system: String?
    @Option(help: "Segmentation model for /segment. (default: the embedded Weights/prism-sam-tiny)") var samModel: String?
    @Option(name: [.customShort("o"), .customLong("output"), .customLong("output-dir")],
            help: "Folder for /segment outputs, created when first needed.")
    var outputDir: String = "."

    func run() throws {
        let precision = try precisionArguments.resolve()
        let engine = try modelArguments.loadEngine(precision: precision)
        var state = ChatState(system: system, settings: generate.settings)
        for path in images { _ = try engine.image(path) }
        state.pendingImages = images.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        let interactive = Terminal.stdinIsTTY
        let reader: LineReader = interactive
            ? EditLineReader(historyFile: FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".prism_history").path)
            : PlainLineReader()
        if interactive {
            Terminal.writeOut("\u{1B}[2mPrism chat · \(engine.directory.lastPathComponent) · /help for commands, Ctrl-D to exit\u{1B}[0m\n")
        }
        Interrupts.install()
        let segmenter = try makeSegmenter(model: samModel, outputDirectory: outputDir, precision: precision)
        let repl = Repl(state: state, engine: InterruptibleEngine(engine), segmenter: segmenter, reader: reader,
                        write: { Terminal.writeOut($0) },
                        checkImage: { _ = try engine.image($0) },
                        styled: Terminal.stdoutIsTTY)
        repl.run()
    }
}

/// Routes Ctrl-C into the engine's stop check for the length of one answer.
final class InterruptibleEngine: ChatEngine {
    let inner: ChatEngine
    init(_ inner: ChatEngine) { self.inner = inner }
    func reply(to state: ChatState, onText: (String) -> Void, shouldStop: () -> Bool) throws -> ReplyStats {
        try Interrupts.generation { stop in
            try inner.reply(to: state, onText: onText, shouldStop: { stop() || shouldStop() })
        }
    }
}
