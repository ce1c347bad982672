// model.safetensors.index.json: the weight map against two small shards (names, shard file names, mismatches).
import Foundation
import PrismCore
import PrismIO

let shards: URL = {
    let dir = scratch.appendingPathComponent("ckpt")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    try! SafetensorsWriter.write(to: dir.appendingPathComponent("model-00001-of-00002.safetensors"),
                                 tensors: [("a.weight", Tensor(zeros: [2, 3])), ("b.bias", Tensor(zeros: [3]))])
    try! SafetensorsWriter.write(to: dir.appendingPathComponent("model-00002-of-00002.safetensors"),
                                 tensors: [("c.weight", Tensor(zeros: [4]))], dtype: .bf16)
    return dir
}()

func fuzz(_ data: [UInt8]) {
    let index = shards.appendingPathComponent("model.safetensors.index.json")
    _ = FileManager.default.createFile(atPath: index.path, contents: Data(data))
    do {
        let checkpoint = try Checkpoint(directory: shards)
        for name in checkpoint.names { _ = try checkpoint.view(name).toTensor() }
    } catch {
        checkError(error, naming: shards.path)
    }
}
