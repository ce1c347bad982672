import ArgumentParser
import Foundation
import PrismChat

struct AskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ask",
        abstract: "Answer one question about images and exit.",
        discussion: "The answer alone goes to stdout (stats to stderr). Without -p the question is read from stdin.\n\n" + batchDiscussion)

    @OptionGroup var modelArguments: ModelArguments
    @OptionGroup var generate: GenerateArguments
    @Option(name: .customLong("image"), help: "Image to ask about (repeatable).") var images: [String] = []
    @Option(name: [.short, .customLong("prompt")], help: "The question.") var prompt: String?
    @Option(help: "System prompt.") var system: String?
    @Flag(help: "Print one JSON object (answer, token counts, speeds) instead of plain text.") var json = false
    @OptionGroup(title: "Batch mode (--batch INPUT… -o OUTPUT.jsonl: one answer per dataset row)") var batch: AskBatchArguments

    func run() throws {
        if batch.isBatch { return try runBatch() }
        let question: String
        if let prompt { question = prompt } else if !Terminal.stdinIsTTY {
            question = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            throw UserError("no question: pass -p \"…\" or pipe it on stdin")
        }
        guard !question.isEmpty else { throw UserError("the question is empty") }
        let engine = try modelArguments.loadEngine()
        for path in images { _ = try engine.image(path) }
        var state = ChatState(system: system, settings: generate.settings)
        state.pendingImages = images.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        state.addUserTurn(question)
        var answer = ""
        let stats = try engine.reply(to: state, onText: { piece in
            answer += piece
            if !json { Terminal.writeOut(piece) }
        }, shouldStop: { false })
        if json {
            let object: [String: Any] = [
                "answer": answer, "prompt_tokens": stats.promptTokens, "image_tokens": stats.imageTokens,
                "generated_tokens": stats.generatedTokens, "prefill_seconds": stats.prefillSeconds,
                "decode_seconds": stats.decodeSeconds,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            Terminal.writeOut(String(decoding: data, as: UTF8.self) + "\n")
        } else {
            Terminal.writeOut("\n")
            Terminal.writeErr(stats.summary + "\n")
        }
    }
}
