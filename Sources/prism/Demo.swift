import ArgumentParser
import Foundation
import PrismCore
import PrismIO

/// The README's first command ends here: a short tour of what this build can do on the shipped example.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the built-in demo on the shipped example image.")

    @Option(help: "Image to use instead of Weights/examples/scene.png.") var image: String?

    func run() throws {
        guard let weights = ProjectPaths.locate("Weights") else {
            throw UserError("cannot find the Weights/ folder (run from the Prism checkout or set PRISM_HOME)")
        }
        let url = image.map { URL(fileURLWithPath: $0) } ?? weights.appendingPathComponent("examples/scene.png")
        print("Prism demo\n")

        let img = try RGBImage(contentsOf: url)
        let t = img.tensorCHW()
        let means = (0..<3).map { c in t.slice(rows: c..<(c + 1)).data.reduce(0, +) / Float(img.width * img.height) }
        print("1. Image   \(url.lastPathComponent): \(img.width)×\(img.height) RGB, channel means " +
              means.map { String(format: "%.3f", $0) }.joined(separator: " / "))

        let n = 1024
        let a = Tensor(repeating: 0.5, shape: [n, n])
        let seconds = bestTime(runs: 3) { _ = matmul(a, a) }
        print(String(format: "2. Tensor  OpenBLAS sgemm %d³ on %d threads: %.1f GFLOP/s", n, Parallel.threads,
                     2 * Double(n * n * n) / seconds / 1e9))

        let vlm = weights.appendingPathComponent("prism-vl-tiny"), sam = weights.appendingPathComponent("prism-sam-tiny")
        for (label, dir) in [("3. Chat   ", vlm), ("4. Segment", sam)] where !FileManager.default.fileExists(atPath: dir.path) {
            print("\(label) needs the embedded default model \(dir.lastPathComponent) in Weights/, which is not shipped yet")
        }
    }
}
