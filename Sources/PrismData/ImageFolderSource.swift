// An image folder as tf.Examples, the way TensorFlow's own converters write them (the Inception
// build_image_data.py and Object Detection create_*_tf_record.py scripts): the original bytes, format, file name,
// height and width (from decoding the image, which also proves it is one), and, for images in subfolders, the
// class: image/class/text is the top-level subfolder's name and image/class/label its 0-based index among the
// sorted subfolder names (the labelling of Keras' image_dataset_from_directory and TFDS' ImageFolder).
import Foundation
import PrismIO

struct ImageFolderSource: ExampleSource {
    let root: String
    /// Relative paths, sorted.
    let images: [String]
    /// Sorted top-level subfolders holding images.
    let classes: [String]
    let skipCorrupt: Bool
    var total: Int { images.count }
    var files: [String] { images.map { root + "/" + $0 } }
    var countingErrors: [(number: Int, error: TFRecordError)] { [] }

    init(root: String, skipCorrupt: Bool) throws {
        self.root = root
        self.skipCorrupt = skipCorrupt
        guard let walker = FileManager.default.enumerator(atPath: root) else {
            throw TFRecordError.io(file: root, function: "opendir", message: "cannot list the folder")
        }
        var found: [String] = []
        while let relative = walker.nextObject() as? String {
            let lower = relative.lowercased()
            if lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg") || lower.hasSuffix(".png") { found.append(relative) }
        }
        images = found.sorted()
        classes = Set(images.compactMap(Self.className)).sorted()
    }

    /// The top-level subfolder of a relative path; nil for an image directly in the root.
    static func className(_ relative: String) -> String? {
        let parts = relative.split(separator: "/", maxSplits: 1)
        return parts.count == 2 ? String(parts[0]) : nil
    }

    func forEach(in range: Range<Int>, skipped: inout [TFRecordError], lossyValues: inout Int,
                 _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let labels = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, Int64($0)) })
        for relative in images[range.clamped(to: 0 ..< images.count)] {
            let path = root + "/" + relative
            let example: Example
            do {
                example = try self.example(path: path, relative: relative, labels: labels)
            } catch let error as TFRecordError where skipCorrupt {
                if case .io = error { throw error }
                skipped.append(error)
                continue
            }
            try example.serialized().withUnsafeBytes(body)
        }
    }

    private func example(path: String, relative: String, labels: [String: Int64]) throws -> Example {
        let bytes = try readWholeFile(path)
        guard let format = ImageFormat(magic: bytes) else {
            throw TFRecordError.invalidInput(file: path, line: 0, message: "not a JPEG or PNG file")
        }
        let image: RGBImage
        do { image = try RGBImage(data: Data(bytes), path: path) } catch {
            throw TFRecordError.invalidInput(file: path, line: 0, message: "\(error)".replacingOccurrences(of: path + ": ", with: ""))
        }
        var example = Example([
            "image/encoded": .bytes([bytes]),
            "image/format": .strings([format.rawValue]),
            "image/filename": .strings([relative]),
            "image/height": .int64s([Int64(image.height)]),
            "image/width": .int64s([Int64(image.width)]),
        ])
        if let name = Self.className(relative), let label = labels[name] {
            example["image/class/text"] = .strings([name])
            example["image/class/label"] = .int64s([label])
        }
        return example
    }
}
