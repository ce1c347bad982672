import Foundation
import PrismChat
import PrismCore
import PrismIO

/// The segmenter behind the REPL's /segment: `--sam-model`, else the embedded default, else none (then /segment
/// explains that no segmentation model is loaded).
func makeSegmenter(model: String?, outputDirectory: String, precision: Precision) throws -> Segmenter? {
    let dir = model.map { URL(fileURLWithPath: $0) } ?? ProjectPaths.locate(SegmentCommand.defaultModel)
    guard let dir else { return nil }
    return try SamSegmenter(directory: dir, outputDirectory: URL(fileURLWithPath: outputDirectory), precision: precision)
}
