import Foundation
import PrismCore
import PrismIO
@testable import PrismSAM
import PrismTestSupport
import XCTest

/// Copies the tiny checkpoint into a temporary directory with its tensors renamed/edited by `edit`.
func writeTinyVariant(_ edit: ([(name: String, tensor: Tensor)]) -> [(name: String, tensor: Tensor)]) throws -> URL {
    let dir = temporaryDirectory("sam-variant")
    try FileManager.default.copyItem(at: TinySam.directory.appendingPathComponent("config.json"),
                                     to: dir.appendingPathComponent("config.json"))
    let ck = try Checkpoint(directory: TinySam.directory)
    let tensors = try ck.names.map { (name: $0, tensor: try ck.view($0).toTensor()) }
    try SafetensorsWriter.write(to: dir.appendingPathComponent("model.safetensors"), tensors: edit(tensors))
    return dir
}

final class SamModelTests: XCTestCase {
    func testLoaderReportsEveryMissingAndMisshapenTensor() throws {
        let dir = try writeTinyVariant { ts in
            ts.filter { $0.name != "mask_decoder.iou_token.weight" }.map {
                $0.name == "vision_encoder.layers.1.attn.rel_pos_h" ? ($0.name, Tensor(zeros: [7, 12])) : $0
            } + [("mask_decoder.extra.weight", Tensor(zeros: [1]))]
        }
        defer { try? FileManager.default.removeItem(at: dir) }
        assertThrowsMessage("\(dir.path)/model.safetensors: 3 weight problems: vision_encoder.layers.1.attn.rel_pos_h: expected shape [19, 12], checkpoint has [7, 12]; missing mask_decoder.iou_token.weight; unexpected mask_decoder.extra.weight") {
            try SamModel(directory: dir)
        }
    }

    func testMissingDirectoryIsOneLine() {
        let dir = temporaryDirectory("sam-empty")
        defer { try? FileManager.default.removeItem(at: dir) }
        assertThrowsMessage("\(dir.path)/config.json: file not found") { try SamModel(directory: dir) }
    }

    /// The prompt encoder's tied copy of the Fourier matrix is accepted in place of the shared one.
    func testTiedFourierAliasIsAccepted() throws {
        let dir = try writeTinyVariant { ts in
            ts.map { $0.name == SamRemap.fourierName ? (SamRemap.tiedFourierAlias, $0.tensor) : $0 }
        }
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertEqual(try SamModel(directory: dir).densePE, TinySam.model.densePE)
    }
}
