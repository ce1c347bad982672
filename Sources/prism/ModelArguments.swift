import ArgumentParser
import Foundation
import PrismChat
import PrismCore
import PrismIO
import PrismTokenizer
import PrismVLM

extension PrecisionChoice: ExpressibleByArgument {}

/// `--precision auto|bf16|f32`, shared by every command that runs a model or a benchmark.
struct PrecisionArguments: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Matrix-product precision: auto (bf16 where oneDNN reports native bf16 kernels, else f32), bf16 or f32. "
            + "(default: $\(PrecisionChoice.environmentVariable), else auto)",
        valueName: PrecisionChoice.allCases.map(\.rawValue).joined(separator: "|")))
    var precision: PrecisionChoice?

    /// The precision for this run on this CPU; a bf16 request without native kernels is a one-line error.
    func resolve() throws -> Precision {
        do {
            let env = ProcessInfo.processInfo.environment
            return try PrecisionChoice.from(explicit: precision, environment: env)
                .resolve(allowEmulation: env[PrecisionChoice.emulationVariable] == "1")
        } catch let e as PrecisionError {
            throw UserError(e.description)
        }
    }
}

/// `-m DIR`, shared by every command that runs the vision-language model.
struct ModelArguments: ParsableArguments {
    @Option(name: [.short, .customLong("model")],
            help: "Model: a checkpoint directory (config.json, safetensors, tiktoken.model), a GGUF text model, or a directory holding a GGUF pair (text + mmproj). (default: the embedded Weights/prism-vl-tiny)")
    var model: String?

    @Option(help: "Vision projector GGUF (mmproj) for a -m model.gguf; without it the model answers text only.")
    var mmproj: String?

    @Option(help: "Chat template file or Prompts/ folder. (default: Prompts/kimi_vl_chat.json)")
    var template: String?

    func files() throws -> ModelFiles {
        if let model { return try ModelFiles.resolve(URL(fileURLWithPath: model), mmproj: mmproj.map { URL(fileURLWithPath: $0) }) }
        guard let url = ProjectPaths.locate("Weights/prism-vl-tiny") else {
            throw UserError("no model given and the embedded default Weights/prism-vl-tiny is not installed: pass -m DIR")
        }
        if mmproj != nil { throw UserError("--mmproj goes with -m model.gguf") }
        return .checkpoint(url)
    }

    /// Loads the engine, with a one-line progress note on a terminal (stderr) and silence otherwise.
    func loadEngine(precision: Precision, options: EngineOptions = EngineOptions()) throws -> KimiVLEngine {
        let files = try files()
        let dir = files.url
        let t0 = Date()
        if Terminal.stderrIsTTY { Terminal.writeErr("loading \(dir.lastPathComponent)…") }
        let engine = try KimiVLEngine(files: files,
                                      template: ChatTemplate.load(explicit: template.map { URL(fileURLWithPath: $0) }),
                                      precision: precision, options: options)
        if Terminal.stderrIsTTY {
            Terminal.writeErr(String(format: "\r\u{1B}[2mloaded %@ (%@) in %.1f s\u{1B}[0m\u{1B}[K\n", dir.lastPathComponent,
                                     engine.model.weightsSummary, Date().timeIntervalSince(t0)))
        }
        return engine
    }
}

/// Image size limits, checked from each file's header before it is decoded.
struct ImageArguments: ParsableArguments {
    @Option(help: "Largest accepted image side in pixels (at most \(ImageLimits.ceilingSide)).")
    var maxImageSide: Int = ImageLimits.default.maxSide
    @Option(help: "Largest accepted image in pixels, width × height (at most \(ImageLimits.ceilingPixels)).")
    var maxImagePixels: Int = ImageLimits.default.maxPixels

    var limits: ImageLimits { ImageLimits(maxSide: maxImageSide, maxPixels: maxImagePixels) }

    func validate() throws {
        if let problem = limits.problem { throw ValidationError(problem) }
    }
}

/// Sampling flags people know from llama.cpp / mlx_vlm.
struct GenerateArguments: ParsableArguments {
    @Option(name: .customLong("temp"), help: "Sampling temperature (0 = greedy).") var temperature: Double = 0.2
    @Option(name: .customLong("top-p"), help: "Nucleus sampling mass in (0, 1].") var topP: Double = 1.0
    @Option(name: .customLong("top-k"), help: "Keep only the k most likely tokens (0 = off).") var topK: Int = 0
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(name: .customLong("max-tokens"), help: "Most tokens to generate per answer.") var maxTokens: Int = 512

    func validate() throws {
        guard temperature >= 0 && temperature <= 5 else { throw ValidationError("--temp must be in 0…5") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        guard topK >= 0 else { throw ValidationError("--top-k must be ≥ 0") }
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be ≥ 1") }
    }

    var settings: ChatSettings {
        var s = ChatSettings()
        s.temperature = temperature; s.topP = topP; s.topK = topK; s.seed = seed; s.maxTokens = maxTokens
        return s
    }
}
