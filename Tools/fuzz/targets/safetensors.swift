// safetensors files: the 8-byte header length, the JSON header (dtypes, shapes, offsets that must tile the data
// section) and a view of every tensor widened to Float32.
import Foundation
import PrismIO

func fuzz(_ data: [UInt8]) {
    let path = scratchFile("input.safetensors", data)
    do {
        let file = try SafetensorsFile(path: path)
        for name in file.names {
            let view = try file.view(name)
            let t = view.toTensor()
            require(t.count == view.count, "\(name): widened \(t.count) of \(view.count) values")
        }
    } catch {
        checkError(error, naming: path)
    }
}
