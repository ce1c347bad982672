import Foundation
import PrismCore

/// A model directory's weights: one `model.safetensors`, or shards listed by
/// `model.safetensors.index.json` (`weight_map`: tensor name → shard file), all memory-mapped.
public final class Checkpoint: @unchecked Sendable {
    public let directory: URL
    /// The file that lists the tensors: `model.safetensors.index.json` when sharded, else `model.safetensors`
    /// (what errors about the checkpoint as a whole name).
    public let source: String
    private let files: [String: SafetensorsFile]   // shard file name → file
    private let location: [String: String]         // tensor name → shard file name

    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case noWeights(directory: String)
        case invalidIndex(file: String, reason: String)
        case shardMissing(index: String, shard: String)
        case duplicateTensor(name: String, first: String, second: String)
        case indexMismatch(index: String, tensor: String, shard: String)

        public var description: String {
            switch self {
            case let .noWeights(d): "\(d): no model.safetensors or model.safetensors.index.json"
            case let .invalidIndex(f, r): "\(f): invalid index: \(r)"
            case let .shardMissing(i, s): "\(i): shard \(quoted(s)) is missing"
            case let .duplicateTensor(n, a, b): "tensor \(quoted(n)) appears in both \(a) and \(b)"
            case let .indexMismatch(i, t, s): "\(i): maps \(quoted(t)) to \(s), which does not contain it"
            }
        }
    }

    public init(directory: URL) throws {
        self.directory = directory
        let fm = FileManager.default
        let index = directory.appendingPathComponent("model.safetensors.index.json")
        var shardNames: [String]
        var declared: [String: String] = [:]
        if fm.fileExists(atPath: index.path) {
            source = index.path
            let obj: Any
            do { obj = try JSONSerialization.jsonObject(with: Data(contentsOf: index)) } catch {
                throw Error.invalidIndex(file: index.path, reason: "JSON does not parse")
            }
            guard let map = (obj as? [String: Any])?["weight_map"] as? [String: Any],
                  map.values.allSatisfy({ $0 is String }) else {
                throw Error.invalidIndex(file: index.path, reason: "weight_map must map tensor names to file names")
            }
            declared = map.mapValues { $0 as! String }
            shardNames = Array(Set(declared.values)).sorted()
            for s in shardNames where s.contains("/") || s.hasPrefix(".") {
                throw Error.invalidIndex(file: index.path, reason: "shard name \(quoted(s)) is not a plain file name")
            }
        } else if fm.fileExists(atPath: directory.appendingPathComponent("model.safetensors").path) {
            shardNames = ["model.safetensors"]
            source = directory.appendingPathComponent("model.safetensors").path
        } else {
            throw Error.noWeights(directory: directory.path)
        }
        var files: [String: SafetensorsFile] = [:]
        var location: [String: String] = [:]
        for s in shardNames {
            let url = directory.appendingPathComponent(s)
            guard fm.fileExists(atPath: url.path) else { throw Error.shardMissing(index: index.path, shard: s) }
            let f = try SafetensorsFile(path: url.path)
            files[s] = f
            for name in f.entries.keys {
                if let first = location[name] {
                    throw Error.duplicateTensor(name: name, first: directory.appendingPathComponent(first).path, second: url.path)
                }
                location[name] = s
            }
        }
        for (name, shard) in declared where location[name] != shard {
            throw Error.indexMismatch(index: index.path, tensor: name, shard: shard)
        }
        self.files = files
        self.location = location
    }

    public var names: [String] { location.keys.sorted() }

    public func contains(_ name: String) -> Bool { location[name] != nil }

    public func entry(_ name: String) -> SafetensorsFile.Entry? {
        location[name].flatMap { files[$0]?.entries[name] }
    }

    public func view(_ name: String) throws -> TensorView {
        guard let shard = location[name], let f = files[shard] else {
            throw SafetensorsError.missingTensor(name: name, source: source)
        }
        return try f.view(name)
    }
}
