import Foundation

/// Where the REPL keeps its line history: `$HOME/.prism_history`, or `$PRISM_HOME/.prism_history` when `HOME` is
/// unset or empty, and nowhere when neither is set. It follows the environment, never the password database
/// (`FileManager.homeDirectoryForCurrentUser` ignores `$HOME`, which sent a sandboxed run's history into root's
/// home directory).
public enum HistoryFile {
    public static let name = ".prism_history"

    public static func path(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        for key in ["HOME", "PRISM_HOME"] {
            if let dir = environment[key], !dir.isEmpty {
                return URL(fileURLWithPath: dir, isDirectory: true).appendingPathComponent(name).path
            }
        }
        return nil
    }
}
