import Foundation
import PrismCore
import PrismIO
import PrismTestSupport
import XCTest

final class CheckpointTests: XCTestCase {
    /// A tensor in two shards names both shard files by their full path (main gave bare file names).
    func testDuplicateTensorNamesBothFiles() throws {
        let dir = temporaryDirectory()
        for shard in ["a.safetensors", "b.safetensors"] {
            try SafetensorsWriter.write(to: dir.appendingPathComponent(shard), tensors: [("x", Tensor(zeros: [1]))])
        }
        try Data(#"{"weight_map": {"x": "a.safetensors", "y": "b.safetensors"}}"#.utf8)
            .write(to: dir.appendingPathComponent("model.safetensors.index.json"))
        assertThrowsMessage("tensor 'x' appears in both \(dir.path)/a.safetensors and \(dir.path)/b.safetensors") {
            try Checkpoint(directory: dir)
        }
    }

}
