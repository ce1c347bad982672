import Foundation

// One naming scheme for every file Prism's segmentation writes (prism segment, chat's /segment, prism demo):
//
//   DIR/STEM-segN-mask.png          the mask the prompt returns (white = object)
//   DIR/STEM-segN-overlay.png       the image with that mask, the clicks and the box drawn in
//   DIR/STEM-segN-candidateK.png    the three multimask candidates, K = 1…3 (segment --multimask)
//   DIR/STEM-segN-maskK.png         segment-everything's masks, K = 1… (--format png)
//   DIR/STEM-segN-masks.json        the masks as COCO RLE (--format rle) or COCO annotations (--format coco)
//
// STEM is the image's file name without its extension (or --prefix); N is one more than the largest N already
// used in DIR for that STEM, so runs never overwrite each other and a run that fails (writes nothing) uses no
// number. The folder is created when missing.

public struct MaskFiles: Equatable, Sendable {
    public let directory: URL
    public let stem: String
    public let number: Int

    /// The next free number for `stem` in `directory`, which is created if missing.
    public static func next(in directory: URL, stem: String) throws -> MaskFiles {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let prefix = stem + "-seg"
        let used = names.compactMap { name -> Int? in
            guard name.hasPrefix(prefix) else { return nil }
            return Int(name.dropFirst(prefix.count).prefix { $0.isNumber })
        }
        return MaskFiles(directory: directory, stem: stem, number: (used.max() ?? 0) + 1)
    }

    public init(directory: URL, stem: String, number: Int) {
        self.directory = directory; self.stem = stem; self.number = number
    }

    /// STEM for an image path: its file name without the extension.
    public static func stem(forImage path: String) -> String {
        URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
    }

    private func file(_ suffix: String) -> URL { directory.appendingPathComponent("\(stem)-seg\(number)-\(suffix)") }
    public var mask: URL { file("mask.png") }
    public var overlay: URL { file("overlay.png") }
    public var json: URL { file("masks.json") }
    public func candidate(_ k: Int) -> URL { file("candidate\(k).png") }
    public func mask(_ k: Int) -> URL { file("mask\(k).png") }
}
