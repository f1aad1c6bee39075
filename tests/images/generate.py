"""Writes the sample images of tests/images/ (deterministic): `python tests/images/generate.py`.

`photo_like()` is also what the unit tests and bench/processing.py build their inputs with.
"""

from __future__ import annotations

import io
import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.images.icc import toy_cmyk_profile

HERE = Path(__file__).resolve().parent


def photo_like(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """RGB with what compresses like a photo: smooth light, soft shapes, edges and sensor noise."""
    rng = random.Random(seed)
    width, height = size
    small = (max(8, width // 8), max(8, height // 8))
    light = Image.radial_gradient("L").resize(small)
    base = Image.merge("RGB", [light, Image.linear_gradient("L").resize(small), light.rotate(90)])
    draw = ImageDraw.Draw(base)
    for _ in range(24):
        x, y = rng.randrange(small[0]), rng.randrange(small[1])
        radius = rng.randrange(2, max(3, small[0] // 4))
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    base = base.filter(ImageFilter.GaussianBlur(1)).resize(size, Image.Resampling.BICUBIC)
    grain = Image.effect_noise(size, 12).convert("RGB")
    return Image.blend(base, grain, 0.12)


def _encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def samples() -> dict[str, bytes]:
    photo = photo_like((640, 480))
    sideways = photo.resize((320, 240)).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways; viewers rotate it 90° clockwise to 320x240
    alpha = photo.resize((200, 150)).convert("RGBA")
    alpha.putalpha(Image.linear_gradient("L").resize((200, 150)))
    cmyk = photo.resize((160, 120)).convert("CMYK")
    return {
        "sample_image.jpg": _encoded(photo, "JPEG", quality=85),
        "invalid_image.jpg": b"This is a text file, not an image.\n",
        "alpha.png": _encoded(alpha, "PNG"),
        "sideways_exif6.jpg": _encoded(sideways, "JPEG", quality=85, exif=exif),
        "cmyk_icc.jpg": _encoded(cmyk, "JPEG", quality=90, icc_profile=toy_cmyk_profile()),
    }


if __name__ == "__main__":
    for name, data in samples().items():
        (HERE / name).write_bytes(data)
        print(f"{name:<20} {len(data):>7} bytes")
