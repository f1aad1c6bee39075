"""The banded PNG encoder: standard files, pixels unchanged, filters exactly as a whole-image
encode would choose them, and a checksum zlib itself verifies."""

from __future__ import annotations

import io
import random
import struct
import zlib

import pytest
from image_processor import png, processing
from image_processor.config import ProcessingSettings
from image_processor.processing import SRGB_ICC
from PIL import Image, ImageChops


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) of every chunk, each CRC checked."""
    assert data.startswith(png.PNG_SIGNATURE)
    position, found = len(png.PNG_SIGNATURE), []
    while position < len(data):
        (length,) = struct.unpack_from(">I", data, position)
        kind = data[position + 4 : position + 8]
        payload = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack_from(">I", data, position + 8 + length)
        assert crc == zlib.crc32(kind + payload), kind
        found.append((kind, payload))
        position += 12 + length
    return found


def filtered_rows(data: bytes) -> bytes:
    """The decompressed IDAT stream; zlib.decompress checks the Adler-32 trailer."""
    return zlib.decompress(b"".join(p for kind, p in chunks(data) if kind == b"IDAT"))


def textured(mode: str, size: tuple[int, int]) -> Image.Image:
    """Noise plus gradients, so every filter type wins on some rows."""
    bands = [
        ImageChops.add(
            Image.effect_noise(size, 40 + 10 * i), Image.linear_gradient("L").resize(size)
        )
        for i in range(len(mode))
    ]
    return Image.merge(mode, bands) if len(bands) > 1 else bands[0]


def banded(image: Image.Image, cuts: list[int]) -> bytes:
    rows = list(zip([0, *cuts], [*cuts, image.height], strict=True))
    segments = [
        png.deflate_band(image, top, bottom, 1, 0, final=bottom == image.height)
        for top, bottom in rows
    ]
    return png.assemble(image, segments, None)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
@pytest.mark.parametrize("cuts", [[], [1], [37, 38, 50], [60, 61, 62, 63]])
def test_bands_decode_to_the_same_pixels_and_filters_as_one_pillow_encode(
    mode: str, cuts: list[int]
) -> None:
    image = textured(mode, (97, 64))
    data = banded(image, cuts)
    decoded = Image.open(io.BytesIO(data))
    decoded.load()
    assert decoded.mode == mode
    assert decoded.tobytes() == image.tobytes()
    whole = io.BytesIO()
    image.save(whole, "PNG", compress_level=0)
    reference = filtered_rows(whole.getvalue())
    assert filtered_rows(data) == reference
    assert len({reference[i] for i in range(0, len(reference), 1 + 97 * len(mode))}) > 1


@pytest.fixture
def banded_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Two encoding threads (as on any 2-CPU machine), and a record of each banded PNG."""
    calls: list[int] = []
    assemble = png.assemble

    def recording(image: Image.Image, segments: list[png.Segment], icc: bytes | None) -> bytes:
        calls.append(len(segments))
        return assemble(image, segments, icc)

    monkeypatch.setattr(processing, "_WORKERS", 2)
    monkeypatch.setattr(png, "assemble", recording)
    return calls


def png_variant(image: Image.Image) -> bytes:
    _, variants = processing.process_image(
        encode_source(image), ProcessingSettings(), "in.png", "{stem}/{variant}.{ext}"
    )
    return next(variant.data for variant in variants if variant.name == "png")


def encode_source(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_the_pipeline_bands_big_pngs_into_a_standard_file(
    banded_calls: list[int], mode: str
) -> None:
    image = textured(mode, (1200, 900))  # over 1 MP
    data = png_variant(image)
    assert banded_calls and banded_calls[0] > 1
    kinds = [kind for kind, _ in chunks(data)]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    assert set(kinds[1:-1]) == ({b"iCCP", b"IDAT"} if mode != "L" else {b"IDAT"})
    assert sum(kind == b"IDAT" for kind in kinds) > 2  # zlib header, the bands, the checksum
    decoded = Image.open(io.BytesIO(data))
    assert decoded.info.get("icc_profile") == (SRGB_ICC if mode != "L" else None)
    assert decoded.mode == mode and decoded.tobytes() == image.tobytes()


def test_small_images_and_one_thread_use_pillows_own_encoder(
    banded_calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    png_variant(textured("RGB", (900, 900)))  # under 1 MP
    monkeypatch.setattr(processing, "_WORKERS", 1)
    image = textured("RGB", (1200, 900))
    assert Image.open(io.BytesIO(png_variant(image))).tobytes() == image.tobytes()
    assert banded_calls == []


def test_adler32_combine_matches_zlib_on_random_splits() -> None:
    rng = random.Random(4)
    for _ in range(50):
        first = rng.randbytes(rng.choice([0, 1, 65520, 65521, 70000, rng.randrange(200000)]))
        second = rng.randbytes(rng.choice([0, 1, 65521, 131042, rng.randrange(200000)]))
        combined = png.adler32_combine(zlib.adler32(first), zlib.adler32(second), len(second))
        assert combined == zlib.adler32(first + second)


def test_other_modes_are_refused() -> None:
    with pytest.raises(ValueError, match="PNG bands take modes"):
        png.deflate_band(Image.new("P", (4, 4)), 0, 4, 1, 0, final=True)
