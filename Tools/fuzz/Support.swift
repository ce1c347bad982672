// Shared by every fuzz target (compiled into each binary beside targets/<name>.swift).
//
// A target defines `func fuzz(_ data: [UInt8])`. It must never crash on any input: errors are caught, and the
// properties below turn a broken promise (a multi-line error, an error that does not name its file, a round trip
// that changes the data) into a crash that libFuzzer reports.
import Foundation
import PrismIO

@_cdecl("LLVMFuzzerTestOneInput")
public func LLVMFuzzerTestOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    fuzz(count == 0 ? [] : Array(UnsafeBufferPointer(start: bytes, count: count)))
    return 0
}

/// A private scratch directory on tmpfs for targets whose APIs read files (one per process, reused).
let scratch: URL = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let url = URL(fileURLWithPath: base).appendingPathComponent("prism-fuzz-\(getpid())")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: "/dev/shm/prism-fuzz-\(getpid())") }
    return url
}()

/// Writes `bytes` to `name` in the scratch directory and returns its path.
@discardableResult
func scratchFile(_ name: String, _ bytes: some Collection<UInt8>) -> String {
    let url = scratch.appendingPathComponent(name)
    _ = FileManager.default.createFile(atPath: url.path, contents: Data(bytes))
    return url.path
}

/// Prism's error contract: one line, and when the input came from a file, the file's name in it.
func checkError(_ error: Error, naming file: String? = nil, _ context: @autoclosure () -> String = "") {
    let text = "\(error)"
    if text.isEmpty || text.contains("\n") { fatalError("error is not one line: \(text.debugDescription) \(context())") }
    if let file, !text.contains(file) { fatalError("error does not name \(file): \(text) \(context())") }
}

/// Splits `data` at the first `count - 1` occurrences of `separator` (missing parts are empty).
func split(_ data: [UInt8], parts count: Int, separator: UInt8 = 0) -> [[UInt8]] {
    var out: [[UInt8]] = []
    var rest = data[...]
    while out.count < count - 1, let i = rest.firstIndex(of: separator) {
        out.append(Array(rest[..<i]))
        rest = rest[(i + 1)...]
    }
    out.append(Array(rest))
    while out.count < count { out.append([]) }
    return out
}

func require(_ ok: Bool, _ message: @autoclosure () -> String) {
    if !ok { fatalError(message()) }
}

/// Decodes an image (smaller limits than the defaults so one input decodes in milliseconds; the header check is
/// the same code); a decoded image must survive a PNG round trip unchanged.
func checkImageDecode(_ data: [UInt8]) {
    do {
        let img = try RGBImage(data: Data(data), path: "input", limits: ImageLimits(maxSide: 1024, maxPixels: 1 << 16))
        require(img.pixels.count == img.width * img.height * 3, "pixel count")
        require(try RGBImage(data: img.pngData()) == img, "PNG round trip changed the image")
    } catch {
        checkError(error, naming: "input")
    }
}
