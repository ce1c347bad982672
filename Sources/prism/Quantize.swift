import ArgumentParser
import Foundation
import PrismIO
import PrismVLM

extension GGUFFileType: ExpressibleByArgument {}

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Write a Kimi-VL checkpoint as llama.cpp-compatible GGUF files (text model + vision mmproj).",
        discussion: """
        Names, metadata, block layouts and per-tensor types are llama.cpp's (convert_hf_to_gguf.py, then \
        llama-quantize for q4_k_m / q4_0). The vision mmproj is Q8_0 (bf16 with --type bf16), as the converter \
        writes it. Weights are streamed slice by slice; each file appears only when complete.
        """)

    @Option(name: [.short, .customLong("model")], help: "Checkpoint directory (config.json, safetensors, tiktoken.model).")
    var model: String
    @Option(name: [.short, .customLong("output")], help: "Output directory (created if needed).") var output: String
    @Option(help: "Text model type: \(GGUFFileType.allCases.map(\.rawValue).joined(separator: " | ")).") var type: GGUFFileType = .q4_k_m

    func run() throws {
        let src = URL(fileURLWithPath: model), out = URL(fileURLWithPath: output)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: src.path, isDirectory: &isDir), isDir.boolValue else {
            throw UserError("\(model): not a checkpoint directory")
        }
        let t0 = Date()
        var lastDraw = Date.distantPast
        let draw = Terminal.stderrIsTTY && ProcessInfo.processInfo.environment["CI"] == nil
        let result = try KimiVLGGUFExport.write(checkpoint: src, to: out, type: type) { done, total in
            guard draw, Date().timeIntervalSince(lastDraw) > 0.2 || done == total else { return }
            lastDraw = Date()
            let fraction = total > 0 ? Double(done) / Double(total) : 1
            let seconds = Date().timeIntervalSince(t0)
            let filled = Int(fraction * 30)
            let eta = fraction > 0 ? Int(seconds * (1 - fraction) / fraction) : 0
            Terminal.writeErr(String(format: "\rquantize %@ [%@%@] %3.0f%% %@ of %@ ETA %d:%02d\u{1B}[K", type.displayName,
                                     String(repeating: "#", count: filled), String(repeating: ".", count: 30 - filled),
                                     fraction * 100, formatBytes(done), formatBytes(total), eta / 60, eta % 60))
        }
        if draw { Terminal.writeErr("\n") }
        print("\(result.text.path)  \(formatBytes(result.textBytes))")
        if let mm = result.mmproj { print("\(mm.path)  \(formatBytes(result.mmprojBytes))") }
        print(String(format: "%.1f s", Date().timeIntervalSince(t0)))
    }
}
