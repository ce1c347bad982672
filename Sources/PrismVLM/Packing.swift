// Packed batches (specs/kimi_vl.md §5, ARCHITECTURE "Packing"): several sequences back to back in one flat
// token list plus cu_seqlens; attention never crosses a boundary and nothing is padded.

public struct PackedBatch: Equatable, Sendable {
    /// All tokens, sequence after sequence.
    public let tokens: [Int]
    public let lengths: [Int]
    /// [0, l0, l0+l1, …] — sequence s owns rows cuSeqlens[s] ..< cuSeqlens[s+1].
    public let cuSeqlens: [Int]

    public init(_ sequences: [[Int]]) {
        tokens = sequences.flatMap { $0 }
        lengths = sequences.map(\.count)
        var cu = [0]
        for l in lengths { cu.append(cu.last! + l) }
        cuSeqlens = cu
    }

    /// Row of each sequence's last token (where its next-token logits come from).
    public var lastRows: [Int] { (0..<lengths.count).map { cuSeqlens[$0 + 1] - 1 } }

    /// Rows of sequence `s`.
    public func rows(_ s: Int) -> Range<Int> { cuSeqlens[s]..<cuSeqlens[s + 1] }
}
