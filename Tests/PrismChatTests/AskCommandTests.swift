import Foundation
import PrismCore
import PrismTestSupport
import XCTest

/// `prism ask` as a user runs it: the answer alone on stdout, stats on stderr, one-line errors, exit codes.
final class AskCommandTests: XCTestCase {
    func prism(_ arguments: [String], stdin: String? = nil, environment extra: [String: String] = [:]) throws -> PrismRun {
        try runPrism(arguments, home: fixtureURL("../../..").path, stdin: stdin, environment: extra)   // Prompts/ of this checkout
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
        XCTAssertEqual(r.stderr, "{\"error\":\"/no/such.png: cannot read image: No such file or directory\"}\n")
        let s = try prism(["segment", "/no/such.png", "--point", "1,1", "--json"])
        XCTAssertEqual(s.status, 1)
        XCTAssertEqual(s.stderr, "{\"error\":\"/no/such.png: cannot read image: No such file or directory\"}\n")
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
        XCTAssertEqual(missing.stderr, "Error: /no/such.png: cannot read image: No such file or directory\n")
        let emptyDir = temporaryDirectory()
        let noConfig = try prism(["ask", "-m", emptyDir.path, "-p", "hi"])
        XCTAssertEqual(noConfig.status, 1)
        XCTAssertEqual(noConfig.stderr, "Error: \(emptyDir.path): neither a checkpoint (config.json) nor a GGUF text model (*.gguf)\n")
        let empty = try prism(["ask", "-m", model], stdin: "  \n")
        XCTAssertEqual(empty.status, 1)
        XCTAssertEqual(empty.stderr, "Error: the question is empty\n")
    }

    /// Issue #19: a 1 KB JPEG whose header says 30000×30000 crashed `ask` (SIGILL after allocating 2.7 GB); now it
    /// is a one-line error from the header, and the limit can be raised.
    func testOversizedImageHeaderIsAOneLineError() throws {
        var jpeg = try Data(contentsOf: fixtureURL("../../PrismIOTests/Fixtures/images/rgb_q95.jpg"))
        let sof = (0..<(jpeg.count - 1)).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 }!
        for (i, b) in [0x75, 0x30, 0x75, 0x30].enumerated() { jpeg[sof + 5 + i] = UInt8(b) }   // 30000 × 30000
        let path = temporaryDirectory().appendingPathComponent("big.jpg").path
        try jpeg.write(to: URL(fileURLWithPath: path))
        let r = try prism(["ask", "-m", model, "--image", path, "-p", "hi"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr, "Error: \(path): image is 30000×30000 pixels, over the limit of 16384 per side and 268435456 in all "
                       + "(raise it with --max-image-side / --max-image-pixels)\n")
        let raised = try prism(["ask", "-m", model, "--image", path, "-p", "hi", "--max-image-side", "30000", "--max-image-pixels", "900000000"])
        XCTAssertEqual(raised.status, 1)
        XCTAssertTrue(raised.stderr.hasPrefix("Error: \(path): JPEG decode failed: "), raised.stderr)
        let bad = try prism(["ask", "-m", model, "-p", "hi", "--max-image-side", "0"])
        XCTAssertEqual(bad.status, 64)
        XCTAssertTrue(bad.stderr.contains("max image side must be in 1…65535, got 0"), bad.stderr)
    }

    /// Issue #19: on a read-only destination `segment` said "The file doesn't exist"; now the system's reason.
    func testSegmentWriteErrorsGiveTheSystemReason() throws {
        let r = try prism(["segment", image, "--point", "10,10", "--output", "/sys/prism-test-out"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr, "Error: /sys/prism-test-out: cannot write: Operation not permitted\n")
    }

    /// `prism quantize` writes a GGUF pair that `prism ask` runs from its directory (or file + --mmproj) with the
    /// same greedy answer as the bf16 checkpoint for --type bf16, and shows the type and size in the stats line.
    func testQuantizeThenAskFromGGUF() throws {
        let out = temporaryDirectory()
        for type in ["bf16", "q8_0"] {
            let q = try prism(["quantize", "-m", model, "-o", out.appendingPathComponent(type).path, "--type", type])
            XCTAssertEqual(q.status, 0, q.stderr)
            XCTAssertEqual(q.stdout.split(separator: "\n").count, 3, q.stdout)
        }
        let ask = ["-p", "what is it?", "--image", image, "--temp", "0", "--max-tokens", "6"]
        let reference = try prism(["ask", "-m", model] + ask)
        let bf16 = try prism(["ask", "-m", out.appendingPathComponent("bf16").path] + ask)
        XCTAssertEqual(bf16.status, 0, bf16.stderr)
        XCTAssertEqual(bf16.stdout, reference.stdout)
        XCTAssertTrue(bf16.stderr.contains("BF16 GGUF "), bf16.stderr)
        let files = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("q8_0").path).sorted()
        XCTAssertEqual(files.count, 2, "\(files)")
        let text = files.first { !$0.hasPrefix("mmproj-") }!, mmproj = files.first { $0.hasPrefix("mmproj-") }!
        let q8 = try prism(["ask", "-m", out.appendingPathComponent("q8_0/\(text)").path,
                            "--mmproj", out.appendingPathComponent("q8_0/\(mmproj)").path] + ask)
        XCTAssertEqual(q8.status, 0, q8.stderr)
        XCTAssertTrue(q8.stderr.contains("Q8_0 GGUF "), q8.stderr)
        let wrong = try prism(["ask", "-m", out.appendingPathComponent("q8_0/\(mmproj)").path, "-p", "hi"])
        XCTAssertEqual(wrong.status, 1)
        XCTAssertEqual(wrong.stderr, "Error: \(out.appendingPathComponent("q8_0/\(mmproj)").path): an mmproj (vision) file, not a text model; pass it with --mmproj\n")
    }
}
