import Foundation
import PrismTestSupport
import XCTest

/// Drives the real `prism chat` binary through a pseudo-terminal: `script` (util-linux) gives it a pty as its
/// controlling terminal, so libedit is in charge of input and a ^C byte becomes a real SIGINT.
final class ChatPTYTests: XCTestCase {
    final class Session {
        let process = Process()
        let input = Pipe()
        private let output = Pipe()
        private let lock = NSLock()
        private var buffer = ""

        init(arguments: [String]) throws {
            let prism = Bundle.main.executableURL!.deletingLastPathComponent().appendingPathComponent("prism").path
            let command = (["exec", prism] + arguments).map { "'\($0)'" }.joined(separator: " ")
            process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
            process.arguments = ["-qfec", command, "/dev/null"]
            var env = ProcessInfo.processInfo.environment
            env["TERM"] = "xterm"
            env["HOME"] = temporaryDirectory().path   // keep the history file out of the real home
            env.removeValue(forKey: "CI")
            process.environment = env
            process.standardInput = input
            process.standardOutput = output
            process.standardError = output
            output.fileHandleForReading.readabilityHandler = { [weak self] h in
                let s = String(decoding: h.availableData, as: UTF8.self)
                self?.lock.lock(); self?.buffer += s; self?.lock.unlock()
            }
            try process.run()
        }

        var text: String { lock.lock(); defer { lock.unlock() }; return buffer }

        func send(_ s: String) { input.fileHandleForWriting.write(Data(s.utf8)) }

        /// Waits until `needle` appears after position `from` of the output; returns the position after it.
        @discardableResult
        func waitFor(_ needle: String, after from: String.Index? = nil, timeout: Double = 60,
                     file: StaticString = #filePath, line: UInt = #line) -> String.Index? {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                let t = text
                let start = from.map { min($0, t.endIndex) } ?? t.startIndex
                if let r = t.range(of: needle, range: start..<t.endIndex) { return r.upperBound }
                usleep(20_000)
            }
            XCTFail("timed out waiting for \(needle.debugDescription); output so far:\n\(text)", file: file, line: line)
            return nil
        }

        func mark() -> String.Index { text.endIndex }
    }

    func testREPLThroughPseudoTerminal() throws {
        let model = fixtureURL("chat_tiny").path, image = fixtureURL("scene.png").path
        let transcript = temporaryDirectory().appendingPathComponent("chat.json").path
        let outputs = temporaryDirectory().appendingPathComponent("not/yet")     // /segment creates it
        let sam = fixtureURL("../../PrismSAMTests/Fixtures/tiny-sam").path
        let s = try Session(arguments: ["chat", "-m", model, "--temp", "0", "--max-tokens", "6",
                                        "--template", fixtureURL("../../../Prompts").path,
                                        "--sam-model", sam, "--output-dir", outputs.path])
        defer { if s.process.isRunning { s.process.terminate() } }
        s.waitFor("Prism chat")

        s.send("/help\n")
        s.waitFor("/segment X,Y[,1|0]")

        var m = s.mark()
        s.send("/image \(image)\n")
        s.waitFor("attached", after: m)
        m = s.mark()
        s.send("what is in the picture?\n")
        s.waitFor("decode 6 tok", after: m)

        m = s.mark()
        s.send("and a follow-up\n")
        let cached = s.waitFor("cached", after: m)
        XCTAssertNotNil(cached)
        XCTAssertTrue(s.text[m...].contains("0 image"), "the image came from the KV cache")

        m = s.mark()
        s.send("/segment 200,150\n")
        s.waitFor("mask: predicted IoU", after: m)
        XCTAssertTrue(FileManager.default.fileExists(atPath: outputs.appendingPathComponent("scene-seg1-overlay.png").path))
        s.send("/segment 9999,1\n")
        s.waitFor("outside", after: m)

        m = s.mark()
        s.send("/image /no/such/file.png\n")
        s.waitFor("error:\u{1B}[0m /no/such/file.png: cannot read image: no such file", after: m)   // red on a terminal
        s.send("/frobnicate\n")
        s.waitFor("error:\u{1B}[0m unknown command /frobnicate", after: m)

        // A long answer, stopped with Ctrl-C: the REPL survives and the turn is kept.
        s.send("/set max_tokens 3000\n")
        m = s.mark()
        s.send("tell me everything\n")
        usleep(600_000)
        s.send("\u{03}")
        s.waitFor("· stopped", after: m)
        m = s.mark()
        s.send("/stats\n")
        s.waitFor("stopped", after: m)

        s.send("/save \(transcript)\n")
        s.waitFor("saved 6 turns", after: m)
        s.send("\u{04}")   // Ctrl-D at an empty prompt exits
        let deadline = Date().addingTimeInterval(20)
        while s.process.isRunning && Date() < deadline { usleep(50_000) }
        XCTAssertFalse(s.process.isRunning, "Ctrl-D should exit")
        XCTAssertEqual(s.process.terminationStatus, 0)

        let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: transcript))) as! [String: Any]
        let turns = saved["turns"] as! [[String: Any]]
        XCTAssertEqual(turns.count, 6)
        XCTAssertEqual(turns[0]["images"] as? [String], [image])
        XCTAssertEqual(turns[4]["text"] as? String, "tell me everything")
    }
}
