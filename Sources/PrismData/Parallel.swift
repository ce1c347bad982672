// Work spread over the cores, stopping early when one part fails.
import Foundation

final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R { try lock.withLock { try body(&value) } }
}

/// Set once any part of a parallel job has failed; long-running parts check it and stop.
final class Cancellation: @unchecked Sendable {
    private let flag = Locked(false)
    var isCancelled: Bool { flag.withLock { $0 } }
    func cancel() { flag.withLock { $0 = true } }

    /// Throws `CancellationError` once cancelled (cheap enough to call every few records).
    func check() throws { if isCancelled { throw CancellationError() } }
}

/// Runs `body(i)` for `0 ..< count` over the cores. After a failure, parts not yet started are skipped and running
/// ones see `cancellation.isCancelled`. Rethrows the failure of the lowest index (a part that only stopped because
/// another failed does not count).
func parallelFor(_ count: Int, cancellation: Cancellation = Cancellation(), _ body: (Int) throws -> Void) throws {
    let errors = Locked<[Int: Error]>([:])
    DispatchQueue.concurrentPerform(iterations: count) { i in
        guard !cancellation.isCancelled else { return }
        do { try body(i) } catch {
            errors.withLock { $0[i] = error }
            cancellation.cancel()
        }
    }
    let all = errors.withLock { $0 }
    let real = all.filter { !($0.value is CancellationError) }
    if let first = (real.isEmpty ? all : real).keys.min(), let error = all[first] { throw error }
}
