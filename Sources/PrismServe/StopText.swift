// OpenAI's `stop` strings work on text, not tokens: the answer ends before the first occurrence of any of
// them, and text that might be the start of one is held back until it is known not to be.

struct StopText {
    let stops: [String]
    /// Decoded text not handed out yet: the end that could still begin a stop string.
    private var pending = ""
    private(set) var answer = ""
    private(set) var stopped = false

    init(_ stops: [String]) { self.stops = stops.filter { !$0.isEmpty } }

    /// Adds decoded text; returns what can be sent now (never part of a stop string or what follows it).
    /// A stop string cannot begin in text already sent, since that text was held back while it could.
    mutating func append(_ piece: String) -> String {
        guard !stopped else { return "" }
        pending += piece
        if let cut = stops.compactMap({ pending.range(of: $0)?.lowerBound }).min() {
            stopped = true
            return send(String(pending[..<cut]), keep: "")
        }
        let held = heldBack()
        return send(String(pending.dropLast(held)), keep: String(pending.suffix(held)))
    }

    /// What was held back, once the answer ended without reaching a stop string.
    mutating func finish() -> String { stopped ? "" : send(pending, keep: "") }

    /// Length of the longest end of `pending` that begins some stop string.
    private func heldBack() -> Int {
        var longest = 0
        for s in stops {
            var n = min(s.count - 1, pending.count)
            while n > longest {
                if pending.hasSuffix(s.prefix(n)) { longest = n; break }
                n -= 1
            }
        }
        return longest
    }

    private mutating func send(_ out: String, keep: String) -> String {
        pending = keep
        answer += out
        return out
    }
}
