// Evaluation metrics of the embedded models on the synthetic-scenes split (Tools/train/qa.py, eval_torch.py):
// answer scoring per question type and binary-mask scores, mirrored by the PyTorch side answer for answer.
import Foundation

/// A binary mask, row-major, nonzero = inside.
public struct BinaryMask: Equatable, Sendable {
    public let width: Int, height: Int
    public let bits: [Bool]

    public init(width: Int, height: Int, bits: [Bool]) {
        precondition(bits.count == width * height, "mask of \(bits.count) values for \(width)×\(height)")
        self.width = width; self.height = height; self.bits = bits
    }

    public init(width: Int, height: Int, bytes: [UInt8], threshold: UInt8 = 0) {
        self.init(width: width, height: height, bits: bytes.map { $0 > threshold })
    }

    public func contains(x: Int, y: Int) -> Bool { x >= 0 && y >= 0 && x < width && y < height && bits[y * width + x] }
}

// MARK: - Answers

/// qa.py's scoring: exact match of the trimmed strings, except `box` (IoU ≥ 0.5 with the true box) and `point`
/// (the predicted pixel lies inside the object's mask).
public enum AnswerScoring {
    /// Integers in a string, in order ("(12, 40, 7, 9)" → [12, 40, 7, 9]).
    public static func integers(_ text: String) -> [Int] {
        var out: [Int] = [], current = "", negative = false
        func flush() {
            if let v = Int(current) { out.append(negative ? -v : v) }
            current = ""; negative = false
        }
        for ch in text {
            if ch.isASCII, ch.isNumber { current.append(ch) }
            else {
                flush()
                negative = ch == "-"
            }
        }
        flush()
        return out
    }

    /// IoU of two boxes (x0, y0, x1, y1) with exclusive far corners.
    public static func boxIoU(_ a: [Int], _ b: [Int]) -> Double {
        let ix = max(0, min(a[2], b[2]) - max(a[0], b[0])), iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
        let inter = Double(ix * iy)
        let union = Double((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
        return union > 0 ? inter / union : 0
    }

    public static func isExact(_ predicted: String, _ answer: String) -> Bool {
        predicted.trimmingCharacters(in: .whitespacesAndNewlines) == answer.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public static func isCorrect(type: String, predicted: String, answer: String, mask: BinaryMask? = nil) -> Bool {
        switch type {
        case "box":
            let p = integers(predicted), a = integers(answer)
            return p.count == 4 && a.count == 4 && boxIoU(p, a) >= 0.5
        case "point":
            let p = integers(predicted)
            guard let mask, p.count == 2 else { return isExact(predicted, answer) }
            return mask.contains(x: p[0], y: p[1])
        default:
            return isExact(predicted, answer)
        }
    }
}

/// Accuracy (by `AnswerScoring`) and exact match per question type.
public struct AnswerTally: Sendable {
    public struct Counts: Sendable, Equatable { public var total = 0, correct = 0, exact = 0 }
    public private(set) var byType: [String: Counts] = [:]

    public init() {}

    public mutating func add(type: String, correct: Bool, exact: Bool) {
        var c = byType[type, default: Counts()]
        c.total += 1
        c.correct += correct ? 1 : 0
        c.exact += exact ? 1 : 0
        byType[type] = c
    }

    public var overall: Counts {
        byType.values.reduce(into: Counts()) { $0.total += $1.total; $0.correct += $1.correct; $0.exact += $1.exact }
    }

    /// A table: type, n, accuracy, exact match; types in `order` first, then the rest sorted, then overall.
    public func table(order: [String] = []) -> String {
        let types = order.filter { byType[$0] != nil } + byType.keys.filter { !order.contains($0) }.sorted()
        func row(_ name: String, _ c: Counts) -> String {
            let n = Double(max(c.total, 1))
            return name.padding(toLength: 10, withPad: " ", startingAt: 0)
                + String(format: " %5d %9.3f %7.3f", c.total, Double(c.correct) / n, Double(c.exact) / n)
        }
        return (["type           n  accuracy   exact"] + types.map { row($0, byType[$0]!) } + [row("overall", overall)])
            .joined(separator: "\n")
    }
}

// MARK: - Masks

/// Scores of one predicted mask against the truth: foreground IoU, pixel accuracy and mean pixel accuracy
/// (mean of foreground and background recall). Empty classes count as perfectly recalled.
public struct MaskScores: Equatable, Sendable {
    public var iou: Double, pixelAccuracy: Double, meanPixelAccuracy: Double

    public init(iou: Double, pixelAccuracy: Double, meanPixelAccuracy: Double) {
        self.iou = iou; self.pixelAccuracy = pixelAccuracy; self.meanPixelAccuracy = meanPixelAccuracy
    }

    public init(predicted: BinaryMask, truth: BinaryMask) {
        precondition(predicted.width == truth.width && predicted.height == truth.height, "mask sizes differ")
        var tp = 0, fp = 0, fn = 0, tn = 0
        for (p, t) in zip(predicted.bits, truth.bits) {
            switch (p, t) {
            case (true, true): tp += 1
            case (true, false): fp += 1
            case (false, true): fn += 1
            case (false, false): tn += 1
            }
        }
        let union = tp + fp + fn
        iou = union > 0 ? Double(tp) / Double(union) : 1
        pixelAccuracy = Double(tp + tn) / Double(max(1, tp + fp + fn + tn))
        let fg = tp + fn > 0 ? Double(tp) / Double(tp + fn) : 1
        let bg = tn + fp > 0 ? Double(tn) / Double(tn + fp) : 1
        meanPixelAccuracy = (fg + bg) / 2
    }
}

/// Means of `MaskScores` per prompt kind (mIoU = mean foreground IoU over objects).
public struct MaskTally: Sendable {
    public private(set) var sums: [String: (n: Int, iou: Double, acc: Double, mean: Double)] = [:]

    public init() {}

    public mutating func add(_ kind: String, _ s: MaskScores) {
        var v = sums[kind, default: (0, 0, 0, 0)]
        v.n += 1; v.iou += s.iou; v.acc += s.pixelAccuracy; v.mean += s.meanPixelAccuracy
        sums[kind] = v
    }

    public func mean(_ kind: String) -> MaskScores? {
        guard let v = sums[kind], v.n > 0 else { return nil }
        let n = Double(v.n)
        return MaskScores(iou: v.iou / n, pixelAccuracy: v.acc / n, meanPixelAccuracy: v.mean / n)
    }

    public func table(order: [String]) -> String {
        var lines = ["prompt   objects   mIoU  pixacc  mpixacc"]
        for k in order + sums.keys.filter({ !order.contains($0) }).sorted() {
            guard let m = mean(k) else { continue }
            lines.append(k.padding(toLength: 8, withPad: " ", startingAt: 0)
                         + String(format: " %7d %6.3f %7.3f %8.3f", sums[k]!.n, m.iou, m.pixelAccuracy, m.meanPixelAccuracy))
        }
        return lines.joined(separator: "\n")
    }
}
