import Dispatch
import Foundation
@testable import PrismCore
import XCTest

/// The worker pool behind `Parallel.forEach` (pool.c): every index exactly once, whatever the call pattern —
/// back-to-back regions (a worker still leaving one while the next is published), regions after the workers have
/// gone to sleep, nested regions, and several threads submitting at once (all but one fall back to libdispatch).
final class ParallelTests: XCTestCase {
    /// Runs `regions` parallel loops of `count` indices and returns how often each index of each loop was visited.
    func hits(regions: Int, count: Int, pieces: Int? = nil, between: () -> Void = {}) -> [Int] {
        var hits = [Int](repeating: 0, count: regions * count)
        hits.withUnsafeMutableBufferPointer { p in
            let base = p.baseAddress!
            for region in 0..<regions {
                let body: (Range<Int>) -> Void = { r in for i in r { base[region * count + i] += 1 } }
                if let pieces { Parallel.forEach(count, pieces: pieces, body) } else { Parallel.forEach(count, body) }
                between()
            }
        }
        return hits
    }

    func testEveryIndexOnceInBackToBackRegions() {
        XCTAssertEqual(hits(regions: 20_000, count: 7), [Int](repeating: 1, count: 140_000))
        XCTAssertEqual(hits(regions: 5_000, count: 61, pieces: 13), [Int](repeating: 1, count: 305_000))
        XCTAssertGreaterThanOrEqual(Parallel.threads, 1)
    }

    func testRegionsAfterTheWorkersSlept() {
        // longer than the spin time: each region wakes sleeping workers
        let pause = UInt32(Parallel.spinMicroseconds + 2_000)
        XCTAssertEqual(hits(regions: 20, count: 1001, between: { usleep(pause) }), [Int](repeating: 1, count: 20_020))
    }

    func testNestedRegionsStayOnTheirCore() {
        var hits = [Int](repeating: 0, count: 64 * 64)
        var nestedOnWorker = true
        hits.withUnsafeMutableBufferPointer { p in
            let base = p.baseAddress!
            Parallel.forEach(64) { outer in
                for i in outer {
                    Parallel.forEach(64, pieces: 8) { inner in
                        if !Parallel.isWorker { nestedOnWorker = false }
                        for j in inner { base[i * 64 + j] += 1 }
                    }
                }
            }
        }
        XCTAssertEqual(hits, [Int](repeating: 1, count: 64 * 64))
        XCTAssertTrue(nestedOnWorker, "a nested region ran outside a worker body")
        XCTAssertFalse(Parallel.isWorker)
    }

    func testConcurrentSubmitters() {
        let submitters = 4, regions = 300, count = 50
        var results = [[Int]](repeating: [], count: submitters)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: submitters) { s in
            let h = hits(regions: regions, count: count, pieces: s % 2 == 0 ? 5 : nil)
            lock.lock(); results[s] = h; lock.unlock()
        }
        for s in 0..<submitters { XCTAssertEqual(results[s], [Int](repeating: 1, count: regions * count), "submitter \(s)") }
    }
}
