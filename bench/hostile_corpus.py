"""Hostile inputs, generated (nothing binary is committed), and what each must end as.

    .venvs/controller/bin/python bench/hostile_corpus.py --list
    .venvs/controller/bin/python bench/hostile_corpus.py --write DIR
    .venvs/controller/bin/python bench/hostile_corpus.py --upload [--outputs outputs/dev.json]
        [--wait 120] [--manifest PATH]

`--upload` puts every case under a fresh prefix, writes the run manifest, then prints the
accounting table with every variant downloaded and checked; exits 0 only when nothing is
missing or partial and every case ended as expected.
"""

from __future__ import annotations

import argparse
import io
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lambda" / "src"), str(ROOT)]

from PIL import Image, ImageDraw  # noqa: E402

from bench.pipeline.manifest import Expect  # noqa: E402
from tests.images.generate import photo_like  # noqa: E402
from tests.images.icc import toy_cmyk_profile  # noqa: E402

S3_MAX_KEY_BYTES = 1024
# the longest suffix a variant adds to the stem: "/compressed.jpg"
LONGEST_VARIANT_SUFFIX = len("/compressed.jpg")


@dataclass(frozen=True)
class Case:
    name: str
    key: str  # relative to the run prefix
    data: bytes
    expect: Expect
    expect_size: tuple[int, int] | None = None  # upright source size, for EITHER/VARIANTS


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _photo(size: tuple[int, int] = (320, 200)) -> Image.Image:
    return photo_like(size, seed=11)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def decompression_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A 1-bit PNG of width x height zeros: ~50 KB on disk, 400 MP once decoded."""
    row = b"\x00" + bytes((width + 7) // 8)  # filter byte + packed pixels
    compressor = zlib.compressobj(9)
    chunks = [compressor.compress(row) for _ in range(height)]
    idat = b"".join(chunks) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _corrupt_png_idat(data: bytes) -> bytes:
    """Flip a byte inside the IDAT payload (its CRC no longer matches)."""
    at = data.index(b"IDAT") + 40
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def _scrambled_jpeg(data: bytes) -> bytes:
    """Headers intact, entropy-coded data overwritten with markers that are not allowed there."""
    start = data.index(b"\xff\xda") + 20  # just past the start of scan
    return data[:start] + b"\xff\xd9\xff\xd8" * 512 + data[start + 2048 :]


def _exif_oriented(orientation: int) -> Case:
    upright = _photo((320, 200))
    draw = ImageDraw.Draw(upright)
    draw.rectangle((0, 0, 40, 40), fill=(255, 0, 0))  # a corner marker, for eyes
    # stored so that applying `orientation` gives back `upright`
    stored = {
        1: upright,
        2: upright.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        3: upright.transpose(Image.Transpose.ROTATE_180),
        4: upright.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
        5: upright.transpose(Image.Transpose.TRANSPOSE),
        6: upright.transpose(Image.Transpose.ROTATE_90),
        7: upright.transpose(Image.Transpose.TRANSVERSE),
        8: upright.transpose(Image.Transpose.ROTATE_270),
    }[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    return Case(
        f"exif-orientation-{orientation}",
        f"exif/orientation {orientation}.jpg",
        _encode(stored, "JPEG", quality=85, exif=exif),
        Expect.VARIANTS,
        upright.size,
    )


def _long_key(prefix: str, total_bytes: int, name: str) -> str:
    """A key of exactly `total_bytes` UTF-8 bytes once `prefix` is prepended."""
    fixed = f"{name}/"
    filler = total_bytes - len(prefix.encode()) - len(fixed.encode()) - len(".jpg")
    return f"{fixed}{'l' * filler}.jpg"


def cases(prefix: str = "") -> list[Case]:
    """Every hostile input; `prefix` is the run prefix the keys will live under (the long-key
    cases are sized for it)."""
    photo = _photo()
    jpeg = _encode(photo, "JPEG", quality=85)
    png = _encode(photo, "PNG")
    size = photo.size
    v = Expect.VARIANTS
    f = Expect.FAILURE

    palette = photo.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    palette.info["transparency"] = 0
    gradient16 = Image.linear_gradient("L").resize(size).point(lambda value: value * 257, "I")
    frames = [_photo((160, 100)).rotate(angle) for angle in (0, 10, 20)]
    tiff_pages = io.BytesIO()
    frames[0].save(tiff_pages, "TIFF", save_all=True, append_images=frames[1:])
    builders: list[Callable[[], Case]] = [
        # not images, or broken ones: exactly one failure record each
        lambda: Case("zero-bytes", "zero bytes.jpg", b"", f),
        lambda: Case("text-as-jpg", "text.jpg", b"This is a text file, not an image.\n", f),
        lambda: Case(
            "html-as-png", "page.png", b"<!doctype html><html><body>hi</body></html>\n", f
        ),
        lambda: Case("truncated-jpeg", "truncated.jpg", jpeg[: len(jpeg) // 2], f),
        lambda: Case("truncated-png", "truncated-png.png", png[: len(png) // 2], f),
        # Pillow does not check IDAT CRCs: a damaged stream may decode to damaged pixels
        lambda: Case(
            "corrupt-png-idat", "corrupt-idat.png", _corrupt_png_idat(png), Expect.EITHER, size
        ),
        lambda: Case(
            "corrupt-jpeg-scan", "corrupt-scan.jpg", _scrambled_jpeg(jpeg), Expect.EITHER, size
        ),
        lambda: Case("header-only-jpeg", "header-only.jpg", jpeg[:200], f),
        lambda: Case("decompression-bomb", "bomb.png", decompression_bomb(), f),
        # odd but valid: five variants each
        lambda: Case(
            "strip-30000x1",
            "strip-wide.png",
            _encode(Image.linear_gradient("L").resize((30000, 1)), "PNG"),
            v,
            (30000, 1),
        ),
        lambda: Case(
            "strip-1x30000",
            "strip-tall.png",
            _encode(Image.linear_gradient("L").resize((1, 30000)), "PNG"),
            v,
            (1, 30000),
        ),
        lambda: Case(
            "grey-16-bit-png", "grey16.png", _encode(gradient16.convert("I;16"), "PNG"), v, size
        ),
        lambda: Case(
            "cmyk-jpeg-no-profile",
            "cmyk-plain.jpg",
            _encode(photo.convert("CMYK"), "JPEG", quality=90),
            v,
            size,
        ),
        lambda: Case(
            "cmyk-jpeg-icc",
            "cmyk-icc.jpg",
            _encode(photo.convert("CMYK"), "JPEG", quality=90, icc_profile=toy_cmyk_profile()),
            v,
            size,
        ),
        lambda: Case(
            "palette-transparency-png", "palette-alpha.png", _encode(palette, "PNG"), v, size
        ),
        lambda: Case(
            "palette-transparency-gif", "palette-alpha-gif.gif", _encode(palette, "GIF"), v, size
        ),
        lambda: Case(
            "animated-gif",
            "animated-gif.gif",
            _encode(
                frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0
            ),
            v,
            (160, 100),
        ),
        lambda: Case(
            "animated-webp",
            "animated-webp.webp",
            _encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100),
            v,
            (160, 100),
        ),
        lambda: Case("multipage-tiff", "pages.tiff", tiff_pages.getvalue(), v, (160, 100)),
        lambda: Case("bmp", "bitmap.bmp", _encode(photo, "BMP"), v, size),
        *[lambda n=n: _exif_oriented(n) for n in range(1, 9)],
        # keys (stems are unique: `x.jpg` and `x.png` would share their variants, lambda/README.md)
        lambda: Case("key-spaces", "with  some spaces .jpg", jpeg, v, size),
        lambda: Case("key-unicode", "fotografía ñandú 日本語 😀.jpg", jpeg, v, size),
        lambda: Case("key-plus", "a+b+c.jpg", jpeg, v, size),
        lambda: Case("key-percent", "100% real %20 %2B.jpg", jpeg, v, size),
        lambda: Case("key-uppercase-ext", "UPPER.JPG", jpeg, v, size),
        lambda: Case("key-uppercase-png", "UPPER-PNG.PNG", png, v, size),
        lambda: Case("key-no-extension", "no-extension", jpeg, v, size),
        lambda: Case(
            "key-deep-prefix", "/".join(f"d{i}" for i in range(60)) + "/deep.jpg", jpeg, v, size
        ),
        lambda: Case(
            "key-longest-that-fits",
            _long_key(prefix, S3_MAX_KEY_BYTES - LONGEST_VARIANT_SUFFIX + 4, "fits"),
            jpeg,
            v,
            size,
        ),
        # some variant keys fit, some do not: must not end half written
        lambda: Case(
            "key-variants-too-long", _long_key(prefix, S3_MAX_KEY_BYTES - 4, "over"), jpeg, f
        ),
        lambda: Case("key-s3-maximum", _long_key(prefix, S3_MAX_KEY_BYTES, "max"), jpeg, f),
    ]
    return [build() for build in builders]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--list", action="store_true")
    action.add_argument("--write", type=Path, metavar="DIR")
    action.add_argument("--upload", action="store_true")
    parser.add_argument("--outputs", type=Path, default=ROOT / "outputs" / "dev.json")
    parser.add_argument("--endpoint", help="overrides AWS_ENDPOINT_URL")
    parser.add_argument("--manifest", type=Path)
    parser.add_argument("--wait", type=float, default=120.0)
    args = parser.parse_args()
    if args.list:
        for case in cases():
            print(f"{case.name:<28} {case.expect.value:<9} {len(case.data):>9} B  {case.key[:60]}")
        return 0
    if args.write:
        for case in cases():
            path = args.write / case.name / Path(case.key).name[:200]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(case.data)
        print(f"wrote {len(cases())} cases under {args.write}")
        return 0
    return upload_corpus(args.outputs, args.endpoint, args.manifest, args.wait)


def upload_corpus(outputs: Path, endpoint: str | None, manifest: Path | None, wait: float) -> int:
    from bench.pipeline.accounting import reconcile
    from bench.pipeline.manifest import ManifestWriter
    from bench.pipeline.stack import Stack
    from bench.pipeline.uploads import run_prefix, upload

    stack = Stack.from_file(outputs, endpoint)
    prefix = run_prefix("corpus")
    manifest = manifest or ROOT / ".state" / "runs" / f"{prefix.rstrip('/')}.jsonl"
    with ManifestWriter(manifest) as writer:
        entries = [
            upload(stack, prefix + c.key, c.data, writer, c.expect, c.name, c.expect_size)
            for c in cases(prefix)
        ]
    accounting = reconcile(stack, entries, wait, verify=True)
    print(f"manifest {manifest}")
    print(accounting.table(details=len(entries)))
    return 0 if accounting.passed and accounting.counts["unexpected"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
