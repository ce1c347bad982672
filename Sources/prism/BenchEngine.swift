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

    func run() throws {
        let dir = try model.map { URL(fileURLWithPath: $0) } ?? {
            guard let url = ProjectPaths.locate("Weights/prism-vl-tiny") else { throw UserError("pass -m DIR") }
            return url
        }()
        let vlm = try KimiVL.load(directory: dir)
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
        let single = try rate(1), batched = try rate(sequences)
        print(String(format: "%@ · %d prompt tokens, %d decode tokens, %d threads", dir.lastPathComponent, promptTokens, decodeTokens, Parallel.threads))
        print(String(format: "1 sequence:   %8.1f tok/s", single))
        print(String(format: "%d sequences: %8.1f tok/s  (%.2f× one sequence, same run)", sequences, batched, batched / single))
    }
}
