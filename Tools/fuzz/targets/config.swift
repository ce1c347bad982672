// config.json decoding and validation for every model part: Kimi-VL (top level, text_config, vision_config),
// preprocessor_config.json (then preprocessing a small image with it), SAM (three parts and their cross-checks),
// the chat template file and a /save transcript.
import Foundation
import PrismChat
import PrismIO
import PrismSAM
import PrismTokenizer
import PrismVLM

let image = RGBImage(width: 61, height: 37, pixels: (0..<(61 * 37 * 3)).map { UInt8(truncatingIfNeeded: $0 * 7) })

func fuzz(_ data: [UInt8]) {
    let json = Data(data)
    // Most mutations break the JSON syntax; every reader reports that through the same path, so one is enough.
    guard (try? JSONSerialization.jsonObject(with: json, options: [.fragmentsAllowed])) != nil else {
        do { _ = try JSONConfig.decode(TextConfig.self, from: json, path: "config.json") } catch { checkError(error, naming: "config.json") }
        return
    }
    func decode<T: Decodable>(_ type: T.Type, _ then: (T) throws -> Void = { _ in }) {
        do { try then(try JSONConfig.decode(type, from: json, path: "config.json")) } catch { checkError(error, naming: "config.json") }
    }
    decode(KimiVLConfig.self)
    decode(TextConfig.self) { c in
        // the sizes a model is built from: none may overflow
        _ = c.qkHeadDim * c.numAttentionHeads * c.hiddenSize
        _ = (c.kvLoraRank + c.qkRopeHeadDim) * c.numHiddenLayers * c.maxPositionEmbeddings
        _ = c.vocabSize * c.hiddenSize
    }
    decode(VisionConfig.self) { c in _ = c.hiddenSize * c.mergeKernelSize[0] * c.mergeKernelSize[1] * c.headDim }
    decode(PreprocessorConfig.self) { c in
        do { _ = try ImageProcessor(config: c)(image) } catch { checkError(error) }
    }
    decode(SamConfig.self) { c in
        do { try c.validate(path: "config.json") } catch { checkError(error, naming: "config.json") }
    }
    do { _ = try ChatState.fromTranscript(json, path: "chat.json") } catch { checkError(error, naming: "chat.json") }
    let template = scratchFile("template.json", data)
    do { _ = try ChatTemplate(contentsOf: URL(fileURLWithPath: template)) } catch { checkError(error, naming: template) }
}
