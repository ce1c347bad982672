import Foundation

/// What a run of the `prism` executable printed and returned.
public struct PrismRun {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

/// Runs the `prism` built beside the test bundle, as a user would: `home` is its PRISM_HOME (the checkout whose
/// Prompts/ and Weights/ it uses), `stdin` is piped in (then closed), PRISM_PRECISION is cleared so the
/// developer's environment cannot change the answers.
public func runPrism(_ arguments: [String], home: String, stdin: String? = nil,
                     environment extra: [String: String] = [:]) throws -> PrismRun {
    let p = Process()
    p.executableURL = Bundle.main.executableURL!.deletingLastPathComponent().appendingPathComponent("prism")
    p.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env["PRISM_HOME"] = home
    env["PRISM_PRECISION"] = nil
    env.merge(extra) { $1 }
    p.environment = env
    let out = Pipe(), err = Pipe(), inp = Pipe()
    p.standardOutput = out; p.standardError = err; p.standardInput = inp
    try p.run()
    if let stdin { inp.fileHandleForWriting.write(Data(stdin.utf8)) }
    try inp.fileHandleForWriting.close()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return PrismRun(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
}
