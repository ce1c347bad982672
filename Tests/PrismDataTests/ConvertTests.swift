import XCTest
@testable import PrismData

final class ConvertTests: XCTestCase {
    func examples(_ path: String) throws -> [Example] {
        let reader = try TFRecordReader(path: path)
        var out: [Example] = []
        while let example = try reader.nextExample() { out.append(example) }
        return out
    }

    func examples(inShards paths: [String]) throws -> [Example] { try paths.flatMap { try examples($0) } }

    func testShardFileNames() {
        XCTAssertEqual(shardFileName("train", index: 3, count: 8, compression: .gzip), "train-00003-of-00008.tfrecord.gz")
        XCTAssertEqual(shardFileName("data", index: 0, count: 1, compression: .none), "data-00000-of-00001.tfrecord")
        XCTAssertEqual(shardFileName("x", index: 12, count: 100000, compression: .zlib), "x-00012-of-100000.tfrecord.zz")
        XCTAssertEqual(ShardPlan.recordsPerShard(2).count(total: 5), 3)
        XCTAssertEqual(ShardPlan.recordsPerShard(5).count(total: 5), 1)
        XCTAssertEqual(ShardPlan.shards(4).count(total: 0), 4)
    }

    func testTFRecordToJSONLToTFRecordGivesIdenticalExamples() throws {
        let directory = try TemporaryDirectory()
        let inputs = ["tf_examples.tfrecord", "tf_zero_length.tfrecord", "pypi_tfrecord.tfrecord"].map(fixture)
        let original = try examples(inShards: inputs)
        let jsonl = try convertTFRecordsToJSONL(inputs, in: directory.file("jsonl"), options: ConvertOptions())
        XCTAssertEqual(jsonl.records, original.count)
        XCTAssertEqual(jsonl.outputs, [directory.file("jsonl/data.jsonl")])
        // Images are files with their original bytes, named in the JSONL.
        let images = try FileManager.default.contentsOfDirectory(atPath: directory.file("jsonl/images/data")).sorted()
        XCTAssertEqual(images, ["pypi_tfrecord-000000.png", "tf_examples-000000.jpg", "tf_examples-000001.png", "tf_zero_length-000000.png"])
        guard case .bytes(let jpeg)? = original[0]["image/encoded"] else { return XCTFail() }
        XCTAssertEqual(readBytes(directory.file("jsonl/images/data/tf_examples-000000.jpg")), jpeg[0])
        let firstLine = String(decoding: readBytes(directory.file("jsonl/data.jsonl")), as: UTF8.self).split(separator: "\n")[0]
        XCTAssertTrue(firstLine.hasPrefix("{\"image\":[\"images/data/tf_examples-000000.jpg\"],\"format\":[\"jpeg\"],\"height\":[4],\"width\":[3],"), String(firstLine))
        XCTAssertTrue(firstLine.contains("\"xmin\":[0.1,0.5]"))
        XCTAssertTrue(firstLine.contains("\"classes\":[\"cat\",\"chât 猫\"]"))

        for compression in TFRecordCompression.allCases {
            var options = ConvertOptions()
            options.shards = .shards(3)
            options.outputCompression = compression
            let back = try convertJSONL([directory.file("jsonl/data.jsonl")], toShardsIn: directory.file("back-\(compression)"), options: options)
            XCTAssertEqual(back.outputs.map { ($0 as NSString).lastPathComponent },
                           (0 ..< 3).map { shardFileName("data", index: $0, count: 3, compression: compression) })
            XCTAssertEqual(try examples(inShards: back.outputs), original, "\(compression)")
        }
    }

    func testKeepKeysRoundTripToo() throws {
        let directory = try TemporaryDirectory()
        let input = fixture("tf_examples.tfrecord")
        var options = ConvertOptions()
        options.featureMap = .none
        _ = try convertTFRecordsToJSONL([input], in: directory.path, options: options)
        XCTAssertTrue(String(decoding: readBytes(directory.file("data.jsonl")), as: UTF8.self).contains("\"image/object/bbox/xmin\":[0.1,0.5]"))
        let back = try convertJSONL([directory.file("data.jsonl")], toShardsIn: directory.file("out"), options: options)
        XCTAssertEqual(try examples(inShards: back.outputs), try examples(input))
    }

    func testReshardingAndRecompression() throws {
        let directory = try TemporaryDirectory()
        let source = (0 ..< 103).map { Example(["id": .int64s([Int64($0)]), "blob": .bytes([pseudoRandomBytes($0 * 10, seed: UInt64($0 + 1))])]) }
        let input = directory.file("in.tfrecord.gz")
        let writer = try TFRecordWriter(path: input)
        for example in source { try writer.write(example) }
        try writer.close()
        var options = ConvertOptions()
        options.shards = .recordsPerShard(25)
        options.outputCompression = .zlib
        options.name = "train"
        let report = try convertTFRecords([input], toShardsIn: directory.file("out"), options: options)
        XCTAssertEqual(report.records, 103)
        XCTAssertEqual(report.outputs.count, 5)
        XCTAssertEqual(report.outputs.map { try? TFRecordReader(path: $0).compression }, Array(repeating: .zlib, count: 5))
        XCTAssertEqual(try report.outputs.map { try examples($0).count }, [20, 21, 20, 21, 21])
        XCTAssertEqual(try examples(inShards: report.outputs), source)
    }

    func testResumeSkipsFinishedShardsAndRewritesTheRest() throws {
        let directory = try TemporaryDirectory()
        let input = try writeRecords((0 ..< 40).map { Example(["i": .int64s([Int64($0)])]).serialized() }, to: directory.file("in.tfrecord"))
        var options = ConvertOptions()
        options.shards = .shards(4)
        let first = try convertTFRecords([input], toShardsIn: directory.file("out"), options: options)
        // An interrupted run: shard 2 missing, a stale partial file of shard 3 lying around.
        try FileManager.default.removeItem(atPath: first.outputs[2])
        try FileManager.default.removeItem(atPath: first.outputs[3])
        writeBytes([1, 2, 3], to: first.outputs[3] + ".partial")
        let marker = try FileManager.default.attributesOfItem(atPath: first.outputs[0])[.modificationDate] as? Date
        options.resume = true
        let second = try convertTFRecords([input], toShardsIn: directory.file("out"), options: options)
        XCTAssertEqual(second.resumed, [first.outputs[0], first.outputs[1]])
        XCTAssertEqual(second.records, 20)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: first.outputs[0])[.modificationDate] as? Date, marker)
        XCTAssertEqual(try examples(inShards: second.outputs).count, 40)
        XCTAssertFalse(FileManager.default.fileExists(atPath: first.outputs[3] + ".partial"))
    }

    func testCorruptInputStopsWithTheErrorOrIsSkippedAndReported() throws {
        let directory = try TemporaryDirectory()
        let payloads = (0 ..< 6).map { Example(["i": .int64s([Int64($0)])]).serialized() }
        let input = try writeRecords(payloads, to: directory.file("in.tfrecord"))
        var bytes = readBytes(input)
        let second = payloads[0].count + 16
        bytes[second + 12] ^= 0xFF   // record 1: bad payload CRC
        writeBytes(bytes, to: input)

        XCTAssertThrowsError(try convertTFRecordsToJSONL([input], in: directory.file("a"), options: ConvertOptions())) { error in
            XCTAssertEqual(error as? TFRecordError, .corruptedData(RecordLocation(file: input, record: 1, offset: UInt64(second))))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.file("a/data.jsonl")))

        var options = ConvertOptions()
        options.skipCorrupt = true
        let report = try convertTFRecordsToJSONL([input], in: directory.file("b"), options: options)
        XCTAssertEqual(report.records, 5)
        XCTAssertEqual(report.skipped, [.corruptedData(RecordLocation(file: input, record: 1, offset: UInt64(second)))])
        let resharded = try convertTFRecords([input], toShardsIn: directory.file("c"), options: options)
        XCTAssertEqual(resharded.records, 5)
        XCTAssertEqual(resharded.skipped.count, 1)
    }

    func testBadJSONLineNamesFileAndLine() throws {
        let directory = try TemporaryDirectory()
        let jsonl = directory.file("in.jsonl")
        writeBytes(Array("{\"label\": 1}\n\n{\"label\": [1, \"x\"]}\n{not json}\n".utf8), to: jsonl)
        XCTAssertThrowsError(try convertJSONL([jsonl], toShardsIn: directory.file("out"), options: ConvertOptions())) { error in
            XCTAssertEqual((error as? TFRecordError)?.description, "\(jsonl):3: \"label\": a list mixes strings and numbers")
        }
        var options = ConvertOptions()
        options.skipCorrupt = true
        let report = try convertJSONL([jsonl], toShardsIn: directory.file("out"), options: options)
        XCTAssertEqual(report.records, 1)
        XCTAssertEqual(report.skipped.map(\.description), ["\(jsonl):3: \"label\": a list mixes strings and numbers",
                                                          "\(jsonl):4: invalid JSON at column 2: expected a key in quotes"])
    }

    /// #16 defect 7: an image folder becomes what TensorFlow's converters write — with height, width and the
    /// class (text and 0-based label) of images in subfolders. Main wrote only the bytes, format and file name.
    func testImageFolderToTFRecordWritesSizeAndClass() throws {
        let directory = try TemporaryDirectory()
        let reader = try TFRecordReader(path: fixture("tf_examples.tfrecord"))
        let first = try XCTUnwrap(try reader.nextExample()), second = try XCTUnwrap(try reader.nextExample())
        guard case .bytes(let jpeg)? = first["image/encoded"], case .bytes(let png)? = second["image/encoded"] else { return XCTFail() }
        for folder in ["images/dogs", "images/cats/tabby"] {
            try FileManager.default.createDirectory(atPath: directory.file(folder), withIntermediateDirectories: true)
        }
        writeBytes(jpeg[0], to: directory.file("images/dogs/a.jpg"))
        writeBytes(png[0], to: directory.file("images/cats/tabby/b.png"))
        writeBytes(png[0], to: directory.file("images/c.png"))
        writeBytes([1, 2, 3], to: directory.file("images/notes.txt"))
        let report = try convertImageFolder(directory.file("images"), toShardsIn: directory.file("out"), options: ConvertOptions())
        XCTAssertEqual(try examples(inShards: report.outputs), [
            Example(["image/encoded": .bytes([png[0]]), "image/format": .strings(["png"]), "image/filename": .strings(["c.png"]),
                     "image/height": .int64s([4]), "image/width": .int64s([3])]),
            Example(["image/encoded": .bytes([png[0]]), "image/format": .strings(["png"]), "image/filename": .strings(["cats/tabby/b.png"]),
                     "image/height": .int64s([4]), "image/width": .int64s([3]),
                     "image/class/text": .strings(["cats"]), "image/class/label": .int64s([0])]),
            Example(["image/encoded": .bytes([jpeg[0]]), "image/format": .strings(["jpeg"]), "image/filename": .strings(["dogs/a.jpg"]),
                     "image/height": .int64s([4]), "image/width": .int64s([3]),
                     "image/class/text": .strings(["dogs"]), "image/class/label": .int64s([1])]),
        ])
    }

    func testImageFolderWithAnUndecodableImageNamesItOrSkipsIt() throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.file("images"), withIntermediateDirectories: true)
        writeBytes([0xFF, 0xD8, 0xFF, 0xE0, 0, 1, 2], to: directory.file("images/broken.jpg"))
        XCTAssertThrowsError(try convertImageFolder(directory.file("images"), toShardsIn: directory.file("out"), options: ConvertOptions())) { error in
            guard case .invalidInput(let file, 0, let message)? = error as? TFRecordError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, directory.file("images/broken.jpg"))
            XCTAssertTrue(message.hasPrefix("JPEG decode failed"), message)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.file("out")), [])
        var options = ConvertOptions()
        options.skipCorrupt = true
        let report = try convertImageFolder(directory.file("images"), toShardsIn: directory.file("out"), options: options)
        XCTAssertEqual(report.records, 0)
        XCTAssertEqual(report.skipped.count, 1)
    }
}

extension ConvertTests {
    func testReshardingATruncatedFileKeepsEveryGoodRecordAndReportsTheTail() throws {
        let directory = try TemporaryDirectory()
        let payloads = (0 ..< 10).map { Example(["i": .int64s([Int64($0)])]).serialized() }
        let input = try writeRecords(payloads, to: directory.file("in.tfrecord"))
        var bytes = readBytes(input)
        bytes.removeLast(3)   // record 9 loses part of its CRC
        writeBytes(bytes, to: input)
        let offset = UInt64(payloads.prefix(9).reduce(0) { $0 + $1.count + 16 })
        let expected = TFRecordError.truncatedPayload(RecordLocation(file: input, record: 9, offset: offset),
                                                      length: UInt64(payloads[9].count), available: UInt64(payloads[9].count + 1))
        XCTAssertThrowsError(try convertTFRecords([input], toShardsIn: directory.file("a"), options: ConvertOptions())) { error in
            XCTAssertEqual(error as? TFRecordError, expected)
        }
        var options = ConvertOptions()
        options.skipCorrupt = true
        options.shards = .shards(3)
        let report = try convertTFRecords([input], toShardsIn: directory.file("b"), options: options)
        XCTAssertEqual(report.records, 9)
        XCTAssertEqual(report.skipped, [expected])
        XCTAssertEqual(try examples(inShards: report.outputs).map { $0["i"] }, (0 ..< 9).map { .int64s([Int64($0)]) })
    }
}
