import XCTest
@testable import PrismData

final class ConvertTests: XCTestCase {
    func examples(_ path: String) throws -> [Example] { try readExamples(path) }

    func examples(inShards paths: [String]) throws -> [Example] { try paths.flatMap { try readExamples($0) } }

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

// MARK: - Issue #16: each defect found on main 7da3210, and the behaviour that replaces it

extension ConvertTests {
    /// Three TFRecord inputs of 5, 2 and 4 records, ids 0 ..< 11 in input order.
    func threeInputs(_ directory: TemporaryDirectory) throws -> [String] {
        var next: Int64 = 0
        return try [5, 2, 4].enumerated().map { i, n in
            try writeRecords((0 ..< n).map { _ in
                defer { next += 1 }
                return Example(["id": .int64s([next]), "text": .strings(["record \(next)"])]).serialized()
            }, to: directory.file("in\(i).tfrecord"))
        }
    }

    /// Defect 1: two or more inputs into two or more shards crashed (SIGILL, a negative range in
    /// forEachFileSlice) and left *.partial files. Every split must keep every record, once, in order.
    func testSeveralInputsIntoSeveralShardsKeepEveryRecordInOrder() throws {
        let directory = try TemporaryDirectory()
        let inputs = try threeInputs(directory)
        let all = try inputs.flatMap(readExamples)
        for shards in [2, 3, 4, 11, 13] {
            var options = ConvertOptions()
            options.shards = .shards(shards)
            let out = directory.file("tf-\(shards)")
            let report = try convertTFRecords(inputs, toShardsIn: out, options: options)
            XCTAssertEqual(report.records, 11)
            XCTAssertEqual(try examples(inShards: report.outputs), all, "\(shards) shards")
            XCTAssertEqual(filesUnder(out).count, shards)   // nothing else: no .partial files

            // The same through JSONL inputs (one JSONL file per input).
            let jsonl = try inputs.enumerated().map { i, input -> String in
                let report = try convertTFRecordsToJSONL([input], in: directory.file("j\(i)"), options: ConvertOptions())
                return report.outputs[0]
            }
            let back = try convertJSONL(jsonl, toShardsIn: directory.file("back-\(shards)"), options: options)
            XCTAssertEqual(try examples(inShards: back.outputs), all, "JSONL into \(shards) shards")
        }
    }

    /// Defect 2: SequenceExample → JSONL dropped every feature list (exit 0, no warning).
    func testSequenceExamplesKeepTheirFeatureLists() throws {
        let directory = try TemporaryDirectory()
        let input = fixture("tf_sequence.tfrecord")
        let report = try convertTFRecordsToJSONL([input], in: directory.path, options: ConvertOptions())
        XCTAssertEqual(String(decoding: readBytes(report.outputs[0]), as: UTF8.self), """
            {"context":{"length":[3],"video/id":["clip-1"]},"feature_lists":{"frames/score":[[0.5],[0.25,0.125],[]],"frames/token":[[1,2],[3]]}}
            {"context":{},"feature_lists":{"empty_steps":[]}}

            """)
        let schema = try JSONLSchema.read(directory.file("data.schema.json"))
        XCTAssertEqual(schema.recordType, .sequenceExample)
        XCTAssertEqual(schema.columns.filter { $0.section == .featureList }.map(\.name), ["empty_steps", "frames/score", "frames/token"])
        let back = try convertJSONL(report.outputs, toShardsIn: directory.file("back"), options: ConvertOptions())
        XCTAssertEqual(try readPayloads(back.outputs[0]).map(canonical), try readPayloads(input).map(canonical))
        XCTAssertEqual(try readPayloads(back.outputs[0]).map { try SequenceExample(serialized: $0) },
                       try readPayloads(input).map { try SequenceExample(serialized: $0) })
    }

    /// Defect 3: with --skip-corrupt and shards, a corrupt record last in a shard's range made that shard write
    /// the next shard's first record too (twice in all), and the skip was counted twice.
    func testSkipCorruptAtTheEndOfAShardNeitherDuplicatesNorCountsTwice() throws {
        let directory = try TemporaryDirectory()
        let payloads = (0 ..< 6).map { Example(["i": .int64s([Int64($0)])]).serialized() }
        let input = try writeRecords(payloads, to: directory.file("in.tfrecord"))
        var bytes = readBytes(input)
        let third = payloads[0 ..< 2].reduce(0) { $0 + $1.count + 16 }
        bytes[third + 12] ^= 0xFF   // record 2, the last of shard 0's records 0 ..< 3
        writeBytes(bytes, to: input)
        var options = ConvertOptions()
        options.skipCorrupt = true
        options.shards = .shards(2)
        let report = try convertTFRecords([input], toShardsIn: directory.file("out"), options: options)
        XCTAssertEqual(try report.outputs.map { try readExamples($0).map { $0["i"]! } },
                       [[.int64s([0]), .int64s([1])], [.int64s([3]), .int64s([4]), .int64s([5])]])
        XCTAssertEqual(report.records, 5)
        XCTAssertEqual(report.skipped, [.corruptedData(RecordLocation(file: input, record: 2, offset: UInt64(third)))])
    }

    /// Defect 4: JSONL values changed silently (99999999999999999999999 → 200376420520689663, 1e39 → inf,
    /// true → 1.0). Now each is an error naming file and line, unless --lossy.
    func testNumbersThatDoNotFitAndBooleansAreErrorsNamingFileAndLine() throws {
        let directory = try TemporaryDirectory()
        let cases: [(String, String, Feature, Int)] = [
            ("{\"n\": [99999999999999999999999]}", "\"n\": 99999999999999999999999 is beyond the int64 range (--lossy clamps it)", .int64s([.max]), 1),
            ("{\"n\": [-99999999999999999999999]}", "\"n\": -99999999999999999999999 is beyond the int64 range (--lossy clamps it)", .int64s([.min]), 1),
            ("{\"x\": [1e39]}", "\"x\": 1e39 is beyond the float32 range (--lossy makes it inf)", .floats([.infinity]), 1),
            ("{\"x\": [-1e39, 0.5]}", "\"x\": -1e39 is beyond the float32 range (--lossy makes it -inf)", .floats([-.infinity, 0.5]), 1),
            ("{\"x\": [1e-50, 0.5]}", "\"x\": 1e-50 is too small for float32 and would become 0 (--lossy makes it 0)", .floats([0, 0.5]), 1),
            ("{\"b\": [true, false]}", "\"b\": true is a boolean, which TFRecord features cannot hold: write 1 or 0 (--lossy does)", .int64s([1, 0]), 2),
            ("{\"xmin\": [true]}", "\"xmin\": true is a boolean, which TFRecord features cannot hold: write 1.0 or 0.0 (--lossy does)", .floats([1]), 1),
        ]
        for (i, (row, message, lossy, changed)) in cases.enumerated() {
            let jsonl = directory.file("in\(i).jsonl")
            writeBytes(Array("{\"ok\": [1]}\n\(row)\n".utf8), to: jsonl)
            XCTAssertThrowsError(try convertJSONL([jsonl], toShardsIn: directory.file("out\(i)"), options: ConvertOptions())) { error in
                XCTAssertEqual((error as? TFRecordError)?.description, "\(jsonl):2: \(message)")
            }
            XCTAssertEqual(filesUnder(directory.file("out\(i)")), [])
            var options = ConvertOptions()
            options.lossy = true
            let report = try convertJSONL([jsonl], toShardsIn: directory.file("lossy\(i)"), options: options)
            XCTAssertEqual(report.lossyValues, changed, row)
            XCTAssertEqual(try readExamples(report.outputs[0]).last?.features.values.first, lossy, row)
        }
        // What does fit goes through exactly: the extremes of both ranges.
        let jsonl = directory.file("fits.jsonl")
        writeBytes(Array("{\"n\": [-9223372036854775808, 9223372036854775807], \"x\": [3.4028235e38, 1e-45, -0.0]}\n".utf8), to: jsonl)
        let report = try convertJSONL([jsonl], toShardsIn: directory.file("fits"), options: ConvertOptions())
        let example = try XCTUnwrap(try readExamples(report.outputs[0]).first)
        XCTAssertEqual(example["n"], .int64s([.min, .max]))
        guard case .floats(let x)? = example["x"] else { return XCTFail() }
        XCTAssertEqual(x.map(\.bitPattern), [Float.greatestFiniteMagnitude, .leastNonzeroMagnitude, -0.0].map(\.bitPattern))
    }

    /// Defect 5: `prism convert data.jsonl` (a bare file name) looked for relative image paths under "/".
    func testABareJSONLFileNameFindsImagesBesideIt() throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.file("pics"), withIntermediateDirectories: true)
        let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]
        writeBytes(jpeg, to: directory.file("pics/a.jpg"))
        writeBytes(Array("{\"image\": [\"pics/a.jpg\"], \"label\": [1]}\n".utf8), to: directory.file("data.jsonl"))
        let previous = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(directory.path))
        defer { FileManager.default.changeCurrentDirectoryPath(previous) }
        let report = try convertJSONL(["data.jsonl"], toShardsIn: "out", options: ConvertOptions())
        XCTAssertEqual(try readExamples(report.outputs[0]), [Example(["image/encoded": .bytes([jpeg]), "label": .int64s([1])])])
    }

    /// Defect 6: a column changed type from row to row (a bare number for one value, a list for several,
    /// {"float": []} for none). Every feature is now a list, and empty lists come back with their kind.
    func testEveryColumnIsAListAndEmptyListsComeBackWithTheirKind() throws {
        let directory = try TemporaryDirectory()
        let records = [
            Example(["label": .int64s([1]), "score": .floats([0.5]), "tags": .strings(["a"])]),
            Example(["label": .int64s([1, 2]), "score": .floats([]), "tags": .strings([])]),
            Example(["label": .int64s([]), "score": .floats([1, 2]), "tags": .strings(["b", "c"])]),
        ]
        let input = try writeRecords(records.map { $0.serialized() }, to: directory.file("in.tfrecord"))
        var options = ConvertOptions()
        options.featureMap = .none
        let report = try convertTFRecordsToJSONL([input], in: directory.file("jsonl"), options: options)
        XCTAssertEqual(String(decoding: readBytes(report.outputs[0]), as: UTF8.self), """
            {"label":[1],"score":[0.5],"tags":["a"]}
            {"label":[1,2],"score":[],"tags":[]}
            {"label":[],"score":[1.0,2.0],"tags":["b","c"]}

            """)
        let schema = try JSONLSchema.read(directory.file("jsonl/data.schema.json"))
        XCTAssertEqual(schema.columns.map(\.kind), [.int64, .float, .bytes])
        XCTAssertEqual(schema.columns.map(\.fixedLength), [nil, nil, nil])
        XCTAssertEqual(schema.columns.map(\.maxLength), [2, 2, 2])
        let back = try convertJSONL(report.outputs, toShardsIn: directory.file("back"), options: options)
        XCTAssertEqual(try readExamples(back.outputs[0]), records)
        // Without the schema an empty list has no kind, and says so.
        try FileManager.default.removeItem(atPath: directory.file("jsonl/data.schema.json"))
        XCTAssertThrowsError(try convertJSONL(report.outputs, toShardsIn: directory.file("noschema"), options: options)) { error in
            XCTAssertEqual((error as? TFRecordError)?.description, "\(report.outputs[0]):2: \"score\": an empty list has no kind: keep the schema.json beside the file, or write {\"float\": []} etc.")
        }
    }

    /// Defect 8: on a full disk, image files and a finished shard stayed under their final names. Now a run that
    /// fails leaves nothing of its own: no final names, no temporary files.
    func testAFullDiskLeavesNothingUnderAFinalName() throws {
        let directory = try TemporaryDirectory()
        let image = [0xFF, 0xD8, 0xFF, 0xE0] + pseudoRandomBytes(4000)
        let records = (0 ..< 40).map { Example(["image/encoded": .bytes([image]), "id": .int64s([Int64($0)])]).serialized() }
        let input = try writeRecords(records, to: directory.file("in.tfrecord"))
        defer { FaultInjection.failWrites(after: nil) }
        for budget in [0, 10_000, 60_000, 150_000] {
            // TFRecord → JSONL + images, in 4 shards: some shards finish before the disk fills.
            let out = directory.file("jsonl-\(budget)")
            var options = ConvertOptions()
            options.shards = .shards(4)
            try createDirectory(out)
            FaultInjection.failWrites(after: budget)
            XCTAssertThrowsError(try convertTFRecordsToJSONL([input], in: out, options: options)) { error in
                guard case .io(_, "write", "No space left on device")? = error as? TFRecordError else { return XCTFail("\(error)") }
            }
            FaultInjection.failWrites(after: nil)
            XCTAssertEqual(filesUnder(out), [], "budget \(budget)")
            // TFRecord → TFRecord shards.
            let shards = directory.file("tf-\(budget)")
            FaultInjection.failWrites(after: budget)
            XCTAssertThrowsError(try convertTFRecords([input], toShardsIn: shards, options: options))
            FaultInjection.failWrites(after: nil)
            XCTAssertEqual(filesUnder(shards), [], "budget \(budget)")
        }
        // With room, the same run succeeds.
        let report = try convertTFRecordsToJSONL([input], in: directory.file("ok"), options: ConvertOptions())
        XCTAssertEqual(report.records, 40)
        XCTAssertEqual(filesUnder(directory.file("ok")).count, 42)
    }
}
