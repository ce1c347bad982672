// `prism segment --batch INPUT… [-o DIR] [--prefix STEM]`: SAM masks for the points and boxes of every row
// (PrismBatch/BatchSegment.swift), each image embedded once, written to DIR/STEM.jsonl (default ./masks.jsonl).
import ArgumentParser
import Foundation
import PrismBatch
import PrismSAM

struct SegmentBatchArguments: ParsableArguments {
    @OptionGroup var common: BatchArguments
    @Option(help: "Batch mode: column of clicks, [[x, y], [x, y, label], …] in image pixels (label 1 on the object, 0 background), or a TFRecord float list of x, y pairs.")
    var pointsKey = "points"
    @Option(help: "Batch mode: column of boxes, [x0, y0, x1, y1] or a list of them (one mask each, with the row's points), or a TFRecord float list of 4·k values.")
    var boxKey = "box"

    var isBatch: Bool { common.isBatch }
}

extension SegmentCommand {
    /// Batch output: OUTPUT_DIR/STEM.jsonl (-o is the output folder in every command; STEM is --prefix or "masks").
    var batchOutputPath: String { URL(fileURLWithPath: outputDirectory).appendingPathComponent((prefix ?? "masks") + ".jsonl").path }

    func runBatch() throws {
        if image != nil || !points.isEmpty || box != nil || everything || multimask || embeddingCache != nil || format != nil || json {
            throw UserError("--batch takes images and prompts from the rows: drop the image argument and --point/--box/--everything/--multimask/--embedding-cache/--format/--json")
        }
        let common = batch.common
        let input = try common.input()
        let out = try common.openOutput(batchOutputPath, input)
        if out.alreadyComplete { return try common.run("segmented", out) { BatchProgress() } }
        var options = BatchSegmentOptions(imageKey: common.defaultImageKey(input))
        options.pointsKey = batch.pointsKey
        options.boxKey = batch.boxKey
        options.idKey = common.idKey
        options.badRows = common.onError
        let predictor = try SamPredictor(directory: try resolveModel(), precision: precisionArguments.resolve())
        let segmenter = BatchSegmenter(predictor: predictor, options: options)
        try common.run("segmented", out) {
            try segmenter.run(input, into: out, onProgress: BatchProgressBar.make(label: "segment", unit: "mask", quiet: common.quiet))
        }
    }
}
