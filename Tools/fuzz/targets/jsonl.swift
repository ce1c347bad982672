// JSONL rows as `prism convert` reads them: the line splitter and one tf.Example per JSON object (conventional
// key mapping without image files), serialised and parsed back unchanged.
import Foundation
@testable import PrismData

let map = FeatureMap(FeatureMap.conventional.entries.filter { !$0.image })

func fuzz(_ data: [UInt8]) {
    let path = scratchFile("rows.jsonl", data)
    do {
        var lines = 0
        try LineReader.forEachLine(path) { line, number in
            lines += 1
            do {
                let example = try exampleFromJSONLine(line, base: scratch.path, map: map, file: path, line: number)
                let bytes = example.serialized()
                require(try Example(serialized: bytes).serialized() == bytes, "JSONL example round trip changed the bytes")
            } catch {
                checkError(error, naming: path)
            }
            return lines < 1000
        }
    } catch {
        checkError(error, naming: path)
    }
}
