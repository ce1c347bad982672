// Where a Kimi-VL model's files are: a checkpoint directory (config.json, safetensors, tiktoken.model) or a
// GGUF pair (llama.cpp's text model + vision mmproj). `-m` accepts a checkpoint directory, a text-model .gguf
// (with `--mmproj` for images), or a directory holding one GGUF pair.
import Foundation
import PrismCore
import PrismIO
import PrismTokenizer

public enum ModelFilesError: Error, CustomStringConvertible, Equatable {
    case notFound(path: String)
    case noModel(directory: String)
    case ambiguous(directory: String, kind: String, files: [String])
    case notATextModel(file: String)
    case mmprojWithCheckpoint(directory: String)

    public var description: String {
        switch self {
        case let .notFound(p): "\(p): no such file or directory"
        case let .noModel(d): "\(d): neither a checkpoint (config.json) nor a GGUF text model (*.gguf)"
        case let .ambiguous(d, k, f): "\(d): \(f.count) GGUF \(k) files (\(f.joined(separator: ", "))); pass the one to use with -m FILE --mmproj FILE"
        case let .notATextModel(f): "\(f): an mmproj (vision) file, not a text model; pass it with --mmproj"
        case let .mmprojWithCheckpoint(d): "\(d): --mmproj goes with a GGUF text model, not a checkpoint directory"
        }
    }
}

public enum ModelFiles: Sendable, Equatable {
    case checkpoint(URL)
    case gguf(model: URL, mmproj: URL?)

    /// The model file or directory (for names in banners and messages).
    public var url: URL {
        switch self {
        case let .checkpoint(u): u
        case let .gguf(m, _): m
        }
    }

    /// Resolves `-m PATH` and `--mmproj FILE`.
    public static func resolve(_ path: URL, mmproj: URL? = nil) throws -> ModelFiles {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path.path, isDirectory: &isDir) else { throw ModelFilesError.notFound(path: path.path) }
        if !isDir.boolValue {
            if try isMMProj(path) { throw ModelFilesError.notATextModel(file: path.path) }
            return .gguf(model: path, mmproj: mmproj)
        }
        if FileManager.default.fileExists(atPath: path.appendingPathComponent("config.json").path) {
            if mmproj != nil { throw ModelFilesError.mmprojWithCheckpoint(directory: path.path) }
            return .checkpoint(path)
        }
        let files = ((try? FileManager.default.contentsOfDirectory(at: path, includingPropertiesForKeys: nil)) ?? [])
            .filter { $0.pathExtension == "gguf" && !$0.lastPathComponent.hasPrefix(".") }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        var models: [URL] = [], projectors: [URL] = []
        for f in files { try isMMProj(f) ? projectors.append(f) : models.append(f) }
        guard !models.isEmpty else { throw ModelFilesError.noModel(directory: path.path) }
        guard models.count == 1 else { throw ModelFilesError.ambiguous(directory: path.path, kind: "text model", files: models.map(\.lastPathComponent)) }
        if mmproj == nil && projectors.count > 1 {
            throw ModelFilesError.ambiguous(directory: path.path, kind: "mmproj", files: projectors.map(\.lastPathComponent))
        }
        return .gguf(model: models[0], mmproj: mmproj ?? projectors.first)
    }

    /// `general.type` "mmproj" (the converter writes it) or architecture "clip".
    static func isMMProj(_ url: URL) throws -> Bool {
        let f = try GGUFFile(path: url.path)
        return (try? f.string("general.type")) == "mmproj" || (try? f.string("general.architecture")) == "clip"
    }

    public func loadModel(precision: Precision = .f32) throws -> KimiVL {
        switch self {
        case let .checkpoint(dir): try KimiVL.load(directory: dir, precision: precision)
        case let .gguf(m, p): try KimiVL.load(gguf: m, mmproj: p, precision: precision)
        }
    }

    /// tiktoken.model beside a checkpoint, or the token list in the GGUF text model.
    public func loadTokenizer() throws -> TikTokenizer {
        switch self {
        case let .checkpoint(dir): try TikTokenizer(directory: dir)
        case let .gguf(m, _): try TikTokenizer(gguf: GGUFFile(path: m.path))
        }
    }
}
