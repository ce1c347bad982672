import ArgumentParser
import Foundation
import PrismChat
import PrismCore
import PrismIO
import PrismSAM
import PrismTokenizer

/// The README's first command ends here: questions about the shipped example scene and a segmentation from
/// one click, both with the embedded default models, written where a person can look at them.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Ask about and segment the shipped example image with the embedded default models.")

    @Option(name: [.customShort("o"), .customLong("output")], help: "Folder for the demo's mask and overlay PNGs, created if missing.")
    var output = "prism-demo"

    func run() throws {
        guard let weights = ProjectPaths.locate("Weights") else {
            throw UserError("cannot find the Weights/ folder (run from the Prism checkout or set PRISM_HOME)")
        }
        let image = weights.appendingPathComponent("examples/scene.png")
        let img = try RGBImage(contentsOf: image)
        print("Prism demo · \(image.path) (\(img.width)×\(img.height))\n")

        let vlm = weights.appendingPathComponent("prism-vl-tiny"), sam = weights.appendingPathComponent("prism-sam-tiny")
        if FileManager.default.fileExists(atPath: vlm.path) {
            let engine = try KimiVLEngine(directory: vlm, template: ChatTemplate.load())
            // The tiny model was trained on single questions, so each is its own conversation; the image's
            // tokens still come from the KV cache after the first one.
            for question in ["Describe the image.", "What color is the star?", "Is there a purple star?"] {
                var state = ChatState()
                state.settings.temperature = 0
                state.settings.maxTokens = 48
                state.pendingImages = [image.path]
                state.addUserTurn(question)
                var answer = ""
                let stats = try engine.reply(to: state, onText: { answer += $0 }, shouldStop: { false })
                print("Q: \(question)\nA: \(TerminalText.escapingControls(answer))")
                print("   \(stats.summary)\n")
            }
        } else {
            print("chat: the embedded model \(vlm.lastPathComponent) is not installed\n")
        }

        if FileManager.default.fileExists(atPath: sam.path) {
            let dir = URL(fileURLWithPath: output)
            let segmenter = try SamSegmenter(directory: sam, outputDirectory: dir)
            let (x, y) = (215.0, 262.0)   // a click on the purple star
            let t0 = Date()
            let r = try segmenter.segment(imagePath: image.path, points: [SamPoint(x: Float(x), y: Float(y))], box: nil)
            print(String(format: "Segment at (%.0f, %.0f): predicted IoU %.3f, %d px, %.2f s", x, y, r.score, r.area,
                         Date().timeIntervalSince(t0)))
            print("   mask    \(r.maskPath)\n   overlay \(r.overlayPath)")
        } else {
            print("segment: the embedded model \(sam.lastPathComponent) is not installed")
        }
    }
}
