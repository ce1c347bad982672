import Foundation
import PrismChat

/// The segmenter behind the REPL's /segment (wired to PrismSAM once it lands).
func makeSegmenter(model: String?, outputDirectory: String) throws -> Segmenter? { nil }
