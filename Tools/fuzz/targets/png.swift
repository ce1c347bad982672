// PNG decoding through libpng (any colour type and depth; header limits first, truncation as an error), then a
// PNG round trip. Inputs without the PNG signature get it prepended, so every execution reaches libpng.
let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

func fuzz(_ data: [UInt8]) {
    checkImageDecode(data.starts(with: signature) ? data : signature + data)
}
