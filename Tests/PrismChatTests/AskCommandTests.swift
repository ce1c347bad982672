import Foundation
import PrismCore
import PrismTestSupport
import XCTest

/// `prism ask` as a user runs it: the answer alone on stdout, stats on stderr, one-line errors, exit codes.
final class AskCommandTests: XCTestCase {
    struct Run { let status: Int32; let stdout: String; let stderr: String }

    func prism(_ arguments: [String], stdin: String? = nil, environment extra: [String: String] = [:]) throws -> Run {
        let p = Process()
        p.executableURL = Bundle.main.executableURL!.deletingLastPathComponent().appendingPathComponent("prism")
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["PRISM_HOME"] = fixtureURL("../../..").path   // Prompts/ of this checkout
        env["PRISM_PRECISION"] = nil
        env.merge(extra) { $1 }
        p.environment = env
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out; p.standardError = err; p.standardInput = inp
        try p.run()
        if let stdin { inp.fileHandleForWriting.write(Data(stdin.utf8)) }
        try inp.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    let model = fixtureURL("chat_tiny").path, image = fixtureURL("scene.png").path

    func testJSONOutputIsOneObjectOnStdout() throws {
        let r = try prism(["ask", "-m", model, "--image", image, "-p", "what is it?", "--temp", "0", "--max-tokens", "4", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 1)
        let object = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        XCTAssertEqual(object["generated_tokens"] as? Int, 4)
        XCTAssertGreaterThan(object["image_tokens"] as? Int ?? 0, 0)
        XCTAssertNotNil(object["answer"] as? String)
        // cut at --max-tokens 4: says so; and which model, seed and token usage produced it
        XCTAssertEqual(object["finish_reason"] as? String, "length")
        XCTAssertEqual(object["model"] as? String, model)
        XCTAssertEqual(object["seed"] as? Int, 0)
        let usage = object["usage"] as! [String: Int]
        XCTAssertEqual(usage["completion_tokens"], 4)
        XCTAssertEqual(usage["total_tokens"], usage["prompt_tokens"]! + 4)
        let plain = try prism(["ask", "-m", model, "-p", "what is it?", "--temp", "0", "--max-tokens", "2"])
        XCTAssertTrue(plain.stderr.contains("note: the answer was cut at --max-tokens 2"), plain.stderr)
    }

    /// With --json an error is one JSON object on stderr, nothing on stdout, exit status 1.
    func testJSONErrors() throws {
        let r = try prism(["ask", "-m", model, "--image", "/no/such.png", "-p", "hi", "--json"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stdout, "")
        XCTAssertEqual(r.stderr, "{\"error\":\"/no/such.png: cannot read image: no such file\"}\n")
        let s = try prism(["segment", "/no/such.png", "--point", "1,1", "--json"])
        XCTAssertEqual(s.status, 1)
        XCTAssertEqual(s.stderr, "{\"error\":\"/no/such.png: cannot read image: no such file\"}\n")
        let noPrompt = try prism(["segment", image, "--json"])
        XCTAssertEqual(noPrompt.stderr, "{\"error\":\"no prompt: give at least one --point X,Y[,1|0], a --box X0,Y0,X1,Y1, or --everything\"}\n")
    }

    /// Plain mode prints the same answer as --json's, with the stats line on stderr only; the question may come from stdin.
    func testPlainAnswerOnStdoutAndQuestionFromStdin() throws {
        let json = try prism(["ask", "-m", model, "--temp", "0", "--max-tokens", "5", "--json"], stdin: "describe it\n")
        let answer = (try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [String: Any])["answer"] as! String
        let plain = try prism(["ask", "-m", model, "--temp", "0", "--max-tokens", "5"], stdin: "describe it\n")
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertEqual(plain.stdout, answer + "\n")
        XCTAssertTrue(plain.stderr.contains("decode 5 tok"), plain.stderr)
    }

    /// --precision: f32 and auto answer (auto is f32 without native bf16); bf16 without native kernels and a bad
    /// PRISM_PRECISION are one-line errors before anything is loaded.
    func testPrecisionOption() throws {
        let args = ["ask", "-m", model, "--image", image, "-p", "what is it?", "--temp", "0", "--max-tokens", "3"]
        let f32 = try prism(args + ["--precision", "f32"])
        XCTAssertEqual(f32.status, 0, f32.stderr)
        let bf16 = try prism(args + ["--precision", "bf16"])
        if ComputeCPU.current.hasNativeBF16 {
            XCTAssertEqual(bf16.status, 0, bf16.stderr)
        } else {
            XCTAssertEqual(bf16.status, 1)
            XCTAssertEqual(bf16.stdout, "")
            XCTAssertEqual(bf16.stderr, "Error: --precision bf16: this CPU has no native bf16 matrix kernels (oneDNN reports "
                           + "\(ComputeCPU.current.isa)); use --precision f32 or auto\n")
            let auto = try prism(args, environment: ["PRISM_PRECISION": "auto"])
            XCTAssertEqual(auto.stdout, f32.stdout)
            // the emulation, asked for explicitly, answers (the tiny model's greedy answer may differ in bf16)
            let emulated = try prism(args + ["--precision", "bf16"], environment: ["PRISM_BF16_EMULATION": "1"])
            XCTAssertEqual(emulated.status, 0, emulated.stderr)
        }
        let bad = try prism(args, environment: ["PRISM_PRECISION": "fp8"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertEqual(bad.stderr, "Error: PRISM_PRECISION=fp8: expected auto, bf16 or f32\n")
    }

    func testBadInputsExitNonZeroWithOneLine() throws {
        let missing = try prism(["ask", "-m", model, "--image", "/no/such.png", "-p", "hi"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertEqual(missing.stdout, "")
        XCTAssertEqual(missing.stderr, "Error: /no/such.png: cannot read image: no such file\n")
        let noConfig = try prism(["ask", "-m", "/tmp", "-p", "hi"])
        XCTAssertEqual(noConfig.status, 1)
        XCTAssertEqual(noConfig.stderr, "Error: /tmp/config.json: file not found\n")
        let empty = try prism(["ask", "-m", model], stdin: "  \n")
        XCTAssertEqual(empty.status, 1)
        XCTAssertEqual(empty.stderr, "Error: the question is empty\n")
    }
}
