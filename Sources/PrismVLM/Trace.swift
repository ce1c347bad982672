// Named activation checkpoints (STYLE "Forward passes"; like llama.cpp's eval callback): modules record
// intermediate tensors under fixed names, and the reference scripts dump the same names with torch hooks,
// so a parity failure names the first tensor and layer that diverged.
//
// Names: decoder.input, decoder.attention.<i>, decoder.ffn.<i>, decoder.layer.<i>, decoder.norm,
//        vit.embeddings, vit.layer.<i>, vit.final_norm.
import PrismCore

public final class Trace {
    public struct Record: Sendable {
        public let name: String
        public let layer: Int?
        public let tensor: Tensor
        public var key: String { layer.map { "\(name).\($0)" } ?? name }
    }

    public private(set) var records: [Record] = []
    private let include: (String) -> Bool

    /// `include` filters by name (without the layer suffix); recording copies the tensor.
    public init(include: @escaping (String) -> Bool = { _ in true }) { self.include = include }

    public func record(_ name: String, layer: Int? = nil, _ tensor: @autoclosure () -> Tensor) {
        guard include(name) else { return }
        records.append(Record(name: name, layer: layer, tensor: tensor()))
    }

    /// The last tensor recorded under `name` (and `layer`).
    public func tensor(_ name: String, layer: Int? = nil) -> Tensor? {
        records.last { $0.name == name && $0.layer == layer }?.tensor
    }

    public func reset() { records.removeAll() }
}
