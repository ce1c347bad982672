// tf.Example and tf.SequenceExample protobuf decoding (protobuf-c), with a serialise → parse round trip.
import Foundation
import PrismData

func fuzz(_ data: [UInt8]) {
    do {
        let e = try Example(serialized: data)
        let bytes = e.serialized()
        require(try Example(serialized: bytes).serialized() == bytes, "Example round trip changed the bytes")
    } catch { checkError(error) }
    do {
        let s = try SequenceExample(serialized: data)
        let bytes = s.serialized()
        require(try SequenceExample(serialized: bytes).serialized() == bytes, "SequenceExample round trip changed the bytes")
    } catch { checkError(error) }
}
