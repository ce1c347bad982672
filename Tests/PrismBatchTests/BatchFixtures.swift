import Foundation
import PrismData
import PrismIO
import PrismTestSupport
import PrismTokenizer

/// Small inputs for batch jobs: PNG images drawn per seed, JSONL rows that name them, TFRecords that hold them.
enum BatchFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// The chat fixture model (random weights: every row gets much the same answer; for CLI plumbing).
    static let chatModel = root.appendingPathComponent("Tests/PrismChatTests/Fixtures/chat_tiny")
    /// The embedded trained model: answers depend on the image and the question, so a row mixed up shows.
    static let embeddedModel = root.appendingPathComponent("Weights/prism-vl-tiny")
    static let template = try! ChatTemplate.load(explicit: root.appendingPathComponent("Prompts"))

    /// A w×h PNG whose pixels depend on `seed` (distinct seeds, distinct images and digests).
    static func png(_ seed: Int, width: Int = 48, height: Int = 40) throws -> Data {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let inside = abs(x - width / 2) < width / 4 + seed % 5 && abs(y - height / 2) < height / 4
                let i = (y * width + x) * 3
                pixels[i] = UInt8((seed * 53 + (inside ? 200 : 20)) % 256)
                pixels[i + 1] = UInt8((seed * 29 + x * 3) % 256)
                pixels[i + 2] = UInt8((seed * 71 + y * 5 + (inside ? 90 : 0)) % 256)
            }
        }
        return try encodePNG(pixels: pixels, width: width, height: height, channels: 3)
    }

    /// Writes images/img<seed>.png for each seed into `dir`; returns their paths relative to `dir`.
    @discardableResult
    static func images(_ seeds: [Int], in dir: URL) throws -> [String] {
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("images"), withIntermediateDirectories: true)
        return try seeds.map { seed in
            let name = "images/img\(seed).png"
            try png(seed).write(to: dir.appendingPathComponent(name))
            return name
        }
    }

    /// A JSONL file of `lines` (each one JSON object's text).
    static func jsonl(_ lines: [String], at url: URL) throws {
        try Data(lines.map { $0 + "\n" }.joined().utf8).write(to: url)
    }

    /// A TFRecord of tf.Examples holding image/encoded, question and id.
    static func tfrecord(_ rows: [(image: Data, question: String, id: String)], at url: URL) throws {
        let writer = try TFRecordWriter(path: url.path, compression: TFRecordCompression.none)
        for r in rows {
            try writer.write(Example(["image/encoded": .bytes([Array(r.image)]), "question": .strings([r.question]),
                                      "id": .strings([r.id])]))
        }
        try writer.close()
    }

    static func lines(_ url: URL) throws -> [String] {
        String(decoding: try Data(contentsOf: url), as: UTF8.self).split(separator: "\n").map(String.init)
    }

    static func object(_ line: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
    }
}
