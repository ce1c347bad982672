import Foundation
import PrismCore
import PrismIO
@testable import PrismVLM
import XCTest

/// Opt-in smoke run on a full-size checkpoint (e.g. `Tools/make_random_checkpoint.py --preset full`):
///
///     PRISM_KIMIVL_DIR=/path/to/ckpt swift test -c release -Xswiftc -enable-testing --filter FullCheckpointTests
///
/// Loads it (memory-mapped, bf16), prefills a chat-shaped prompt with one 224×224 image, decodes two tokens,
/// and prints load time, prefill time, seconds per decoded token and peak RSS. Skipped when the variable is unset.
final class FullCheckpointTests: XCTestCase {
    func testFullSizeCheckpointLoadsAndGenerates() throws {
        guard let path = ProcessInfo.processInfo.environment["PRISM_KIMIVL_DIR"] else {
            throw XCTSkip("set PRISM_KIMIVL_DIR to a full-size Kimi-VL checkpoint directory")
        }
        var t = Date()
        let m = try KimiVL.load(directory: URL(fileURLWithPath: path))
        let load = Date().timeIntervalSince(t)
        print("load: \(String(format: "%.2f", load)) s, RSS \(status("VmRSS")), threads \(Parallel.threads)")

        var pixels = [UInt8](repeating: 0, count: 224 * 224 * 3)
        for i in pixels.indices { pixels[i] = UInt8(truncatingIfNeeded: i * 31 + i / 672) }
        let img = try m.imageProcessor(RGBImage(width: 224, height: 224, pixels: pixels))
        // <|im_user|>user<|im_middle|><|media_start|>image<|media_content|><|media_pad|>×N<|media_end|>…<|im_end|><|im_assistant|>assistant<|im_middle|>
        let head: [Int] = [163587, 1008, 163601, 163602, 3930, 163603]
        let tail: [Int] = [163604, 10, 20, 30, 163586, 163588, 1009, 163601]
        let tokens: [Int] = head + [Int](repeating: m.mediaPadId, count: img.tokenCount) + tail
        let cache = m.newCache()
        t = Date()
        var logits = try m.prefill(Prompt(tokens: tokens, images: [img]), cache: cache)
        let prefill = Date().timeIntervalSince(t)
        print("prefill: \(tokens.count) tokens (\(img.tokenCount) image tokens) in \(String(format: "%.2f", prefill)) s, RSS \(status("VmRSS"))")
        var sampler = Sampler(.greedy)
        var generated: [Int] = []
        var steps: [Double] = []
        for _ in 0..<2 {
            let next = sampler.sample(logits: logits)
            generated.append(next)
            t = Date()
            logits = try m.decode(token: next, cache: cache)
            steps.append(Date().timeIntervalSince(t))
        }
        XCTAssertTrue(logits.allSatisfy { $0.isFinite })
        print("generated \(generated); decode s/token \(steps.map { String(format: "%.2f", $0) }); "
              + "KV cache \(cache.byteCount) B for \(cache.count) tokens")
        print("peak RSS (VmHWM) \(status("VmHWM")); now: \(status("RssAnon")) anonymous, \(status("RssFile")) file-backed")
    }

    private func status(_ key: String) -> String {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return "?" }
        return s.split(separator: "\n").first { $0.hasPrefix(key + ":") }.map {
            $0.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces)
        } ?? "?"
    }
}
