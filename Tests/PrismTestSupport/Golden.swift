import Foundation
import PrismCore
import PrismIO
import XCTest

/// The `Fixtures` folder next to the calling test file (fixtures are committed beside their tests).
public func fixtureURL(_ name: String, file: StaticString = #filePath) -> URL {
    URL(fileURLWithPath: "\(file)").deletingLastPathComponent().appendingPathComponent("Fixtures").appendingPathComponent(name)
}

/// Golden tensors from a reference script (a safetensors file written by Tools/reference/*.py).
public final class Golden {
    public let file: SafetensorsFile

    public init(_ name: String, file: StaticString = #filePath) throws {
        self.file = try SafetensorsFile(path: fixtureURL(name, file: file).path)
    }

    public func tensor(_ name: String) -> Tensor {
        do { return try file.view(name).toTensor() } catch { fatalError("golden \(name): \(error)") }
    }

    public func ints(_ name: String) -> [Int] { tensor(name).data.map { Int($0.rounded()) } }
}

/// Asserts equal shapes and |a − b| ≤ atol + rtol·|b| elementwise; reports the worst element.
public func assertClose(_ actual: Tensor, _ expected: Tensor, atol: Float = 1e-5, rtol: Float = 1e-5,
                        _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    guard actual.shape == expected.shape else {
        XCTFail("\(message) shape \(actual.shape) ≠ expected \(expected.shape)", file: file, line: line)
        return
    }
    var worst = -1
    var worstExcess: Float = 0
    for i in 0..<actual.count {
        let a = actual.data[i], e = expected.data[i]
        if a.isNaN != e.isNaN || (a.isInfinite && a != e) { worst = i; break }
        let excess = abs(a - e) - (atol + rtol * abs(e))
        if excess > worstExcess { worstExcess = excess; worst = i }
    }
    if worst >= 0 {
        XCTFail("\(message) element \(worst): \(actual.data[worst]) vs expected \(expected.data[worst]) " +
                "(max |Δ| \(actual.maxAbsDifference(expected)), atol \(atol), rtol \(rtol))", file: file, line: line)
    }
}

/// Asserts that `body` throws an error whose description equals `expected`.
public func assertThrowsMessage<T>(_ expected: String, file: StaticString = #filePath, line: UInt = #line,
                                   _ body: () throws -> T) {
    do {
        _ = try body()
        XCTFail("expected error: \(expected)", file: file, line: line)
    } catch {
        XCTAssertEqual("\(error)", expected, file: file, line: line)
    }
}

/// A fresh temporary directory; all of them are removed when the test process exits.
public func temporaryDirectory(_ label: String = "prism-test") -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    TemporaryDirectories.shared.add(url)
    return url
}

private final class TemporaryDirectories: @unchecked Sendable {
    static let shared = TemporaryDirectories()
    private let lock = NSLock()
    private var urls: [URL] = []

    private init() {
        atexit { TemporaryDirectories.shared.removeAll() }
    }

    func add(_ url: URL) { lock.lock(); urls.append(url); lock.unlock() }

    func removeAll() {
        lock.lock(); defer { lock.unlock() }
        for url in urls { try? FileManager.default.removeItem(at: url) }
        urls = []
    }
}
