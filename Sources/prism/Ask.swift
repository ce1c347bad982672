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
    @OptionGroup var precisionArguments: PrecisionArguments
    @OptionGroup var imageArguments: ImageArguments
    @Option(name: .customLong("image"), help: "Image to ask about (repeatable). (default: none)") var images: [String] = []
    @Option(name: [.short, .customLong("prompt")], help: "The question. (default: read from stdin)") var prompt: String?
    @Option(help: "System prompt. (default: the template's default_system_prompt)") var system: String?
    @Flag(help: "Print one JSON object (answer, finish_reason, model, seed, usage, speeds) instead of plain text; errors become JSON on stderr.")
    var json = false
    @OptionGroup(title: "Batch mode (--batch INPUT… -o OUTPUT.jsonl: one answer per dataset row)") var batch: AskBatchArguments

    func run() throws {
        if batch.isBatch { return try runBatch() }
        guard json else { return try answer() }
        do { try answer() } catch let e as ExitCode { throw e } catch {
            throw jsonErrorExit((error as? UserError)?.description ?? "\(error)")
        }
    }

    private func answer() throws {
        let question: String
        if let prompt { question = prompt } else if !Terminal.stdinIsTTY {
            question = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            throw UserError("no question: pass -p \"…\" or pipe it on stdin")
        }
        guard !question.isEmpty else { throw UserError("the question is empty") }
        let engine = try modelArguments.loadEngine(precision: precisionArguments.resolve())
        engine.model.imageLimits = imageArguments.limits
        for path in images { _ = try engine.image(path) }
        var state = ChatState(system: system, settings: generate.settings)
        state.pendingImages = images.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        state.addUserTurn(question)
        var answer = ""
        let stats = try engine.reply(to: state, onText: { piece in
            answer += piece
            if !json { Terminal.writeOut(TerminalText.escapingControls(piece)) }
        }, shouldStop: { false })
        if json {
            let object: [String: Any] = [
                "answer": answer, "prompt_tokens": stats.promptTokens, "image_tokens": stats.imageTokens,
                "generated_tokens": stats.generatedTokens, "prefill_seconds": stats.prefillSeconds,
                "decode_seconds": stats.decodeSeconds, "finish_reason": stats.finishReason.rawValue,
                "model": engine.directory.path, "seed": generate.settings.seed,
                "usage": ["prompt_tokens": stats.promptTokens + stats.cachedTokens, "completion_tokens": stats.generatedTokens,
                          "total_tokens": stats.promptTokens + stats.cachedTokens + stats.generatedTokens],
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            Terminal.writeOut(String(decoding: data, as: UTF8.self) + "\n")
        } else {
            Terminal.writeOut("\n")
            if stats.finishReason == .length {
                Terminal.writeErr("note: the answer was cut at --max-tokens \(generate.settings.maxTokens)\n")
            }
            Terminal.writeErr(stats.summary + "\n")
        }
    }
}
