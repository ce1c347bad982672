import ArgumentParser
import Foundation
import PrismChat
import PrismIO
import PrismSAM
import PrismServe
import PrismTokenizer
import PrismVLM

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the models over an OpenAI-compatible HTTP API (chat with images, segmentation).",
        discussion: """
        POST /v1/chat/completions (OpenAI schema, streaming with stream: true), POST /v1/segment (SAM masks as \
        COCO RLE), GET /v1/models, /health and /metrics (Prometheus). Requests share one engine that decodes all \
        running answers as one packed batch per step. Binds to 127.0.0.1 unless --host says otherwise; SIGTERM \
        finishes the requests in flight, then exits.
        """)

    @OptionGroup var modelArguments: ModelArguments
    @OptionGroup var precisionArguments: PrecisionArguments
    @Option(help: "Segmentation model for /v1/segment (default: the embedded Weights/prism-sam-tiny).") var samModel: String?
    @Option(help: "Address to bind (127.0.0.1 = this machine only).") var host = "127.0.0.1"
    @Option(help: "TCP port (0 picks a free one and prints it).") var port = 8080
    @Option(help: "Answers generated together in one packed batch.") var parallel = 16
    @Option(help: "Requests waiting beyond the running ones before new ones get 429.") var maxQueue = 64
    @Option(help: "Required as 'Authorization: Bearer KEY' on /v1/* (default: $PRISM_API_KEY, else none).") var apiKey: String?
    @Option(help: "Largest request body in bytes (413 beyond).") var maxBodyBytes = 16 << 20
    @Option(help: "Seconds a request may take, queue included (504 beyond).") var timeout = 300.0
    @Option(help: "max_tokens for requests that give none.") var maxTokens = 512
    @Option(help: "Prompt tokens prefilled per engine step: a long prompt delays running answers by one chunk at most.")
    var prefillChunk = 512
    @Option(help: "Largest image in bytes (data URI, download or file).") var maxImageBytes = 10 << 20
    @Option(help: "Largest image in pixels (width × height), checked before decoding.") var maxImagePixels = 40_000_000
    @Option(help: "Seconds allowed to download an http(s) image.") var imageFetchTimeout = 10.0
    @Flag(help: "Accept local paths and file:// URLs as images (only for trusted clients).") var allowLocalFiles = false
    @Flag(inversion: .prefixedNo, help: "Download http(s) image URLs (--no-image-urls: data URIs only, no outbound requests).")
    var imageUrls = true
    @Option(help: "MiB of finished answers' KV kept for reuse by requests with the same prefix (0 = off).")
    var prefixCacheMib = 512
    @Option(help: "MiB of image embeddings kept by image bytes (0 = off).") var visionCacheMib = 256

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0…65535") }
        guard parallel >= 1 else { throw ValidationError("--parallel must be ≥ 1") }
        guard maxQueue >= 0 else { throw ValidationError("--max-queue must be ≥ 0") }
        guard maxBodyBytes >= 1024 else { throw ValidationError("--max-body-bytes must be ≥ 1024") }
        guard timeout > 0 else { throw ValidationError("--timeout must be > 0") }
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be ≥ 1") }
        guard prefillChunk >= 1 else { throw ValidationError("--prefill-chunk must be ≥ 1") }
        guard (0...(1 << 20)).contains(prefixCacheMib), (0...(1 << 20)).contains(visionCacheMib) else {
            throw ValidationError("--prefix-cache-mib and --vision-cache-mib must be in 0…1048576")
        }
        guard maxImageBytes >= 1, maxImagePixels >= 1, imageFetchTimeout > 0 else {
            throw ValidationError("--max-image-bytes, --max-image-pixels and --image-fetch-timeout must be positive")
        }
    }

    func run() async throws {
        let files = try modelArguments.files()
        let dir = files.url
        let template = try ChatTemplate.load(explicit: modelArguments.template.map { URL(fileURLWithPath: $0) })
        let precision = try precisionArguments.resolve()
        let chat = try KimiVLEngine(files: files, template: template, precision: precision,
                                    options: EngineOptions(maxBatch: parallel, prefillChunk: prefillChunk,
                                                           prefixCacheBytes: prefixCacheMib << 20, visionCacheBytes: visionCacheMib << 20))
        let samDir = samModel.map { URL(fileURLWithPath: $0) } ?? ProjectPaths.locate(SegmentCommand.defaultModel)
        let sam = try samDir.map { try SamPredictor(directory: $0, precision: precision) }

        var options = ServeOptions()
        options.host = host; options.port = port; options.parallel = parallel; options.maxQueue = maxQueue
        options.apiKey = apiKey ?? ProcessInfo.processInfo.environment["PRISM_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        options.maxBodyBytes = maxBodyBytes; options.requestTimeout = timeout; options.defaultMaxTokens = maxTokens
        options.images = ImageLimits(maxBytes: maxImageBytes, maxPixels: maxImagePixels, fetchTimeout: imageFetchTimeout,
                                     allowLocalFiles: allowLocalFiles)
        options.images.allowURLs = imageUrls
        let server = PrismServer(chat: chat, chatName: dir.standardizedFileURL.lastPathComponent, sam: sam,
                                 samName: samDir?.standardizedFileURL.lastPathComponent ?? "", options: options)
        let models = server.modelNames.joined(separator: ", ")
        try await server.run { bound in
            Terminal.writeErr("prism serve: \(models) on http://\(host):\(bound) (parallel \(parallel), queue \(maxQueue))\n")
        }
        Terminal.writeErr("prism serve: stopped\n")
    }
}
