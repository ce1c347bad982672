import Foundation
import PrismChat
import PrismTestSupport
import PrismTokenizer
import XCTest

/// A random-weight Kimi-VL in the official layout with the tiny test tokenizer (made by
/// `Tools/make_random_checkpoint.py --preset tiny --vocab-size 914 --media-pad-id 677 --tokenizer …`).
final class KimiVLEngineTests: XCTestCase {
    let model = fixtureURL("chat_tiny")
    let image = fixtureURL("scene.png")
    let template = try! ChatTemplate.load(explicit: fixtureURL("../../../Prompts"))

    func engine() throws -> KimiVLEngine { try KimiVLEngine(directory: model, template: template) }

    func greedy(_ state: ChatState) -> ChatState {
        var s = state
        s.settings.temperature = 0
        s.settings.maxTokens = 6
        return s
    }

    func answer(_ e: KimiVLEngine, _ state: ChatState) throws -> (String, ReplyStats) {
        var text = ""
        let stats = try e.reply(to: state, onText: { text += $0 }, shouldStop: { false })
        return (text, stats)
    }

    /// A follow-up reuses the cached conversation and still answers exactly as a fresh full prefill does.
    func testFollowUpReusesCacheWithIdenticalAnswer() throws {
        let e = try engine()
        var state = greedy(ChatState())
        state.pendingImages = [image.path]
        state.addUserTurn("what is this?")
        let (first, s1) = try answer(e, state)
        XCTAssertEqual(s1.cachedTokens, 0)
        XCTAssertGreaterThan(s1.imageTokens, 0)
        XCTAssertEqual(s1.generatedTokens, 6)
        state.addAssistantTurn(first)
        state.addUserTurn("and the colour?")

        let (reused, s2) = try answer(e, state)
        let (fresh, s3) = try answer(try engine(), state)
        XCTAssertEqual(reused, fresh)
        XCTAssertGreaterThan(s2.cachedTokens, s1.imageTokens, "the image and first turn came from the cache")
        XCTAssertEqual(s2.imageTokens, 0, "the image was not encoded again")
        XCTAssertEqual(s3.cachedTokens, 0)
        XCTAssertLessThan(s2.promptTokens, s3.promptTokens)
    }

    func testStopRequestEndsTheAnswer() throws {
        var state = greedy(ChatState())
        state.addUserTurn("hello")
        var calls = 0
        let stats = try engine().reply(to: state, onText: { _ in }, shouldStop: { calls += 1; return calls > 2 })
        XCTAssertTrue(stats.interrupted)
        XCTAssertEqual(stats.generatedTokens, 2)
    }

    func testConversationTooLongForContextIsAClearError() throws {
        let dir = temporaryDirectory()
        for f in try FileManager.default.contentsOfDirectory(atPath: model.path) {
            try FileManager.default.copyItem(at: model.appendingPathComponent(f), to: dir.appendingPathComponent(f))
        }
        let configURL = dir.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as! [String: Any]
        var text = config["text_config"] as! [String: Any]
        text["max_position_embeddings"] = 24
        config["text_config"] = text
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        var state = greedy(ChatState())
        state.pendingImages = [image.path]
        state.addUserTurn("describe this image in detail please")
        XCTAssertThrowsError(try KimiVLEngine(directory: dir, template: template).reply(to: state, onText: { _ in }, shouldStop: { false })) {
            XCTAssertTrue("\($0)".hasPrefix("the conversation needs "), "\($0)")
            XCTAssertTrue("\($0)".hasSuffix("tokens but the model's context holds 24: use smaller or fewer images, or /clear"), "\($0)")
        }
    }

    func testMissingConfigAndCorruptImage() throws {
        let empty = temporaryDirectory()
        assertThrowsMessage("\(empty.path)/config.json: file not found") { try KimiVLEngine(directory: empty, template: template) }
        let bad = temporaryDirectory().appendingPathComponent("bad.png")
        try Data("nope".utf8).write(to: bad)
        assertThrowsMessage("\(bad.path): not a JPEG or PNG image") { try engine().image(bad.path) }
    }
}
