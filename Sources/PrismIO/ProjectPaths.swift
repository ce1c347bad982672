import Foundation

/// Finds Prism's run-time files (`Weights/…`, `Prompts/…`) wherever the binary is run from:
/// `$PRISM_HOME`, then the current directory and its parents, then the executable's directory and its parents
/// (a release build lives in `.build/release/` inside the checkout).
public enum ProjectPaths {
    public static var searchRoots: [URL] {
        var roots: [URL] = []
        if let home = ProcessInfo.processInfo.environment["PRISM_HOME"] { roots.append(URL(fileURLWithPath: home)) }
        roots.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        if let exe = Bundle.main.executableURL?.resolvingSymlinksInPath() { roots.append(exe.deletingLastPathComponent()) }
        return roots
    }

    /// The first existing `relativePath` (file or folder) in a root or one of its ancestors.
    public static func locate(_ relativePath: String, from roots: [URL] = searchRoots) -> URL? {
        for root in roots {
            var dir = root.standardizedFileURL
            while true {
                let candidate = dir.appendingPathComponent(relativePath)
                if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path { break }
                dir = parent
            }
        }
        return nil
    }
}
