// The REPL's input side: multi-line assembly, command parsing, /set values, SAM prompt syntax, and whole lines
// applied to a session with a scripted engine (/save and /load go to a scratch file, never to a path from the input).
import Foundation
import PrismChat
import PrismSAM

final class EchoEngine: ChatEngine {
    func reply(to state: ChatState, onText: (String) -> Void, shouldStop: () -> Bool) throws -> ReplyStats {
        if state.turns.last?.text.hasPrefix("fail") == true { throw ReplError.usage("scripted failure") }
        onText("ok")
        return ReplyStats()
    }
}

final class EchoSegmenter: Segmenter {
    func segment(imagePath: String, points: [SamPoint], box: SamBox?) throws -> SegmentResult {
        SegmentResult(overlayPath: "o.png", maskPath: "m.png", score: 1, area: points.count + (box == nil ? 0 : 1))
    }
    func segmentEverything(imagePath: String) throws -> EverythingResult {
        EverythingResult(count: 0, masksPath: "m.json", overlayPath: "o.png")
    }
}

final class Lines: LineReader {
    var lines: [String]
    init(_ lines: [String]) { self.lines = lines.reversed() }
    func readLine(prompt: String) -> String? { lines.popLast() }
}

func fuzz(_ data: [UInt8]) {
    let text = String(decoding: data, as: UTF8.self)
    let transcript = scratch.appendingPathComponent("t.json").path
    var script: [String] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false).prefix(64).map(String.init) {
        if line.utf8.count < 100 {
            _ = try? PromptSyntax.point(line)
            _ = try? PromptSyntax.box(line)
            for key in ChatSettings.Key.allCases { _ = try? key.validate(line) }
        }
        switch try? ReplParser.parse(line) {
        case .save?: script.append("/save \(transcript)")
        case .load?: script.append("/load \(transcript)")
        default: script.append(line)
        }
    }
    var output = ""
    let repl = Repl(state: ChatState(), engine: EchoEngine(), segmenter: EchoSegmenter(), reader: Lines(script),
                    write: { output += $0 },
                    checkImage: { p in if !p.hasSuffix(".png") { throw ReplError.invalidValue(key: "/image", value: p, expected: "a .png") } })
    repl.run()
    for line in output.split(separator: "\n") where line.hasPrefix("error: ") {
        require(!line.dropFirst(7).isEmpty, "empty error")
    }
}
