import CEdit
import Foundation
import PrismChat
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Terminal facts the CLI adapts to: colours and progress bars only on a TTY, never in CI.
enum Terminal {
    static var stdoutIsTTY: Bool { isatty(STDOUT_FILENO) == 1 }
    /// Progress bars and load notes go to stderr only on a terminal, and never under CI=true|1.
    static var stderrIsTTY: Bool {
        let ci = ProcessInfo.processInfo.environment["CI"].map { $0 == "true" || $0 == "1" } ?? false
        return isatty(STDERR_FILENO) == 1 && !ci
    }
    static var stdinIsTTY: Bool { isatty(STDIN_FILENO) == 1 }

    static func writeOut(_ s: String) {
        FileHandle.standardOutput.write(Data(s.utf8))
    }

    static func writeErr(_ s: String) {
        FileHandle.standardError.write(Data(s.utf8))
    }
}

/// Line input with editing and history through libedit's readline interface.
final class EditLineReader: LineReader {
    private let historyFile: String?

    init(historyFile: String?) {
        self.historyFile = historyFile
        // libedit's own signal handlers (readline's rl_catch_signals, on by default) go through a global editor
        // that is NULL between readline calls: a pasted 0x1C (SIGQUIT) landing there crashed the REPL ("Bad
        // pointer dereference"). Prism handles the signals itself (Interrupts); this must precede the first
        // libedit call, read_history included, which initialises the editor.
        rl_catch_signals = 0
        Interrupts.restoreTerminalOnExit()
        // Tab inserts itself instead of running libedit's readline-compatible completion: Debian's libedit
        // (3.1-20221030) writes through a freed buffer in rl_complete once a line longer than its conversion
        // buffer has been read (a pasted 100 KB line, then a tab in pasted text, corrupted the heap; the crash
        // surfaced later in malloc during prefill). Valgrind shows it with a 6000-character line and one tab.
        rl_inhibit_completion = 1
        rl_initialize()   // now, so that rl_resize_terminal always has an editor
        if let historyFile { read_history(historyFile) }
        // Tab: /commands at the start of a line; anything else falls back to libedit's file-name completion.
        rl_attempted_completion_function = { text, start, _ in
            guard start == 0, let text, text.pointee == UInt8(ascii: "/") else { return nil }
            return rl_completion_matches(text) { text, state in
                let prefix = text.map { String(cString: $0) } ?? ""
                let matches = ReplParser.commandNames.filter { $0.hasPrefix(prefix) }
                return Int(state) < matches.count ? strdup(matches[Int(state)]) : nil
            }
        }
    }

    func readLine(prompt: String) -> String? {
        // Without its signal handlers libedit misses SIGWINCH: take the window size afresh at each prompt.
        rl_resize_terminal()
        guard let raw = readline(prompt) else { return nil }
        defer { free(raw) }
        let line = String(cString: raw)
        if !line.trimmingCharacters(in: .whitespaces).isEmpty {
            add_history(raw)
            if let historyFile { write_history(historyFile) }
        }
        return line
    }
}

/// Plain stdin (piped input): no prompt, no editing.
final class PlainLineReader: LineReader {
    func readLine(prompt: String) -> String? { Swift.readLine(strippingNewline: true) }
}

/// Ctrl-C handling: the first press stops the answer being generated; a second press while that answer is
/// still stopping exits. At the prompt, Ctrl-C is ignored (Ctrl-D or /quit exits).
enum Interrupts {
    // Touched from the signal handler: lock-free atomics only (async-signal-safe).
    fileprivate static let pending = Atomic<Int>(0)
    fileprivate static let generating = Atomic<Bool>(false)

    static func install() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in
            guard Interrupts.generating.load(ordering: .relaxed) else { return }
            if Interrupts.pending.add(1, ordering: .relaxed).newValue >= 2 {
                let msg = "\ninterrupted\n"
                _ = msg.withCString { write(STDERR_FILENO, $0, strlen($0)) }
                _exit(130)
            }
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(SIGINT, &action, nil)
        // A pasted 0x1C byte is Ctrl-\, which the terminal turns into SIGQUIT: without this the REPL would die
        // with a crash report in the middle of a conversation. Ctrl-D and /quit are the ways out.
        signal(SIGQUIT, SIG_IGN)
    }

    /// The terminal settings from before the editor touched them, for SIGTERM and SIGHUP: libedit no longer
    /// catches those (rl_catch_signals = 0), and a kill at the prompt would leave the shell without echo.
    nonisolated(unsafe) private static let savedTerminal = UnsafeMutablePointer<termios>.allocate(capacity: 1)

    static func restoreTerminalOnExit() {
        guard tcgetattr(STDIN_FILENO, savedTerminal) == 0 else { return }
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { signo in
            // Async-signal-safe only: put the terminal back, then die of the signal as before.
            tcsetattr(STDIN_FILENO, TCSANOW, Interrupts.savedTerminal)
            signal(signo, SIG_DFL)
            raise(signo)
        }
        sigemptyset(&action.sa_mask)
        sigaction(SIGTERM, &action, nil)
        sigaction(SIGHUP, &action, nil)
    }

    /// Runs `body` as one interruptible generation; `stop()` inside it reports a Ctrl-C.
    static func generation<T>(_ body: (_ stop: () -> Bool) throws -> T) rethrows -> T {
        pending.store(0, ordering: .relaxed)
        generating.store(true, ordering: .relaxed)
        defer { generating.store(false, ordering: .relaxed); pending.store(0, ordering: .relaxed) }
        return try body { pending.load(ordering: .relaxed) > 0 }
    }
}
