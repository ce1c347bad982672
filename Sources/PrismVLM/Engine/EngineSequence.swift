// One request's life inside the engine: its prompt's position keys, its own MLA latent cache, how far its
// prompt is prefilled, its sampler and output.
import Foundation
import PrismCore

final class EngineSequence {
    let id: Int
    let request: GenerationRequest
    let onEvent: (GenerationEvent) -> Bool
    /// What each prompt position stands for (prefix-cache identity).
    let keys: [PositionKey]
    /// For image i, the prompt positions of its `<|media_pad|>` rows.
    let imagePositions: [[Int]]
    /// Tokens it may generate: maxTokens, less when the context would overflow.
    let budget: Int

    var cache: KVCache!
    /// Keys of the rows in `cache` (prompt positions, then the generated tokens fed back).
    var cacheKeys: [PositionKey] = []
    /// Prompt positions already in the cache.
    var prefilled = 0
    /// Embeddings of prompt positions prefilled ..< count, once its images are encoded.
    var pending: Tensor?
    /// The last sampled token, to be fed at the next step (nil while prefilling).
    var next: Int?
    var sampler: Sampler
    /// What the repetition penalty sees: prompt text tokens, then the output.
    var history: [Int]
    var output: [Int] = []
    var usage = GenerationUsage()
    var isFinished = false
    let submitted = DispatchTime.now().uptimeNanoseconds
    var admitted: UInt64 = 0, firstToken: UInt64 = 0

    init(id: Int, request: GenerationRequest, keys: [PositionKey], mediaPadId: Int, contextLimit: Int,
         onEvent: @escaping (GenerationEvent) -> Bool) {
        self.id = id
        self.request = request
        self.keys = keys
        self.onEvent = onEvent
        let tokens = request.prompt.tokens
        budget = min(request.maxTokens, contextLimit - tokens.count)
        sampler = Sampler(request.sampling)
        history = tokens.filter { $0 != mediaPadId }
        usage.promptTokens = tokens.count
        // the k-th pad belongs to the image whose token counts cover k (images in order)
        var positions = request.prompt.images.map { _ in [Int]() }
        var image = 0
        for (p, t) in tokens.enumerated() where t == mediaPadId && image < positions.count {
            positions[image].append(p)
            if positions[image].count == request.prompt.images[image].tokenCount { image += 1 }
        }
        imagePositions = positions
    }

    /// Images with a pad row not yet in the cache.
    var neededImages: [Int] { imagePositions.indices.filter { imagePositions[$0].last.map { $0 >= prefilled } ?? false } }

    /// Embeddings [count − prefilled, D] of the rest of the prompt, image rows spliced in from `imageEmbeddings`
    /// (one per `needed` image; an image cut by the cached prefix contributes only its uncached rows).
    func remainingEmbeddings(imageEmbeddings: [Tensor], needed: [Int], model: KimiVL) throws -> Tensor {
        let rest = Array(request.prompt.tokens[prefilled...])
        var rows: [Tensor] = []
        for (i, e) in zip(needed, imageEmbeddings) {
            let skip = imagePositions[i].filter { $0 < prefilled }.count
            rows.append(skip == 0 ? e : e.slice(rows: skip..<e.rows))
        }
        usage.imageTokens = rows.reduce(0) { $0 + $1.rows }
        return try model.embed(tokens: rest, imageEmbeddings: rows.isEmpty ? nil : Tensor.concatenate(rows: rows))
    }
}
