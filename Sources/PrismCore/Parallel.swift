import CPrismKernels
import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Thread count for Prism's own loops: `PRISM_THREADS` or the number of active cores.
public enum Parallel {
    public static let threads: Int = {
        if let s = ProcessInfo.processInfo.environment["PRISM_THREADS"], let n = Int(s), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// How long an idle pool worker spins before it sleeps: `PRISM_SPIN_US` (0 = sleep at once), else 200 µs, a few
    /// times the serial stretch between two parallel regions of a decode step.
    public static let spinMicroseconds: Int = {
        if let s = ProcessInfo.processInfo.environment["PRISM_SPIN_US"], let n = Int(s), n >= 0 { return n }
        return 200
    }()

    private static let configured: Bool = {
        prism_pool_configure(Int32(threads), spinMicroseconds)
        return true
    }()

    /// body(i) for i in 0..<count on the pool (pool.c: workers that spin between regions instead of sleeping),
    /// the calling thread included; on libdispatch when another thread's job holds the pool.
    private static func run(_ count: Int, _ body: (Int) -> Void) {
        _ = configured
        withoutActuallyEscaping(body) { body in
            var job = body
            let ran = withUnsafeMutablePointer(to: &job) { p in
                prism_pool_run(count, { ctx, i in ctx!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(i)) }, p)
            }
            if ran != 0 { DispatchQueue.concurrentPerform(iterations: count, execute: body) }
        }
    }

    /// Runs `body` for one chunk marked as a worker (nested `forEach` calls then stay on this core).
    private static func asWorker(_ range: Range<Int>, _ body: (Range<Int>) -> Void) {
        let outer = pthread_getspecific(workerKey)
        pthread_setspecific(workerKey, workerMark)
        body(range)
        pthread_setspecific(workerKey, outer)
    }

    /// Runs `body` over `0..<count` split into at most `threads` contiguous chunks, in parallel.
    /// Chunks smaller than `minChunk` items are not worth a thread hop, so small loops stay serial.
    public static func forEach(_ count: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = min(threads, max(1, count / max(1, minChunk)))
        // inside another forEach body every core is already busy
        if chunks == 1 || isWorker { body(0..<count); return }
        run(chunks) { c in
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            if lo < hi { asWorker(lo..<hi, body) }
        }
    }

    /// Whether the calling thread is running a `forEach` body that shares the cores with other bodies: libraries
    /// with their own thread pools (oneDNN) then run single-threaded there.
    public static var isWorker: Bool { pthread_getspecific(workerKey) != nil }

    private static let workerKey: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create")
        return key
    }()
    private static let workerMark = UnsafeMutableRawPointer(bitPattern: 1)

    /// Runs `body` over `0..<count` cut into up to `pieces` contiguous chunks of at least `minChunk` items, which the
    /// cores take as they free up: a core slowed by other work on a shared machine does not hold the others back
    /// (decode's weight streaming, where every core should read until all rows are done).
    public static func forEach(_ count: Int, pieces: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = min(max(1, pieces), max(1, count / max(1, minChunk)))
        if chunks == 1 || threads == 1 || isWorker { body(0..<count); return }
        run(chunks) { c in
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            if lo < hi { asWorker(lo..<hi, body) }
        }
    }
}
