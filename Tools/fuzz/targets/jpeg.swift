// JPEG decoding through libjpeg (header limits first, truncation and corruption as errors), then a PNG round trip.
// Inputs without the JPEG signature get it prepended, so every execution reaches libjpeg.
func fuzz(_ data: [UInt8]) {
    checkImageDecode(data.starts(with: [0xFF, 0xD8, 0xFF]) ? data : [0xFF, 0xD8, 0xFF] + data)
}
