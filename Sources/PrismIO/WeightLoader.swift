import Foundation
import PrismCore
#if canImport(Glibc)
import Glibc
#endif

/// Named tensors a model can be built from: a safetensors checkpoint directory, or a GGUF pair seen through
/// the model's name table (PrismVLM's GGUFNames).
public protocol TensorSource: AnyObject {
    /// The file or directory, for error messages.
    var sourceDescription: String { get }
    var tensorNames: [String] { get }
    func view(_ name: String) throws -> TensorView
}

extension Checkpoint: TensorSource {
    public var sourceDescription: String { source }
    public var tensorNames: [String] { names }
}

/// Binds a model's parameters to checkpoint tensors by name and shape, collecting every problem so that
/// one load reports all missing, unexpected and mis-shaped tensors at once (like llama.cpp's create_tensor
/// plus a final check). Modules ask through scopes: `loader.scope("model.layers.3").tensor("mlp.gate.weight", [E, D])`.
public final class WeightLoader: @unchecked Sendable {
    public struct Problem: Equatable, CustomStringConvertible {
        public enum Kind: Equatable { case missing, unexpected, shape(expected: [Int], actual: [Int]), type(DType) }
        public let name: String
        public let kind: Kind
        public var description: String {
            switch kind {
            case .missing: "missing \(name)"
            case .unexpected: "unexpected \(name)"
            case let .shape(e, a): "\(name): expected shape \(e), checkpoint has \(a)"
            case let .type(t): "\(name): stored as \(t.rawValue), which is not a weight type (float or block-quantised)"
            }
        }
    }

    /// Size limit of one requested tensor; configs are validated well below it, so reaching it is a bug.
    static let maxElements = 1 << 42

    public struct LoadError: Error, CustomStringConvertible {
        /// The checkpoint's index file (sharded) or its single safetensors file.
        public let source: String
        public let problems: [Problem]
        public var description: String {
            let shown = problems.prefix(20).map(\.description).joined(separator: "; ")
            let more = problems.count > 20 ? "; … and \(problems.count - 20) more" : ""
            return "\(source): \(problems.count) weight problem\(problems.count == 1 ? "" : "s"): \(shown)\(more)"
        }
    }

    private let checkpoint: TensorSource
    /// model-side name → checkpoint name, built by running every checkpoint name through `remap`.
    private let byModelName: [String: String]
    private var requested: Set<String> = []
    private var problems: [Problem] = []
    private let lock = NSLock()
    /// The precision the model computes in: every view handed out carries it (`TensorView.precision`).
    public let precision: Precision

    /// `remap` turns a checkpoint name into the model's name, or nil to ignore the tensor
    /// (e.g. `rotary_emb.inv_freq` buffers). Identity by default.
    public init(_ checkpoint: TensorSource, remap: (String) -> String? = { $0 }, precision: Precision = .f32) {
        self.checkpoint = checkpoint
        self.precision = precision
        var map: [String: String] = [:]
        for n in checkpoint.tensorNames { if let m = remap(n) { map[m] = n } }
        byModelName = map
    }

    public func scope(_ prefix: String) -> WeightScope { WeightScope(loader: self, prefix: prefix, precision: precision) }

    public func contains(_ name: String) -> Bool { byModelName[name] != nil }

    /// The view for `name` if it exists with `shape`. Otherwise the problem is recorded and construction goes on
    /// with a placeholder, so that one load reports every problem: the placeholder is a read-only mapping of the
    /// kernel's shared zero page, so nothing is allocated or filled however large the requested shape is, and
    /// `finish()` throws before any forward pass could read it. A checkpoint tensor is never replaced by zeros
    /// in a model that loads.
    public func tensor(_ name: String, shape: [Int]) -> TensorView {
        lock.lock(); defer { lock.unlock() }
        requested.insert(name)
        // Shapes come from validated configs; a negative or astronomically large one is a validation bug.
        precondition(Self.elementCount(shape) != nil, "WeightLoader: \(name) requested with invalid shape \(shape)")
        guard let ck = byModelName[name], let view = try? checkpoint.view(ck) else {
            problems.append(Problem(name: name, kind: .missing))
            return Self.placeholder(name, shape)
        }
        guard view.shape == shape else {
            problems.append(Problem(name: name, kind: .shape(expected: shape, actual: view.shape)))
            return Self.placeholder(name, shape)
        }
        guard view.dtype.isFloatingPoint || view.dtype.isBlockQuantized else {
            problems.append(Problem(name: name, kind: .type(view.dtype)))
            return TensorView(Tensor(zeros: shape), name: name)
        }
        return view
    }

    static func elementCount(_ shape: [Int]) -> Int? {
        var n = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            guard !overflow, p <= maxElements else { return nil }
            n = p
        }
        return n
    }

    /// A view of `shape` (one byte per element) over zero pages that cost no memory until read.
    private static func placeholder(_ name: String, _ shape: [Int]) -> TensorView {
        let pages = ZeroPages(byteCount: elementCount(shape)!)
        return TensorView(name: name, dtype: .u8, shape: shape, bytes: pages.bytes, owner: pages)
    }

    /// Throws one error listing every problem, including checkpoint tensors nobody asked for.
    public func finish() throws {
        lock.lock(); defer { lock.unlock() }
        let unexpected = byModelName.keys.filter { !requested.contains($0) }.sorted()
            .map { Problem(name: $0, kind: .unexpected) }
        let all = problems + unexpected
        if !all.isEmpty { throw LoadError(source: checkpoint.sourceDescription, problems: all) }
    }
}

/// A private, read-only anonymous mapping: every page is the kernel's shared zero page, so even a huge one
/// reserves address space only (no memory is committed or written).
private final class ZeroPages {
    let bytes: UnsafeRawBufferPointer

    init(byteCount: Int) {
        let length = max(1, byteCount)
        let p = mmap(nil, length, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        precondition(p != MAP_FAILED && p != nil, "WeightLoader: cannot reserve \(length) bytes of address space")
        bytes = UnsafeRawBufferPointer(start: p, count: byteCount)
        mapped = length
    }

    private let mapped: Int

    deinit { munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), mapped) }
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
    /// A missing or mis-shaped one (the load will fail in `finish()`) costs at most its size in zeros.
    public func float(_ n: String, _ shape: [Int]) -> Tensor { tensor(n, shape).toTensor() }

    public func contains(_ n: String) -> Bool { loader.contains(name(n)) }
}
