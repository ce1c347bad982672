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

        let home = temporaryDirectory()

        init(arguments: [String]) throws {
            let prism = Bundle.main.executableURL!.deletingLastPathComponent().appendingPathComponent("prism").path
            let command = (["exec", prism] + arguments).map { "'\($0)'" }.joined(separator: " ")
            process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
            process.arguments = ["-qfec", command, "/dev/null"]
            var env = ProcessInfo.processInfo.environment
            env["TERM"] = "xterm"
            env["HOME"] = home.path   // keep the history file out of the real home
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

        /// Sends a question and waits for its answer's stats line and the next prompt; false if either never came.
        @discardableResult
        func ask(_ question: String, file: StaticString = #filePath, line: UInt = #line) -> Bool {
            let m = mark()
            send(question + "\n")
            guard let answered = waitFor("decode", after: m, file: file, line: line) else { return false }
            return waitFor(">>> ", after: answered, file: file, line: line) != nil
        }

        /// /quit: the REPL must exit with status 0 and no crash report.
        func quit(file: StaticString = #filePath, line: UInt = #line) {
            send("/quit\n")
            waitForExit()
            XCTAssertEqual(process.terminationReason, .exit, file: file, line: line)
            XCTAssertEqual(process.terminationStatus, 0, file: file, line: line)
            XCTAssertFalse(text.contains("crashed"), text, file: file, line: line)
        }

        /// Waits up to `timeout` seconds for the process to end.
        func waitForExit(timeout: Double = 20) {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { usleep(50_000) }
        }
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
        s.waitFor("error:\u{1B}[0m /no/such/file.png: cannot read image: No such file or directory", after: m)   // red on a terminal
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
        s.waitForExit()
        XCTAssertFalse(s.process.isRunning, "Ctrl-D should exit")
        XCTAssertEqual(s.process.terminationStatus, 0)

        let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: transcript))) as! [String: Any]
        let turns = saved["turns"] as! [[String: Any]]
        XCTAssertEqual(turns.count, 6)
        XCTAssertEqual(turns[0]["images"] as? [String], [image])
        XCTAssertEqual(turns[4]["text"] as? String, "tell me everything")
    }

    /// Issue #19: a very long line followed by pasted text with a tab corrupted the heap (libedit's rl_complete
    /// writes through a freed buffer after a long line; valgrind shows it). Tab now inserts itself, so the pasted
    /// text arrives intact, and the history goes to $HOME.
    func testLongLineThenTabKeepsTheTextAndHistoryFollowsHome() throws {
        let model = fixtureURL("chat_tiny").path
        let transcript = temporaryDirectory().appendingPathComponent("chat.json").path
        let s = try Session(arguments: ["chat", "-m", model, "--temp", "0", "--max-tokens", "2",
                                        "--template", fixtureURL("../../../Prompts").path])
        defer { if s.process.isRunning { s.process.terminate() } }
        var m = s.mark()
        s.waitFor(">>> ")
        // typed at the prompt (raw mode), in pieces as a terminal delivers a paste
        let long = String(repeating: "the quick brown fox ", count: 400)
        for piece in stride(from: 0, to: long.count, by: 1000) {
            s.send(String(long.dropFirst(piece).prefix(1000)))
            usleep(20_000)
        }
        s.send("\n")
        guard let afterLong = s.waitFor("decode", after: m, timeout: 120) else { return }
        s.waitFor(">>> ", after: afterLong)
        guard s.ask("ab\tcd") else { return }
        m = s.mark()
        s.send("/save \(transcript)\n")
        s.waitFor("saved 4 turns", after: m)
        s.quit()
        let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: transcript))) as! [String: Any]
        XCTAssertEqual((saved["turns"] as! [[String: Any]])[2]["text"] as? String, "ab\tcd")
        let history = try String(contentsOf: s.home.appendingPathComponent(".prism_history"), encoding: .utf8)
        XCTAssertTrue(history.contains("/save"), history)
    }

    /// Pasted binary junk may hold 0x1C (Ctrl-\), which the terminal sends as SIGQUIT; on main the REPL died with
    /// a crash report. It now keeps going.
    func testPastedControlBytesDoNotKillTheREPL() throws {
        let s = try Session(arguments: ["chat", "-m", fixtureURL("chat_tiny").path, "--temp", "0", "--max-tokens", "2",
                                        "--template", fixtureURL("../../../Prompts").path])
        defer { if s.process.isRunning { s.process.terminate() } }
        s.waitFor(">>> ")
        s.send("a\u{1C}b\u{1C}\n")   // like Ctrl-C in a shell, the signal discards the line being typed
        usleep(300_000)
        guard s.ask("what is it?") else { return }
        let m = s.mark()
        s.send("/stats\n")
        s.waitFor("prompt", after: m)
        s.quit()
    }

    /// The crash above came back once in CI: libedit's own signal handlers (now off) read its global editor,
    /// which is NULL between readline calls, and a signal can land on any thread. Many signals in many states:
    /// while a line is typed, right as one is entered, and Ctrl-C at the prompt.
    func testRepeatedSignalsAtThePromptNeverKillTheREPL() throws {
        let s = try Session(arguments: ["chat", "-m", fixtureURL("chat_tiny").path, "--temp", "0", "--max-tokens", "2",
                                        "--template", fixtureURL("../../../Prompts").path])
        defer { if s.process.isRunning { s.process.terminate() } }
        s.waitFor(">>> ")
        for round in 0..<30 {
            s.send(String(repeating: "x\u{1C}", count: round % 4 + 1) + (round % 3 == 0 ? "\u{03}" : ""))
            if round % 5 == 4 { s.send("\n\u{1C}") }
            usleep(UInt32(round % 7) * 3_000)
        }
        usleep(300_000)
        guard s.ask("what is it?") else { return }
        usleep(200_000)
        // Waiting in readline, SIGQUIT stays ignored: libedit installed a handler of its own here.
        let script = s.process.processIdentifier
        let children = (try? String(contentsOfFile: "/proc/\(script)/task/\(script)/children", encoding: .utf8)) ?? ""
        if let chat = children.split(separator: " ").first,
           let status = try? String(contentsOfFile: "/proc/\(chat)/status", encoding: .utf8) {
            func mask(_ key: String) -> UInt64 {
                let line = status.split(separator: "\n").first { $0.hasPrefix(key + ":") } ?? ""
                return UInt64(line.split(separator: "\t").last ?? "", radix: 16) ?? 0
            }
            let quit = UInt64(1) << (UInt64(SIGQUIT) - 1)
            XCTAssertNotEqual(mask("SigIgn") & quit, 0, "SIGQUIT is not ignored at the prompt")
            XCTAssertEqual(mask("SigCgt") & quit, 0, "something catches SIGQUIT at the prompt")
        } else {
            XCTFail("cannot find the chat process under script (\(script))")
        }
        s.quit()
    }
}
