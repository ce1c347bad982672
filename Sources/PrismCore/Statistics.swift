// Summaries of repeated measurements (benchmarks report medians: a shared host's bursts hit single runs).

/// The middle value of `xs` (the mean of the two middle values for an even count); `xs` must not be empty.
public func median(_ xs: [Double]) -> Double {
    precondition(!xs.isEmpty, "median of no values")
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
