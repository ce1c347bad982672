// Model output reaches the terminal and transcripts as the model wrote it, except control characters: C0 (other
// than newline and tab), DEL and C1 (U+0080…U+009F) become visible escapes ("\x1b"), so an answer cannot move the
// cursor, recolour or clear the screen, or hide text in a saved transcript.

public enum TerminalText {
    public static func escapingControls(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: isControl) else { return s }
        var out = String.UnicodeScalarView()
        for u in s.unicodeScalars {
            if isControl(u) {
                let hex = String(u.value, radix: 16)
                out.append(contentsOf: ("\\x" + (hex.count < 2 ? "0" + hex : hex)).unicodeScalars)
            } else {
                out.append(u)
            }
        }
        return String(out)
    }

    static func isControl(_ u: Unicode.Scalar) -> Bool {
        (u.value < 0x20 && u != "\n" && u != "\t") || (0x7F...0x9F).contains(u.value)
    }
}
