// TFRecord framing: plain, gzip and zlib streams, auto-detected or forced, strict or skipping corrupt records;
// every payload is also parsed as a tf.Example and a tf.SequenceExample.
import Foundation
import PrismData

func fuzz(_ data: [UInt8]) {
    guard let mode = data.first else { return }
    let modes: [TFRecordCompression?] = [nil, TFRecordCompression.none, .gzip, .zlib]
    let path = scratchFile("input.tfrecord", data.dropFirst())
    do {
        let reader = try TFRecordReader(path: path, compression: modes[Int(mode) % 4], skipCorrupt: mode & 4 != 0)
        reader.maxRecordBytes = 1 << 20
        for _ in 0..<1000 {
            let more = try reader.withNextRecord { payload -> Bool in
                _ = try? Example(serialized: payload)
                _ = try? SequenceExample(serialized: payload)
                return true
            } ?? false
            if !more { break }
        }
        for e in reader.skipped { checkError(e, naming: path) }
    } catch {
        checkError(error, naming: path)
    }
}
