// PNG decoding through libpng (any colour type and depth; header limits first, truncation as an error), then a
// PNG round trip.
import Foundation
import PrismIO

/// Smaller than the defaults so that one input decodes in milliseconds; the header check is the same code.
let limits = ImageLimits(maxSide: 4096, maxPixels: 1 << 20)

func fuzz(_ data: [UInt8]) {
    do {
        let img = try RGBImage(data: Data(data), path: "input", limits: limits)
        require(img.pixels.count == img.width * img.height * 3, "pixel count")
        require(try RGBImage(data: img.pngData()) == img, "PNG round trip changed the image")
    } catch {
        checkError(error, naming: "input")
    }
}
