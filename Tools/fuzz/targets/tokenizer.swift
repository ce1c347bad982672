// tiktoken.model + tokenizer_config.json loading, then encoding text with and without special tokens.
// Input: model bytes, 0x00, config bytes, 0x00, text. Properties: ordinary encoding decodes back to the text,
// and streaming detokenisation equals decoding all at once.
import Foundation
import PrismTokenizer

func fuzz(_ data: [UInt8]) {
    let parts = split(data, parts: 3)
    let model = scratchFile("tiktoken.model", parts[0]), config = scratchFile("tokenizer_config.json", parts[1])
    let tokenizer: TikTokenizer
    do {
        tokenizer = try TikTokenizer(model: URL(fileURLWithPath: model), config: URL(fileURLWithPath: config))
    } catch {
        checkError(error, naming: scratch.path)
        return
    }
    let text = String(decoding: parts[2], as: UTF8.self)
    let ordinary = tokenizer.encode(text, allowSpecial: false)
    require(tokenizer.decode(ordinary) == text, "ordinary encoding does not decode back to the text")
    let ids = tokenizer.encode(text, allowSpecial: true)
    require(ids.allSatisfy { $0 >= 0 && $0 < tokenizer.vocabularySize }, "id outside the vocabulary")
    var stream = StreamingDecoder(tokenizer)
    let streamed = stream.append(contentsOf: ids) + stream.finish()
    require(streamed == tokenizer.decode(ids), "streamed text differs from decode")
}
