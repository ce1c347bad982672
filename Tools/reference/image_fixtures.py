#!/usr/bin/env python3
"""Image decode fixtures: small JPEG/PNG files written by Pillow and the pixels Pillow decodes from them.

    python3 Tools/reference/image_fixtures.py   # writes Tests/PrismIOTests/Fixtures/images/*

Pillow (libjpeg-turbo, libpng) is the independent reference for what Prism's libjpeg/libpng wrappers return.
"""
import io
import pathlib

import numpy as np
from PIL import Image
from safetensors.numpy import save_file

root = pathlib.Path(__file__).resolve().parents[2] / "Tests/PrismIOTests/Fixtures/images"
root.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(7)

h, w = 17, 23
yy, xx = np.mgrid[0:h, 0:w]
rgb = np.stack([xx * 11 % 256, yy * 15 % 256, (xx * yy) % 256], -1).astype(np.uint8)
rgb[5:9, 3:12] = rng.integers(0, 256, (4, 9, 3), dtype=np.uint8)
expected = {}


def save(name, img, **kw):
    img.save(root / name, **kw)
    decoded = Image.open(root / name)
    if decoded.mode in ("RGBA", "LA") or (decoded.mode == "P" and "transparency" in decoded.info):
        # libpng's simplified API composites alpha onto black when asked for RGB
        a = np.asarray(decoded.convert("RGBA")).astype(np.float64)
        out = np.round(a[..., :3] * a[..., 3:4] / 255.0).astype(np.uint8)
    else:
        out = np.asarray(decoded.convert("RGB"))
    expected[name] = np.ascontiguousarray(out)


save("rgb.png", Image.fromarray(rgb))
save("gray.png", Image.fromarray(rgb[..., 0]))
save("palette.png", Image.fromarray(rgb).quantize(16))
rgba = np.concatenate([rgb, np.full((h, w, 1), 255, np.uint8)], -1)
save("rgba_opaque.png", Image.fromarray(rgba))
save("rgb_q95.jpg", Image.fromarray(rgb), quality=95)
save("gray.jpg", Image.fromarray(rgb[..., 1]), quality=90)
save("progressive.jpg", Image.fromarray(rgb), quality=80, progressive=True)

# Corrupt inputs: truncated JPEG / PNG, and a PNG with a flipped CRC byte.
jpg = (root / "rgb_q95.jpg").read_bytes()
(root / "truncated.jpg").write_bytes(jpg[: len(jpg) // 2])
png = (root / "rgb.png").read_bytes()
(root / "truncated.png").write_bytes(png[: len(png) // 2])
bad = bytearray(png)
bad[40] ^= 0xFF
(root / "badcrc.png").write_bytes(bytes(bad))
(root / "notanimage.jpg").write_bytes(b"hello, this is text")

save_file(expected, str(root / "expected.safetensors"), metadata={"generator": "Tools/reference/image_fixtures.py",
                                                                   "pillow": Image.__version__})
print("wrote", sorted(p.name for p in root.iterdir()))
