// JSONL rows as `prism convert` reads them without a schema: the line splitter, the strict JSON reader and one
// tf.Example (or SequenceExample) per JSON object (conventional key mapping without image files, so no file is
// read), serialised, parsed back and serialised again unchanged. The first byte picks strict or --lossy.
import Foundation
@testable import PrismData

let map = FeatureMap(FeatureMap.conventional.entries.filter { !$0.image })

func fuzz(_ data: [UInt8]) {
    let path = scratchFile("rows.jsonl", data.dropFirst())
    let reader = JSONLRowReader(file: path, map: map, schema: nil, lossy: (data.first ?? 0) & 1 == 1)
    do {
        var lines = 0, lossy = 0
        try LineReader.forEachLine(path) { line, number in
            lines += 1
            do {
                let bytes = try reader.payload(line, number: number, lossyValues: &lossy)
                if let example = try? Example(serialized: bytes) {
                    require(example.serialized() == bytes, "JSONL example round trip changed the bytes")
                } else {
                    let sequence = try SequenceExample(serialized: bytes)
                    require(sequence.serialized() == bytes, "JSONL sequence example round trip changed the bytes")
                }
            } catch {
                checkError(error, naming: path)
            }
            return lines < 1000
        }
    } catch {
        checkError(error, naming: path)
    }
}
