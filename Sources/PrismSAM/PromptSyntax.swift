// Command-line prompt syntax, as pure functions: `X,Y[,1|0]` for points, `X0,Y0,X1,Y1` for boxes.
// Coordinates are image pixels (floats allowed); label 1 = positive (default), 0 = negative.

public enum PromptSyntax {
    public static let pointUsage = "expected X,Y or X,Y,LABEL with LABEL 1 (positive) or 0 (negative)"
    public static let boxUsage = "expected X0,Y0,X1,Y1"

    /// SAM has no "everything except here": negative clicks alone still select the region they fall in.
    public static let negativeOnlyWarning =
        "only negative clicks: SAM returns the region around them, not everything except them; add a positive click or a box"

    public static func isNegativeOnly(points: [SamPoint], box: SamBox?) -> Bool {
        box == nil && !points.isEmpty && points.allSatisfy { $0.label == .negative }
    }

    public static func point(_ text: String) throws -> SamPoint {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingSpaces }
        guard parts.count == 2 || parts.count == 3 else { throw SamError.malformedPoint(text: text, reason: pointUsage) }
        let x = try number(parts[0], text, SamError.malformedPoint), y = try number(parts[1], text, SamError.malformedPoint)
        var label = SamPoint.Label.positive
        if parts.count == 3 {
            guard let l = Int(parts[2]), let parsed = SamPoint.Label(rawValue: l) else {
                throw SamError.malformedPoint(text: text, reason: "label '\(parts[2])' must be 1 (positive) or 0 (negative)")
            }
            label = parsed
        }
        return SamPoint(x: x, y: y, label: label)
    }

    public static func box(_ text: String) throws -> SamBox {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingSpaces }
        guard parts.count == 4 else { throw SamError.malformedBox(text: text, reason: boxUsage) }
        let v = try parts.map { try number($0, text, SamError.malformedBox) }
        guard v[0] < v[2], v[1] < v[3] else { throw SamError.emptyBox(box: text) }
        return SamBox(x0: v[0], y0: v[1], x1: v[2], y1: v[3])
    }

    private static func number(_ s: String, _ text: String, _ error: (String, String) -> SamError) throws -> Float {
        guard let v = Float(s), v.isFinite else { throw error(text, "'\(s)' is not a number") }
        return v
    }
}

private extension Substring {
    var trimmingSpaces: String { String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) }
}
