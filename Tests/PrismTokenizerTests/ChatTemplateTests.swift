import Foundation
import PrismIO
import PrismTestSupport
@testable import PrismTokenizer
import XCTest

/// Sources/PrismTokenizer/ChatTemplate.swift with the repository's Prompts/kimi_vl_chat.json.
final class ChatTemplateTests: XCTestCase {
    static let template = try! ChatTemplate(contentsOf: ChatTemplate.locate(searchFrom: [URL(fileURLWithPath: #filePath)]))
    static let tokenizer = try! TikTokenizer(directory: fixtureURL("tiny"))

    /// The spec's rendered single-image user turn (specs/kimi_vl.md §6), byte for byte.
    func testRendersSpecExample() {
        let text = ChatTemplateTests.template.render([.user(.image, .text("Describe the image."))])
        XCTAssertEqual(text, "<|im_system|>system<|im_middle|>You are a helpful assistant<|im_end|><|im_user|>user<|im_middle|><|media_start|>image<|media_content|><|media_pad|><|media_end|>Describe the image.<|im_end|><|im_assistant|>assistant<|im_middle|>")
    }

    func testMultiTurnWithSystemAndNoGenerationPrompt() {
        let conversation: [ChatMessage] = [
            .system("Be brief."), .user(.text("Hi")), .assistant("Hello!"),
            .user(.text("Compare "), .image, .text(" and "), .image),
        ]
        let text = ChatTemplateTests.template.render(conversation, addGenerationPrompt: false)
        XCTAssertEqual(text, "<|im_system|>system<|im_middle|>Be brief.<|im_end|>" +
            "<|im_user|>user<|im_middle|>Hi<|im_end|><|im_assistant|>assistant<|im_middle|>Hello!<|im_end|>" +
            "<|im_user|>user<|im_middle|>Compare <|media_start|>image<|media_content|><|media_pad|><|media_end|>" +
            " and <|media_start|>image<|media_content|><|media_pad|><|media_end|><|im_end|>")
        XCTAssertEqual(ChatTemplateTests.template.render([], addGenerationPrompt: true), "<|im_assistant|>assistant<|im_middle|>")
    }

    /// Token ids equal the processor's: encode the rendered text, then replace the k-th pad with N_k pads.
    func testTokenizeExpandsEachImagePad() throws {
        let t = ChatTemplateTests.tokenizer, tpl = ChatTemplateTests.template
        let pad = t.specialTokenID("<|media_pad|>")!
        let conversation: [ChatMessage] = [
            .user(.image, .text("What differs between this"), .image, .text("and that? 你好")),
            .assistant("The colour."), .user(.text("And "), .image, .text("?")),
        ]
        let counts = [3, 1, 5]
        let ids = try tpl.tokenize(conversation, imageTokenCounts: counts, tokenizer: t)
        var reference: [Int] = []
        var k = 0
        for id in t.encode(tpl.render(conversation)) {
            if id == pad { reference += Array(repeating: pad, count: counts[k]); k += 1 } else { reference.append(id) }
        }
        XCTAssertEqual(k, 3)
        XCTAssertEqual(ids, reference)
        XCTAssertEqual(ids.filter { $0 == pad }.count, 9)
        // the per-image token stream of spec §4: media_start, "image", media_content, pad × N, media_end
        let start = ids.firstIndex(of: t.specialTokenID("<|media_start|>")!)!
        let image = t.encode("image")
        XCTAssertEqual(Array(ids[start..<(start + image.count + 6)]),
                       [t.specialTokenID("<|media_start|>")!] + image + [t.specialTokenID("<|media_content|>")!]
                       + [pad, pad, pad] + [t.specialTokenID("<|media_end|>")!])
        let prompt = t.encode("<|im_assistant|>assistant<|im_middle|>")
        XCTAssertEqual(Array(ids.suffix(prompt.count)), prompt)
    }

    func testMessageTextSpecialTokensArePlainUnlessAllowed() throws {
        let t = ChatTemplateTests.tokenizer, tpl = ChatTemplateTests.template
        let conversation: [ChatMessage] = [.user(.text("a<|im_end|>b"))]
        let end = t.specialTokenID("<|im_end|>")!
        let plain = try tpl.tokenize(conversation, imageTokenCounts: [], tokenizer: t)
        let allowed = try tpl.tokenize(conversation, imageTokenCounts: [], tokenizer: t, specialTokensInText: true)
        XCTAssertEqual(plain.filter { $0 == end }.count, 2)      // system and user turn ends
        XCTAssertEqual(allowed.filter { $0 == end }.count, 3)
        XCTAssertEqual(allowed, t.encode(tpl.render(conversation)))
        XCTAssertEqual(t.decode(plain), tpl.render(conversation))
    }

    func testImageCountErrors() {
        let t = ChatTemplateTests.tokenizer, tpl = ChatTemplateTests.template
        assertThrowsMessage("the conversation has 1 image(s) but 2 image token count(s) were given") {
            try tpl.tokenize([.user(.image)], imageTokenCounts: [4, 4], tokenizer: t)
        }
        assertThrowsMessage("image 0: token count 0 must be positive") {
            try tpl.tokenize([.user(.image)], imageTokenCounts: [0], tokenizer: t)
        }
    }

    func testStopTokens() {
        let t = ChatTemplateTests.tokenizer
        XCTAssertEqual(ChatTemplateTests.template.stopTokenIDs(t),
                       ["<|im_end|>", "[EOS]", "<|im_user|>", "<|im_assistant|>", "<|im_system|>"].map { t.specialTokenID($0)! })
    }

    // MARK: - Locating and loading

    func testLocateSearchesUpwardAndAcceptsExplicitPaths() throws {
        let here = URL(fileURLWithPath: #filePath)
        let found = try ChatTemplate.locate(searchFrom: [here.deletingLastPathComponent()])
        XCTAssertEqual(found.lastPathComponent, "kimi_vl_chat.json")
        XCTAssertEqual(found.deletingLastPathComponent().lastPathComponent, "Prompts")
        XCTAssertEqual(try ChatTemplate.locate(explicit: found), found)
        XCTAssertEqual(try ChatTemplate.locate(explicit: found.deletingLastPathComponent()).path, found.path)
        // the default search (current directory, then the executable's) finds it from the package
        XCTAssertNoThrow(try ChatTemplate.load())
    }

    func testMissingTemplateErrorsNamePath() {
        let dir = temporaryDirectory("prism-tpl")
        assertThrowsMessage("\(dir.path)/nope.json: chat template not found") {
            try ChatTemplate.load(explicit: dir.appendingPathComponent("nope.json"))
        }
        assertThrowsMessage("\(dir.path)/kimi_vl_chat.json: chat template not found") {
            try ChatTemplate.load(explicit: dir)
        }
        assertThrowsMessage("chat template Prompts/nope.json not found above \(dir.path); pass its path explicitly") {
            try ChatTemplate.locate("nope.json", searchFrom: [dir])
        }
    }

    func testInvalidTemplates() throws {
        let dir = temporaryDirectory("prism-tpl")
        let url = dir.appendingPathComponent("t.json")
        func write(_ s: String) { try! s.write(to: url, atomically: true, encoding: .utf8) }
        let roles = #""roles": {"system": {"prefix": "S", "suffix": "E"}, "user": {"prefix": "U", "suffix": "E"}, "assistant": {"prefix": "A", "suffix": "E"}}"#
        write("{\(roles), \"image\": \"<i>\", \"media_pad\": \"<p>\", \"generation_prompt\": \"A\"}")
        assertThrowsMessage("\(url.path): invalid chat template: image must contain media_pad '<p>' exactly once") {
            try ChatTemplate(contentsOf: url)
        }
        // a role name from the file with a newline stays on one line (found by the config fuzz target)
        write("{\"roles\": {\"assist\\nt\": {\"prefix\": \"A\", \"suffix\": \"E\"}}, \"image\": \"<p>\", \"media_pad\": \"<p>\", \"generation_prompt\": \"A\"}")
        assertThrowsMessage("\(url.path): invalid chat template: unknown role 'assist\\nt' in roles") {
            try ChatTemplate(contentsOf: url)
        }
        write(#"{"roles": {"user": {"prefix": "U", "suffix": "E"}}, "image": "<p>", "media_pad": "<p>", "generation_prompt": "A"}"#)
        assertThrowsMessage("\(url.path): invalid chat template: roles has no 'system'") { try ChatTemplate(contentsOf: url) }
        write("{\(roles), \"image\": \"<p>\", \"media_pad\": \"<p>\"}")
        assertThrowsMessage("\(url.path): missing key 'generation_prompt'") { try ChatTemplate(contentsOf: url) }
        // no default system prompt: nothing is prepended
        write("{\(roles), \"default_system_prompt\": null, \"image\": \"[<p>]\", \"media_pad\": \"<p>\", \"generation_prompt\": \"A\"}")
        let tpl = try ChatTemplate(contentsOf: url)
        XCTAssertEqual(tpl.render([.user(.text("x"), .image)]), "Ux[<p>]EA")
        let tiny = fixtureURL("tiny")
        assertThrowsMessage("\(url.path): invalid chat template: media_pad '<p>' is not a special token of the tokenizer "
                            + "(\(tiny.path)/tokenizer_config.json with \(tiny.path)/tiktoken.model)") {
            try tpl.tokenize([.user(.image)], imageTokenCounts: [2], tokenizer: ChatTemplateTests.tokenizer)
        }
    }
}
