// swift-tools-version:6.1
// Prism: a CPU-first vision-language pipeline (Kimi-VL-shaped VLM, SAM-style segmenter, TFRecord tools).
import PackageDescription

// System libraries come from Debian's -dev packages (Tools/setup.sh installs them).
func system(_ name: String, _ pkg: String, _ apt: String) -> Target {
    .systemLibrary(name: name, pkgConfig: pkg, providers: [.apt([apt])])
}

let package = Package(
    name: "Prism",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "prism", targets: ["prism"]),
        .library(name: "PrismCore", targets: ["PrismCore"]),
        .library(name: "PrismIO", targets: ["PrismIO"]),
        .library(name: "PrismData", targets: ["PrismData"]),
        .library(name: "PrismTokenizer", targets: ["PrismTokenizer"]),
        .library(name: "PrismVLM", targets: ["PrismVLM"]),
        .library(name: "PrismSAM", targets: ["PrismSAM"]),
        .library(name: "PrismChat", targets: ["PrismChat"]),
        .library(name: "PrismServe", targets: ["PrismServe"]),
        .library(name: "PrismBatch", targets: ["PrismBatch"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // `prism serve`: HTTP server and Prometheus metrics. Hummingbird's default traits pull in swift-configuration,
        // which Prism does not use; leaving them off keeps the build shorter. Image URLs are fetched with Foundation's
        // URLSession (libcurl), not AsyncHTTPClient, whose BoringSSL build would add minutes to every CI run.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.100.0"),
    ],
    targets: [
        system("CBLAS", "openblas", "libopenblas-dev"),
        system("CJPEG", "libjpeg", "libjpeg-dev"),
        system("CPNG", "libpng", "libpng-dev"),
        system("CZlib", "zlib", "zlib1g-dev"),
        system("CProtobufC", "libprotobuf-c", "libprotobuf-c-dev"),
        system("CEdit", "libedit", "libedit-dev"),
        // oneDNN: Debian's libdnnl-dev has no pkg-config file, so the module map links "dnnl" itself.
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        system("CCrypto", "libcrypto", "libssl-dev"),

        // Small C kernels: f16 widening with F16C where the CPU has it.
        .target(name: "CPrismKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // CRC32C (Castagnoli): SSE4.2 instruction with a table fallback; Debian ships no crc32c library.
        .target(name: "CCRC32C", cSettings: [.unsafeFlags(["-O3"])]),
        // Zero-copy tf.Example / SequenceExample scanner (PrismData's decoder; protobuf-c is its reference in tests).
        .target(name: "CExampleWire", cSettings: [.unsafeFlags(["-O3"])]),
        // protobuf-c code generated from Protos/*.proto (command in Sources/CExampleProto/README).
        .target(name: "CExampleProto", dependencies: ["CProtobufC"], exclude: ["README.md"]),

        .target(name: "PrismCore", dependencies: ["CBLAS", "CDNNL", "CPrismKernels"],
                swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        // libjpeg / libpng behind return codes (their errors longjmp, which Swift cannot catch).
        .target(name: "CImageCodecs", dependencies: ["CJPEG", "CPNG"]),
        .target(name: "PrismIO", dependencies: ["PrismCore", "CImageCodecs", "CCrypto"]),
        .target(name: "PrismTokenizer", dependencies: ["PrismIO"]),
        .target(name: "PrismData", dependencies: ["PrismIO", "CZlib", "CCRC32C", "CExampleProto", "CExampleWire", "CProtobufC"]),
        .target(name: "PrismVLM", dependencies: ["PrismCore", "PrismIO", "PrismTokenizer"]),
        .target(name: "PrismSAM", dependencies: ["PrismCore", "PrismIO"]),
        // The chat REPL's logic (commands, state, transcript, loop) with injected I/O and engines.
        .target(name: "PrismChat", dependencies: ["PrismCore", "PrismIO", "PrismTokenizer", "PrismVLM", "PrismSAM"]),
        // `prism serve`: OpenAI-compatible routes, request/response types, SSE, limits and metrics over the engine.
        .target(name: "PrismServe", dependencies: [
            "PrismCore", "PrismIO", "PrismTokenizer", "PrismVLM", "PrismSAM", "PrismChat",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        // `ask --batch` / `segment --batch`: dataset rows (PrismData's record numbering) through the engine or SAM.
        .target(name: "PrismBatch", dependencies: ["PrismCore", "PrismIO", "PrismData", "PrismTokenizer", "PrismVLM", "PrismSAM", "PrismChat"]),
        .executableTarget(name: "prism", dependencies: [
            "PrismCore", "PrismIO", "PrismData", "PrismTokenizer", "PrismVLM", "PrismSAM", "PrismChat", "PrismServe", "PrismBatch", "CEdit",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .target(name: "PrismTestSupport", dependencies: ["PrismCore", "PrismIO"], path: "Tests/PrismTestSupport"),
        .testTarget(name: "PrismCoreTests", dependencies: ["PrismCore", "PrismTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "PrismIOTests", dependencies: ["PrismIO", "PrismTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "PrismDataTests", dependencies: ["PrismData", "PrismTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "PrismTokenizerTests", dependencies: ["PrismTokenizer", "PrismTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "PrismVLMTests", dependencies: ["PrismVLM", "PrismTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "PrismSAMTests", dependencies: ["PrismSAM", "PrismTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "PrismChatTests", dependencies: ["PrismChat", "PrismTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "PrismServeTests", dependencies: ["PrismServe", "PrismTestSupport"]),
        .testTarget(name: "PrismBatchTests", dependencies: ["PrismBatch", "PrismData", "PrismChat", "PrismVLM", "PrismSAM", "PrismTokenizer", "PrismTestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
