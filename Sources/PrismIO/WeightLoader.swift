import Foundation
import PrismCore

/// Binds a model's parameters to checkpoint tensors by name and shape, collecting every problem so that
/// one load reports all missing, unexpected and mis-shaped tensors at once (like llama.cpp's create_tensor
/// plus a final check). Modules ask through scopes: `loader.scope("model.layers.3").tensor("mlp.gate.weight", [E, D])`.
public final class WeightLoader: @unchecked Sendable {
    public struct Problem: Equatable, CustomStringConvertible {
        public enum Kind: Equatable { case missing, unexpected, shape(expected: [Int], actual: [Int]) }
        public let name: String
        public let kind: Kind
        public var description: String {
            switch kind {
            case .missing: "missing \(name)"
            case .unexpected: "unexpected \(name)"
            case let .shape(e, a): "\(name): expected shape \(e), checkpoint has \(a)"
            }
        }
    }

    public struct LoadError: Error, CustomStringConvertible {
        public let source: String
        public let problems: [Problem]
        public var description: String {
            let shown = problems.prefix(20).map(\.description).joined(separator: "; ")
            let more = problems.count > 20 ? "; … and \(problems.count - 20) more" : ""
            return "\(source): \(problems.count) weight problem\(problems.count == 1 ? "" : "s"): \(shown)\(more)"
        }
    }

    private let checkpoint: Checkpoint
    /// model-side name → checkpoint name, built by running every checkpoint name through `remap`.
    private let byModelName: [String: String]
    private var requested: Set<String> = []
    private var problems: [Problem] = []
    private let lock = NSLock()
    /// The precision the model computes in: every view handed out carries it (`TensorView.precision`).
    public let precision: Precision

    /// `remap` turns a checkpoint name into the model's name, or nil to ignore the tensor
    /// (e.g. `rotary_emb.inv_freq` buffers). Identity by default.
    public init(_ checkpoint: Checkpoint, remap: (String) -> String? = { $0 }, precision: Precision = .f32) {
        self.checkpoint = checkpoint
        self.precision = precision
        var map: [String: String] = [:]
        for n in checkpoint.names { if let m = remap(n) { map[m] = n } }
        byModelName = map
    }

    public func scope(_ prefix: String) -> WeightScope { WeightScope(loader: self, prefix: prefix, precision: precision) }

    public func contains(_ name: String) -> Bool { byModelName[name] != nil }

    /// The view for `name` if it exists with `shape`; otherwise records the problem and returns zeros of
    /// that shape so construction can continue and collect the remaining problems.
    public func tensor(_ name: String, shape: [Int]) -> TensorView {
        lock.lock(); defer { lock.unlock() }
        requested.insert(name)
        guard let ck = byModelName[name], let view = try? checkpoint.view(ck) else {
            problems.append(Problem(name: name, kind: .missing))
            return TensorView(Tensor(zeros: shape), name: name)
        }
        guard view.shape == shape else {
            problems.append(Problem(name: name, kind: .shape(expected: shape, actual: view.shape)))
            return TensorView(Tensor(zeros: shape), name: name)
        }
        return view
    }

    /// Throws one error listing every problem, including checkpoint tensors nobody asked for.
    public func finish() throws {
        lock.lock(); defer { lock.unlock() }
        let unexpected = byModelName.keys.filter { !requested.contains($0) }.sorted()
            .map { Problem(name: $0, kind: .unexpected) }
        let all = problems + unexpected
        if !all.isEmpty { throw LoadError(source: checkpoint.directory.path, problems: all) }
    }
}

/// A name prefix over a `WeightLoader` (candle's `vb.pp`), and the precision its weights compute in.
public struct WeightScope: Sendable {
    public let loader: WeightLoader
    public let prefix: String
    /// The loader's precision unless a part chose otherwise (`computed(in:)`).
    public let precision: Precision

    public init(loader: WeightLoader, prefix: String, precision: Precision) {
        self.loader = loader; self.prefix = prefix; self.precision = precision
    }

    public func scope(_ name: String) -> WeightScope {
        WeightScope(loader: loader, prefix: prefix.isEmpty ? name : "\(prefix).\(name)", precision: precision)
    }

    /// The same scope with its weights computed in `precision` (a part that stays f32 in a bf16 model).
    public func computed(in precision: Precision) -> WeightScope {
        WeightScope(loader: loader, prefix: prefix, precision: precision)
    }

    public func name(_ n: String) -> String { prefix.isEmpty ? n : "\(prefix).\(n)" }

    public func tensor(_ n: String, _ shape: [Int]) -> TensorView {
        loader.tensor(name(n), shape: shape).computed(in: precision)
    }

    /// Small parameters (norms, biases, embeddings tables that are gathered) widened to Float32 once.
    public func float(_ n: String, _ shape: [Int]) -> Tensor { tensor(n, shape).toTensor() }

    public func contains(_ n: String) -> Bool { loader.contains(name(n)) }
}
