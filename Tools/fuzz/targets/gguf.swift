// GGUF files (llama.cpp's format): the header, typed metadata (strings, arrays, nested counts), tensor infos
// (names, dimensions, ggml types, offsets that must lie in the data section), every tensor viewed and
// dequantised, and the tokenizer read from the metadata as `-m model.gguf` does.
import Foundation
import PrismIO
import PrismTokenizer

func fuzz(_ data: [UInt8]) {
    let path = scratchFile("input.gguf", data)
    do {
        let file = try GGUFFile(path: path)
        for key in file.keys {
            require(file.value(key) != nil, "key \(key) listed but not readable")
        }
        for info in file.tensors {
            let view = try file.view(info.name)
            // dequantise small tensors whole (a header may declare large ones that the data section holds)
            if view.count <= 1 << 16 {
                let t = view.toTensor()
                require(t.count == view.count, "\(info.name): widened \(t.count) of \(view.count) values")
            }
        }
        do { _ = try TikTokenizer(gguf: file) } catch { checkError(error, naming: path) }
    } catch {
        checkError(error, naming: path)
    }
}
