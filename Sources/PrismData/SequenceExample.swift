// tf.SequenceExample (spec §3): context features plus named lists of features, one per time step.
import CExampleProto
import Foundation

public struct SequenceExample: Hashable, Sendable {
    public var context: [String: Feature]
    public var featureLists: [String: [Feature]]

    public init(context: [String: Feature] = [:], featureLists: [String: [Feature]] = [:]) {
        self.context = context
        self.featureLists = featureLists
    }

    /// Decodes a serialized tf.SequenceExample; throws `.invalidExample(nil, …)` if it is not one.
    /// (A tf.Example also decodes, as a SequenceExample with only a context: field 1 is shared.)
    public init(serialized: UnsafeRawBufferPointer) throws {
        var parser = ExampleParser()
        try parser.parse(serialized)
        context = parser.materializedFeatures()
        featureLists = parser.materializedFeatureLists()
    }

    public init<Bytes: ContiguousBytes>(serialized: Bytes) throws {
        self = try serialized.withUnsafeBytes { try SequenceExample(serialized: $0) }
    }

    /// The wire encoding, keys in order.
    public func serialized() -> [UInt8] {
        let arena = ProtoArena()
        let message = arena.make(Tensorflow__SequenceExample.self, tensorflow__sequence_example__init)
        message.pointee.context = ProtoCodec.features(context, arena)
        let lists = arena.make(Tensorflow__FeatureLists.self, tensorflow__feature_lists__init)
        let entries = featureLists.keys.sorted().map { key -> UnsafeMutablePointer<Tensorflow__FeatureLists__FeatureListEntry>? in
            let entry = arena.make(Tensorflow__FeatureLists__FeatureListEntry.self,
                                   tensorflow__feature_lists__feature_list_entry__init)
            entry.pointee.key = arena.cString(key)
            let list = arena.make(Tensorflow__FeatureList.self, tensorflow__feature_list__init)
            let steps = featureLists[key]!.map { Optional(ProtoCodec.feature($0, arena)) }
            list.pointee.n_feature = steps.count
            list.pointee.feature = arena.copy(steps)
            entry.pointee.value = list
            return entry
        }
        lists.pointee.n_feature_list = entries.count
        lists.pointee.feature_list = arena.copy(entries)
        message.pointee.feature_lists = lists
        return ProtoCodec.pack(message, tensorflow__sequence_example__get_packed_size, tensorflow__sequence_example__pack)
    }
}
