import ArgumentParser
import Foundation
import PrismCore
import PrismIO
import PrismVLM

/// Decode throughput of the generation engine at 1 and N concurrent sequences, same prompts, same run: what
/// continuous batching over packed sequences buys before any HTTP.
struct EngineBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Decode tokens/s of the generation engine with 1 and N sequences in one packed batch.")

    @Option(name: [.short, .customLong("model")], help: "Model directory (default: the embedded Weights/prism-vl-tiny).")
    var model: String?
    @Option(help: "Concurrent sequences of the batched run.") var sequences = 16
    @Option(help: "Tokens each sequence decodes (stop tokens ignored).") var decodeTokens = 128
    @Option(help: "Prompt tokens per sequence.") var promptTokens = 32
    @Option(help: "Rounds of one 1-sequence and one N-sequence run, alternating (medians are reported: a shared host's bursts hit single runs).")
    var rounds = 5
    @OptionGroup var precisionArguments: PrecisionArguments

    func validate() throws {
        guard sequences >= 1, decodeTokens >= 1, promptTokens >= 1, rounds >= 1 else {
            throw ValidationError("--sequences, --decode-tokens, --prompt-tokens and --rounds must be at least 1")
        }
    }

    func run() throws {
        let dir = try model.map { URL(fileURLWithPath: $0) } ?? {
            guard let url = ProjectPaths.locate("Weights/prism-vl-tiny") else { throw UserError("pass -m DIR") }
            return url
        }()
        let precision = try precisionArguments.resolve()
        let vlm = try KimiVL.load(directory: dir, precision: precision)
        let vocab = vlm.textConfig.vocabSize
        func prompt(_ i: Int) -> Prompt { Prompt(tokens: (0..<promptTokens).map { 1 + ($0 * 7 + i * 13) % (vocab - 1) }) }

        /// Decode tokens/s once every sequence is prefilled (prefill steps excluded).
        func rate(_ n: Int) throws -> Double {
            let engine = GenerationEngine(model: vlm, options: EngineOptions(maxBatch: n, prefillChunk: 1 << 20, prefixCacheBytes: 0, visionCacheBytes: 0))
            for i in 0..<n { try engine.submit(GenerationRequest(prompt: prompt(i), maxTokens: decodeTokens)) { _ in true } }
            engine.step()                                    // packed prefill of all n prompts → first tokens
            let t0 = DispatchTime.now().uptimeNanoseconds, before = engine.snapshot.generatedTokens
            while engine.step() {}
            let tokens = engine.snapshot.generatedTokens - before
            return Double(tokens) / (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        _ = try rate(1)                                      // warm-up
        var singles: [Double] = [], batches: [Double] = []
        for _ in 0..<rounds { singles.append(try rate(1)); batches.append(try rate(sequences)) }
        let ratios = zip(singles, batches).map { $1 / $0 }
        print(String(format: "%@ · %@ precision · %d prompt tokens, %d decode tokens, %d threads, %d rounds (medians)", dir.lastPathComponent,
                     precision.rawValue, promptTokens, decodeTokens, Parallel.threads, rounds))
        print(String(format: "1 sequence:   %8.1f tok/s   (%.1f–%.1f)", median(singles), singles.min()!, singles.max()!))
        print(String(format: "%d sequences: %8.1f tok/s   (%.1f–%.1f)", sequences, median(batches), batches.min()!, batches.max()!))
        print(String(format: "batched / one sequence: %.2f× (median of the rounds' ratios; %.2f–%.2f)", median(ratios),
                     ratios.min()!, ratios.max()!))
    }
}
