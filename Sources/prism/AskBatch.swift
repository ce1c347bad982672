// `prism ask --batch INPUT… -o answers.jsonl`: the question (-p, or each row's --question-key column) about each
// row's images, every row through the one generation engine (PrismBatch/BatchAsk.swift).
import ArgumentParser
import Foundation
import PrismBatch
import PrismVLM

struct AskBatchArguments: ParsableArguments {
    @OptionGroup var common: BatchArguments
    @Option(name: .shortAndLong, help: "Batch mode: output JSONL, one row per input record in record order (written to OUTPUT.partial, renamed when complete).")
    var output: String?
    @Option(help: "Batch mode: column holding each row's question (instead of -p for every row).") var questionKey: String?
    @Option(help: "Batch mode: rows decoded together (the engine's running batch); twice as many are read ahead.")
    var batchSize = 32
    @Option(help: "Batch mode: prompt tokens prefilled per engine step over all new rows, packed into one forward.")
    var prefillChunk = 4096

    var isBatch: Bool { common.isBatch }

    func validate() throws {
        if !isBatch && (questionKey != nil || output != nil) { throw ValidationError("-o and --question-key need --batch INPUT…") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if prefillChunk < 1 { throw ValidationError("--prefill-chunk must be at least 1") }
    }
}

extension AskCommand {
    static let batchDiscussion = """
        Batch mode writes one JSON line per input record, in record order: {"record": N, "id": …, "answer": …, \
        "finish_reason": "stop"|"length", "prompt_tokens": …, "image_tokens": …, "completion_tokens": …}, or \
        {"record": N, "id": …, "error": …, "finish_reason": "error"} for a bad row (--on-error stop stops there \
        instead). Rows go through the generation engine --batch-size at a time, new rows' prompts packed into \
        shared padding-free forwards. OUTPUT.partial grows as rows finish and is renamed to OUTPUT when the job is \
        complete; --resume continues it. Records are numbered across the inputs as `prism convert` numbers them, \
        so N workers with --shard-index I --shard-count N together write exactly the rows of one run.
        """

    func runBatch() throws {
        if !images.isEmpty { throw UserError("--image does not go with --batch: images come from each row's --image-key column") }
        if json { throw UserError("--json does not go with --batch: the output rows are JSON") }
        if (prompt == nil) == (batch.questionKey == nil) {
            throw UserError("--batch needs the question: -p \"…\" for every row, or --question-key COLUMN")
        }
        let common = batch.common
        let input = try common.input()
        let out = try common.openOutput(batch.output, input)
        if out.alreadyComplete { return try common.run("answered", out) { BatchProgress() } }
        let chat = try modelArguments.loadEngine(precision: precisionArguments.resolve(), options: EngineOptions(maxBatch: batch.batchSize, prefillChunk: batch.prefillChunk,
                                                                        prefixCacheBytes: 64 << 20))
        var options = BatchAskOptions(imageKey: common.defaultImageKey(input), questionKey: batch.questionKey, prompt: prompt,
                                      idKey: common.idKey)
        options.system = system
        options.settings = generate.settings
        options.inFlight = 2 * batch.batchSize
        options.badRows = common.onError
        let asker = BatchAsker(chat: chat, options: options)
        try common.run("answered", out) {
            try asker.run(input, into: out, onProgress: BatchProgressBar.make(label: "ask", unit: "tok", quiet: common.quiet))
        }
    }
}
