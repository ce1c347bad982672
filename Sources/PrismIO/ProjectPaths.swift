import Foundation

/// Finds Prism's run-time folders (`Weights/`, `Prompts/`) wherever the binary is run from:
/// `$PRISM_HOME`, then the current directory and its parents, then the executable's directory and its parents
/// (a release build lives in `.build/release/` inside the checkout).
public enum ProjectPaths {
    public static func locate(_ folder: String) -> URL? {
        var roots: [URL] = []
        if let home = ProcessInfo.processInfo.environment["PRISM_HOME"] { roots.append(URL(fileURLWithPath: home)) }
        roots.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        roots.append(URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent())
        for root in roots {
            var dir = root.standardizedFileURL
            for _ in 0..<8 {
                let candidate = dir.appendingPathComponent(folder)
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDir), isDir.boolValue { return candidate }
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path { break }
                dir = parent
            }
        }
        return nil
    }
}
