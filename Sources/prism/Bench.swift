import ArgumentParser
import Foundation
import PrismCore
import PrismIO
import PrismSAM
import PrismVLM
#if canImport(Glibc)
import Glibc
#endif

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run benchmarks, reported as ratios against baselines measured in the same run.",
        subcommands: [CoreBench.self, SamBenchCommand.self, VLMBench.self, PrefillBenchCommand.self, EngineBench.self])
}

/// Wall-clock seconds of the best of `runs` calls (after one warm-up).
func bestTime(runs: Int, _ body: () -> Void) -> Double {
    body()
    var best = Double.infinity
    for _ in 0..<max(1, runs) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    return best
}

/// This process's peak resident set: VmHWM, which starts afresh at exec. (getrusage's ru_maxrss keeps the peak of
/// the process image before exec: a `prism bench` started by a Python script holding GBs reported the script's RSS.)
func peakResidentBytes() -> Int {
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
       let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
       let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") {
        return kb * 1024
    }
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Int(usage.ru_maxrss) * 1024
}

/// Sums `count` SIMD vectors split over the cores: a read-bandwidth probe the compiler cannot skip.
func streamSum(_ p: UnsafePointer<SIMD16<Float>>, count: Int) -> Float {
    let partial = UnsafeMutablePointer<Float>.allocate(capacity: Parallel.threads)
    defer { partial.deallocate() }
    partial.initialize(repeating: 0, count: Parallel.threads)
    Parallel.forEach(count, minChunk: 1 << 16) { r in
        var acc = SIMD16<Float>(repeating: 0)
        for i in r { acc += p[i] }
        partial[r.lowerBound * Parallel.threads / count] = acc.sum()
    }
    return (0..<Parallel.threads).reduce(0) { $0 + partial[$1] }
}

struct CoreBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "core",
        abstract: "Matrix products (OpenBLAS, oneDNN f32 and bf16, with the kernel oneDNN chose), attention and "
            + "memory-bound kernels against the sgemm peak and the memory-bandwidth roofline.")

    @Option(help: "Timed repetitions per measurement (best is reported).") var runs = 5
    @OptionGroup var precisionArguments: PrecisionArguments

    func validate() throws { guard runs > 0 else { throw ValidationError("--runs must be positive") } }

    func run() throws {
        let precision = try precisionArguments.resolve()
        printComputeHeader(precision: precision)
        print("threads: \(Parallel.threads)   F16C/AVX2 conversion kernels: \(Convert.hasF16C ? "yes" : "no")")

        // Baseline 1: OpenBLAS sgemm peak on a square 2048 problem; then oneDNN's sgemm on the same operands.
        let n = 2048
        let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        func sgemmRate(_ library: BLAS.Backend) -> Double {
            let t = a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
                bestTime(runs: runs) {
                    BLAS.sgemm(using: library, m: n, n: n, k: n, a: pa.baseAddress!, lda: n, b: pb.baseAddress!, ldb: n,
                               c: pc.baseAddress!, ldc: n)
                }
            }}}
            return 2 * Double(n * n * n) / t / 1e9
        }
        let peak = sgemmRate(.openBLAS)
        print(String(format: "sgemm 2048³ OpenBLAS (baseline)         %8.1f GFLOP/s", peak))
        let dnnlSgemm = sgemmRate(.oneDNN)
        print(String(format: "sgemm 2048³ oneDNN                      %8.1f GFLOP/s %5.2f× OpenBLAS", dnnlSgemm, dnnlSgemm / peak))
        // oneDNN's matmul at both precisions, weights pre-packed as `linear` packs them.
        for p in Precision.allCases {
            if let rate = gemmRate(p, runs: runs) {
                print(String(format: "matmul %@ 2048³ oneDNN %-22@ %8.1f GFLOP/s %5.2f× sgemm", p.rawValue, "[\(rate.implementation)]",
                             rate.gflops, rate.gflops / peak))
            } else {
                print("matmul \(p.rawValue) 2048³ oneDNN: no native kernel on this CPU (oneDNN reports \(ComputeCPU.current.isa))")
            }
        }

        // Attention at the run's precision: SAM ViT-B's global layer (4096 tokens, 12 heads × 64), tiled.
        let (t, heads, hd) = (4096, 12, 64)
        var rng = SplitMix64(seed: 1)
        let qkv = (0..<3).map { _ in Tensor(shape: [t, heads, hd], data: (0..<(t * heads * hd)).map { _ in Float(rng.nextUnit() - 0.5) }) }
        let tAttn = bestTime(runs: max(1, runs / 2)) {
            _ = flashAttention(q: qkv[0], k: qkv[1], v: qkv[2], cuSeqlensQ: [0, t], cuSeqlensK: [0, t], scale: 0.125, precision: precision)
        }
        let attnGF = 4 * Double(t * t * heads * hd) / tAttn / 1e9
        // baseline: row blocks of 256 queries against all keys, each GEMM threaded by the BLAS (f32)
        let tRows = bestTime(runs: max(1, runs / 2)) {
            _ = blockedAttention(q: qkv[0], k: qkv[1], v: qkv[2], cuSeqlensQ: [0, t], cuSeqlensK: [0, t], scale: 0.125)
        }
        let rowsGF = 4 * Double(t * t * heads * hd) / tRows / 1e9
        let reference = gemmRate(precision, runs: runs)?.gflops ?? peak
        print(String(format: "attention f32 4096² ×12×64, 256-row blocks (baseline) %6.1f GFLOP/s", rowsGF))
        print(String(format: "flash attention %@ 4096² ×12×64     %8.1f GFLOP/s %5.2f× %@ GEMM rate, %5.2f× baseline",
                     precision.rawValue, attnGF, attnGF / reference, precision.rawValue, attnGF / rowsGF))

        // Baseline 2: memory bandwidth, a 256 MiB copy (read + write).
        let bytes = 256 << 20
        let src = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        let dst = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { src.deallocate(); dst.deallocate() }
        memset(src, 1, bytes); memset(dst, 0, bytes)
        let tCopy = bestTime(runs: runs) { memcpy(dst, src, bytes) }
        let bandwidth = 2 * Double(bytes) / tCopy / 1e9
        print(String(format: "memcpy 256 MiB (baseline)         %8.2f GB/s (read+write)", bandwidth))
        // Read-only streaming on both cores (what a decode step does to its weights).
        let tRead = bestTime(runs: runs) { _ = streamSum(src.assumingMemoryBound(to: SIMD16<Float>.self), count: bytes / 64) }
        let readBW = Double(bytes) / tRead / 1e9
        print(String(format: "read 256 MiB (baseline)           %8.2f GB/s (read only, %d threads)", readBW, Parallel.threads))

        // bf16 → f32 widening: reads 2 B and writes 4 B per value.
        let count = bytes / 4
        let tWiden = bestTime(runs: runs) {
            Convert.bf16ToF32(src.assumingMemoryBound(to: UInt16.self), dst.assumingMemoryBound(to: Float.self), count: count)
        }
        let widenBW = 6 * Double(count) / tWiden / 1e9
        print(String(format: "bf16→f32 widen                    %8.2f GB/s   %5.2f× memcpy", widenBW, widenBW / bandwidth))

        // Prefill-shaped linear with bf16 weights: GEMM-bound, compared with sgemm peak.
        let (m, k, o) = (128, 2048, 5632)
        let w16 = Convert.f32ToBF16([Float](repeating: 0.01, count: o * k))
        let x = Tensor(repeating: 1, shape: [m, k])
        let tLin = w16.withUnsafeBytes { raw -> Double in
            let view = TensorView(name: "w", dtype: .bf16, shape: [o, k], bytes: raw, owner: nil).computed(in: precision)
            return bestTime(runs: runs) { _ = linear(x, view) }
        }
        let linGF = 2 * Double(m * k * o) / tLin / 1e9
        let impl = precision == .bf16 ? MatmulBenchmark.linearImplementation(precision: .bf16, m: m, n: o, k: k)
            : "widen + oneDNN per worker"
        print(String(format: "linear bf16 weights, %@ [128×2048]·[5632×2048]ᵀ %6.1f GFLOP/s %5.2f× sgemm peak [%@]", precision.rawValue,
                     linGF, linGF / peak, impl))

        // Decode-shaped linear (one token): bandwidth-bound, compared with the memcpy roofline.
        // 128 MiB of weights, far larger than any cache.
        let big = 32768
        let wBig = Convert.f32ToBF16([Float](repeating: 0.01, count: big * k))
        let x1 = Tensor(repeating: 1, shape: [1, k])
        let tGemv = wBig.withUnsafeBytes { raw -> Double in
            let view = TensorView(name: "w", dtype: .bf16, shape: [big, k], bytes: raw, owner: nil)
            return bestTime(runs: runs) { _ = linear(x1, view) }
        }
        let gemvBW = Double(big * k * 2) / tGemv / 1e9
        print(String(format: "linear bf16 one token [32768×2048] %7.2f GB/s of weights  %5.2f× read roofline", gemvBW, gemvBW / readBW))

        // Opening a 1 GiB checkpoint: mmap + header parse, no data read.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("prism-bench-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("big.safetensors")
        let elements = 1 << 29
        let header = #"{"w":{"dtype":"BF16","shape":[\#(elements)],"data_offsets":[0,\#(elements * 2)]}}"#
        var head = Data(); var hn = UInt64(header.utf8.count).littleEndian
        head.append(Data(bytes: &hn, count: 8)); head.append(Data(header.utf8))
        try head.write(to: url)
        let fh = try FileHandle(forWritingTo: url)
        try fh.truncate(atOffset: UInt64(head.count + elements * 2)); try fh.close()
        let tOpen = bestTime(runs: runs) { _ = try? SafetensorsFile(path: url.path).view("w") }
        print(String(format: "open 1 GiB bf16 safetensors       %8.3f ms", tOpen * 1e3))
    }
}

/// CPU, oneDNN and precision: the first lines of every benchmark (README tables name them).
func printComputeHeader(precision: Precision) {
    let cpu = ComputeCPU.current
    print("CPU: \(ComputeCPU.modelName) · oneDNN \(ComputeCPU.oneDNNVersion), ISA \(cpu.isa), native bf16: \(cpu.hasNativeBF16 ? "yes" : "no")"
          + " · large f32 GEMMs: \(BLAS.backend.rawValue) · precision: \(precision)")
}

/// oneDNN matmul 2048³ at `precision` (weights pre-packed): the rate the model benchmarks are compared with.
func gemmRate(_ precision: Precision, runs: Int) -> (gflops: Double, implementation: String)? {
    guard let bench = MatmulBenchmark(precision: precision, m: 2048, n: 2048, k: 2048) else { return nil }
    let t = bestTime(runs: runs) { bench.run() }
    return (bench.flops / t / 1e9, bench.implementation)
}

struct SamBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sam",
        abstract: "SAM encoder seconds and per-prompt decoder milliseconds (Tools/bench/sam/bench.py adds PyTorch).")

    @Option(name: .customShort("m"), help: "SAM model directory (e.g. a random ViT-B written by Tools/bench/sam/bench.py).")
    var model: String
    @Option(help: "Timed encoder passes (the decoder runs 10× as many prompts).") var runs = 3
    @OptionGroup var precisionArguments: PrecisionArguments

    func validate() throws { guard runs > 0 else { throw ValidationError("--runs must be positive") } }

    func run() throws {
        let precision = try precisionArguments.resolve()
        printComputeHeader(precision: precision)
        let r = try benchmarkSAM(modelDirectory: URL(fileURLWithPath: model), runs: runs, precision: precision)
        print(String(format: "encoder: %.3f s\ndecoder: %.2f ms", r.encoderSeconds, r.decoderMilliseconds))
    }
}

struct PrefillBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prefill",
        abstract: "Kimi-VL: MoonViT on one image, text prefill and time to first token, against the GEMM rate of the same run.",
        discussion: """
        For the full A3B shape without 33 GB of weights: python3 Tools/make_random_checkpoint.py --preset full --layers 4 \
        --out DIR, then prism bench prefill -m DIR. Rates count matrix-product FLOPs only (attention included, causal half).
        """)

    @Option(name: .customShort("m"), help: "Model: checkpoint directory, GGUF text model, or a directory with a GGUF pair.") var model: String
    @Option(help: "Side of the square test image in pixels (896 → 4096 patches).") var imageSide = 896
    @Option(help: "Text tokens in the prefill measurement.") var tokens = 1024
    @Option(help: "Text tokens after the image in the time-to-first-token measurement.") var question = 20
    @Option(help: "Timed repetitions (best is reported).") var runs = 1
    @OptionGroup var precisionArguments: PrecisionArguments

    func validate() throws {
        guard runs > 0, tokens > 0, question > 0 else { throw ValidationError("--runs, --tokens and --question must be positive") }
        guard imageSide >= 28 else { throw ValidationError("--image-side must be at least 28") }
    }

    func run() throws {
        let precision = try precisionArguments.resolve()
        printComputeHeader(precision: precision)
        let rate = gemmRate(precision, runs: 3)
        let reference = rate?.gflops ?? gemmRate(.f32, runs: 3)!.gflops
        print(String(format: "GEMM rate (baseline): %.1f GFLOP/s, oneDNN %@ 2048³ [%@]", reference, precision.rawValue,
                     rate?.implementation ?? "f32: no native bf16"))
        let m = try ModelFiles.resolve(URL(fileURLWithPath: model)).loadModel(precision: precision)
        let r = try benchmarkVLM(m, imageSide: imageSide, tokens: tokens, question: question, runs: runs)
        func line(_ what: String, _ seconds: Double, _ flops: Double) {
            let gf = flops / seconds / 1e9
            print(String(format: "%@ %8.2f s  %8.1f GFLOP/s  %5.2f× GEMM rate", what, seconds, gf, gf / reference))
        }
        if r.patches > 0 {
            line(String(format: "vision %d×%d (%d patches) + projector", imageSide, imageSide, r.patches).padding(toLength: 44, withPad: " ", startingAt: 0),
                 r.visionSeconds, r.visionFLOPs)
        }
        line("prefill \(r.tokens) tokens".padding(toLength: 44, withPad: " ", startingAt: 0), r.prefillSeconds, r.prefillFLOPs)
        if r.ttftTokens > 0 {
            print(String(format: "time to first token, 1 image + %d text tokens (%d tokens)  %.2f s", question, r.ttftTokens, r.ttftSeconds))
        }
    }
}

/// Decode and prefill of a Kimi-VL model against the read-bandwidth roofline measured in the same run.
struct VLMBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vlm",
        abstract: "Kimi-VL decode and prefill speed against the memory-bandwidth roofline (Tools/bench/vlm adds llama.cpp).",
        discussion: """
        The roofline of decoding is the weight bytes one token reads (every text-model weight except the unused \
        experts and embedding rows) divided by the read bandwidth measured here (the mean of probes before loading \
        and between four decode segments, since a shared host's bandwidth drifts). Prefill is timed after a warm-up \
        with the same prompt. Also times the two prefill paths of block-quantised weights (integer kernels vs. \
        dequantised tiles into the float GEMM) on one layer's weights.
        """)

    @Option(name: .customShort("m"), help: "Model: checkpoint directory, GGUF text model, or a directory with a GGUF pair.")
    var model: String
    @Option(help: "Prompt tokens for the prefill measurement.") var promptTokens = 128
    @Option(help: "Tokens decoded (after a warm-up of 4).") var decodeTokens = 32
    @Option(help: "Prefill-path sweep over these row counts on one layer's weights (empty: skip).") var paths: [Int] = [1, 8, 16, 32, 64, 128]
    @Flag(help: "Print one JSON object.") var json = false
    @OptionGroup var precisionArguments: PrecisionArguments

    func validate() throws {
        guard promptTokens > 0 && decodeTokens > 0 else { throw ValidationError("token counts must be positive") }
    }

    func run() throws {
        // Baseline: read-only streaming bandwidth on all threads (what decode does to its weights). The host's
        // bandwidth drifts (11–20 GB/s between runs on the shared AVX2 machine), so it is probed before loading and
        // again between the decode segments, and the roofline uses the mean of the probes.
        func probeBandwidth() -> Double {
            let bytes = 256 << 20
            let src = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            defer { src.deallocate() }
            memset(src, 1, bytes)
            return Double(bytes) / bestTime(runs: 3) { _ = streamSum(src.assumingMemoryBound(to: SIMD16<Float>.self), count: bytes / 64) }
        }
        var probes = [probeBandwidth()]

        let t0 = DispatchTime.now().uptimeNanoseconds
        let files = try ModelFiles.resolve(URL(fileURLWithPath: model))
        let m = try files.loadModel(precision: precisionArguments.resolve())
        let loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let parts = m.decoder.bytesPerDecodedToken
        let perToken = parts.reduce(0) { $0 + $1.bytes }
        let vocab = m.textConfig.vocabSize

        // prefill: a prompt of ids spread over the vocabulary (Tools/bench/vlm/bench.py gives llama.cpp the same)
        let prompt = (0..<promptTokens).map { ($0 * 7919 + 13) % min(vocab, 100_000) }
        // warm-up with the whole prompt: it maps every weight page the prompt touches, as llama.cpp's load does
        _ = try m.prefill(Prompt(tokens: prompt), cache: m.newCache())
        let cache = m.newCache()
        let tp = DispatchTime.now().uptimeNanoseconds
        var logits = try m.prefill(Prompt(tokens: prompt), cache: cache)
        let prefillSeconds = Double(DispatchTime.now().uptimeNanoseconds - tp) / 1e9

        // decode: greedy, after 4 warm-up steps
        var greedy: [Int] = []
        func step() throws {
            let next = logits.indices.max { logits[$0] < logits[$1] }!
            greedy.append(next)
            logits = try m.decode(token: next == m.mediaPadId ? 0 : next, cache: cache)
        }
        for _ in 0..<4 { try step() }
        // peak RSS of loading, prefill and decoding, before the probes' buffers come and go
        let peakRSS = peakResidentBytes()
        // decode in 4 segments with a bandwidth probe after each
        var decodeNanos: UInt64 = 0
        for segment in 0..<4 {
            let td = DispatchTime.now().uptimeNanoseconds
            for _ in (decodeTokens * segment / 4)..<(decodeTokens * (segment + 1) / 4) { try step() }
            decodeNanos += DispatchTime.now().uptimeNanoseconds - td
            probes.append(probeBandwidth())
        }
        let decodeSeconds = Double(decodeNanos) / 1e9 / Double(decodeTokens)
        let bandwidth = probes.reduce(0, +) / Double(probes.count)
        let roofline = Double(perToken) / bandwidth

        // the integer kernels on all rows at once, the same kernels one input row at a time (decode's single-row
        // kernel: what prompts cost before the multi-row kernels), and widened tiles into the float GEMM
        var sweep: [(rows: Int, integer: Double, rowByRow: Double, gemm: Double)] = []
        if let w = sweepWeight(m), !paths.isEmpty {
            for rows in paths where rows > 0 {
                let x = Tensor(repeating: 0.5, shape: [rows, w.lastDim])
                let ti = bestTime(runs: 3) { _ = quantizedLinear(x, w, path: .integer) }
                let tr = bestTime(runs: 3) { for i in 0..<rows { _ = quantizedLinear(x.slice(rows: i..<(i + 1)), w, path: .integer) } }
                let tg = bestTime(runs: 3) { _ = quantizedLinear(x, w, path: .dequantizedGEMM) }
                sweep.append((rows, ti, tr, tg))
            }
        }

        if json {
            let object: [String: Any] = [
                "model": m.weightsSummary, "layers": m.textConfig.numHiddenLayers, "threads": Parallel.threads,
                "kernels": QuantizedBlocks.Variant.selected.name, "read_bandwidth_gbs": bandwidth / 1e9,
                "read_bandwidth_probes_gbs": probes.map { $0 / 1e9 },
                "bytes_per_token": perToken, "roofline_tok_s": 1 / roofline, "decode_tok_s": 1 / decodeSeconds,
                "decode_fraction_of_roofline": roofline / decodeSeconds, "prefill_tokens": promptTokens,
                "prefill_tok_s": Double(promptTokens) / prefillSeconds, "load_seconds": loadSeconds, "peak_rss_bytes": peakRSS,
                "prompt_ids": prompt, "greedy_ids": greedy,
                "prefill_paths": sweep.map { ["rows": $0.rows, "integer_ms": $0.integer * 1e3, "integer_row_by_row_ms": $0.rowByRow * 1e3,
                                              "dequantized_gemm_ms": $0.gemm * 1e3] },
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        print("model: \(m.weightsSummary), \(m.textConfig.numHiddenLayers) layers · threads \(Parallel.threads) · kernels \(QuantizedBlocks.Variant.selected.name)")
        print(String(format: "load                               %8.3f s   peak RSS %@", loadSeconds, formatBytes(peakRSS)))
        print(String(format: "read bandwidth (baseline)          %8.2f GB/s   mean of %d probes around the decode, %.2f–%.2f",
                     bandwidth / 1e9, probes.count, probes.min()! / 1e9, probes.max()! / 1e9))
        print(String(format: "weights read per token             %@ (%@)", formatBytes(perToken),
                     parts.filter { $0.bytes > 0 }.map { "\($0.part) \(formatBytes($0.bytes))" }.joined(separator: ", ")))
        print(String(format: "roofline decode                    %8.2f tok/s", 1 / roofline))
        print(String(format: "decode                             %8.2f tok/s   %5.1f%% of roofline", 1 / decodeSeconds, 100 * roofline / decodeSeconds))
        print(String(format: "prefill %4d tokens                 %8.2f tok/s", promptTokens, Double(promptTokens) / prefillSeconds))
        if !sweep.isEmpty, let w = sweepWeight(m) {
            print("prefill paths on \(w.name) \(w.dtype.rawValue) \(w.shape): rows, integer ms, integer row by row ms, dequantised GEMM ms")
            for s in sweep {
                print(String(format: "  %4d  %8.3f  %8.3f  %8.3f  %@", s.rows, s.integer * 1e3, s.rowByRow * 1e3, s.gemm * 1e3,
                             s.integer <= s.gemm ? "integer" : "gemm"))
            }
        }
    }

    /// A block-quantised weight of the first MoE layer (its first routed expert's gate projection).
    func sweepWeight(_ m: KimiVL) -> TensorView? { m.decoder.sampleQuantizedWeight }
}
