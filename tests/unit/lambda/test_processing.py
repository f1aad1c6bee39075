"""Processing on images built here: modes, orientations, colour management, formats, limits."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import encode, render
from image_processor.errors import CorruptImage, ImageTooLarge, UnsupportedImageFormat
from image_processor.processing import SRGB_ICC
from PIL import Image, ImageCms

from tests.images.icc import cmyk_to_srgb8, display_p3_profile, p3_to_srgb8, toy_cmyk_profile

EXPECTED_FORMATS = {"compressed": "JPEG", "low": "JPEG", "webp": "WEBP", "png": "PNG",
                    "thumbnail": "JPEG"}  # fmt: skip


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int32)


def test_variants_formats_sizes_and_qualities(photo: Image.Image) -> None:
    large = photo.resize((1200, 800))
    outputs = render(encode(large, "JPEG", quality=95))
    assert {name: image.format for name, (_, image) in outputs.items()} == EXPECTED_FORMATS
    assert outputs["thumbnail"][1].size == (300, 200)
    for name in ("compressed", "low", "webp", "png"):
        assert outputs[name][1].size == (1200, 800)
    compressed, low = outputs["compressed"][0], outputs["low"][0]
    assert len(low.data) < len(compressed.data)
    reference = pixels(large)
    assert np.abs(pixels(outputs["png"][1]) - reference).mean() < 2.5  # only the source's JPEG loss
    assert outputs["compressed"][0].key == "in/compressed.jpg"
    assert outputs["webp"][0].content_type == "image/webp"


def test_long_side_is_limited_keeping_aspect(photo: Image.Image) -> None:
    outputs = render(encode(photo.resize((900, 300)), "PNG"), max_dimension=450)
    assert outputs["png"][1].size == (450, 150)
    assert outputs["thumbnail"][1].size == (300, 100)


def test_large_jpeg_uses_draft_and_still_hits_the_target(photo: Image.Image) -> None:
    outputs = render(encode(photo.resize((2000, 1000)), "JPEG"), max_dimension=400)
    assert outputs["compressed"][1].size == (400, 200)


def _asymmetric() -> Image.Image:
    """Upright 60x30 test card: a red block at the top left, blue at the bottom right."""
    image = Image.new("RGB", (60, 30), (128, 128, 128))
    image.paste((255, 0, 0), (0, 0, 20, 10))
    image.paste((0, 0, 255), (40, 20, 60, 30))
    return image


# How a camera stores an upright picture under each EXIF orientation (inverse of the display fix).
STORED_AS = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
             4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
             6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
             8: Image.Transpose.ROTATE_270}  # fmt: skip


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation: int) -> None:
    upright = _asymmetric()
    transpose = STORED_AS[orientation]
    stored = upright.transpose(transpose) if transpose is not None else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    outputs = render(encode(stored, "JPEG", quality=95, exif=exif))
    image = outputs["png"][1]
    assert image.size == (60, 30)
    assert np.abs(pixels(image) - pixels(upright)).mean() < 6  # JPEG edges, not a misplaced block
    assert image.getpixel((5, 5))[0] > 200 and image.getpixel((55, 25))[2] > 200


def test_metadata_is_stripped_and_srgb_embedded(photo: Image.Image) -> None:
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    exif.get_ifd(0x8825)[2] = (48.0, 51.0, 29.0)  # GPS latitude
    source = encode(photo, "JPEG", exif=exif, comment=b"secret", xmp=b"<x:xmpmeta/>")
    for name, (variant, image) in render(source).items():
        assert b"CameraMaker" not in variant.data and b"secret" not in variant.data, name
        assert not image.getexif(), name
        assert "xmp" not in image.info and "comment" not in image.info, name
        assert image.info.get("icc_profile") == SRGB_ICC, name


def test_alpha_kept_for_png_and_webp_flattened_on_background_for_jpeg() -> None:
    rgba = Image.new("RGBA", (64, 64), (255, 0, 0, 0))
    rgba.paste((0, 255, 0, 255), (0, 0, 32, 64))
    outputs = render(encode(rgba, "PNG"), background_color=(0, 0, 255))
    for name in ("png", "webp"):
        image = outputs[name][1]
        assert image.mode == "RGBA", name
        assert image.getpixel((48, 32))[3] == 0 and image.getpixel((8, 32))[3] == 255, name
    for name in ("compressed", "low", "thumbnail"):
        image = outputs[name][1].convert("RGB")
        assert outputs[name][1].mode == "RGB", name
        right = image.getpixel((image.width * 3 // 4, image.height // 2))
        assert right[2] > 200 and right[0] < 60, name  # transparent red became the background


def _mode_image(mode: str) -> Image.Image:
    gradient = Image.linear_gradient("L").resize((64, 48))
    if mode == "1":
        return gradient.convert("1")
    if mode == "LA":
        return Image.merge("LA", [gradient, gradient.rotate(90)])
    if mode == "P":
        image = Image.merge("RGB", [gradient, gradient.rotate(180), gradient]).quantize(16)
        image.info["transparency"] = image.getpixel((0, 0))
        return image
    if mode == "I;16":
        return gradient.point(lambda v: v * 257, "I").convert("I;16")
    if mode == "I":
        return gradient.point(lambda v: v * 1000, "I")
    if mode == "F":
        return gradient.convert("F").point(lambda v: v / 255)
    if mode == "RGBA":  # real transparency: encoders may drop an alpha channel that is all 255
        return Image.merge("RGBA", [gradient, gradient, gradient, gradient.rotate(90)])
    return Image.merge("RGB", [gradient] * 3).convert(mode)


# (mode, format to carry it, expected PNG mode, expected WebP mode)
MODES = [
    ("1", "PNG", "L", "RGB"), ("L", "PNG", "L", "RGB"), ("LA", "PNG", "LA", "RGBA"),
    ("P", "PNG", "RGBA", "RGBA"), ("RGB", "PNG", "RGB", "RGB"), ("RGBA", "PNG", "RGBA", "RGBA"),
    ("CMYK", "TIFF", "RGB", "RGB"), ("I;16", "PNG", "L", "RGB"), ("I", "TIFF", "L", "RGB"),
    ("F", "TIFF", "L", "RGB"),
]  # fmt: skip


@pytest.mark.parametrize(("mode", "fmt", "png_mode", "webp_mode"), MODES)
def test_every_mode(mode: str, fmt: str, png_mode: str, webp_mode: str) -> None:
    source = _mode_image(mode)
    assert source.mode == mode
    data = encode(source, fmt)
    assert Image.open(io.BytesIO(data)).mode == mode  # the format really carries the mode
    outputs = render(data)
    assert outputs["png"][1].mode == png_mode
    assert outputs["webp"][1].mode == webp_mode
    for name in ("compressed", "low", "thumbnail"):
        assert outputs[name][1].mode in ("L", "RGB"), name
    assert outputs["png"][1].size == (64, 48)


@pytest.mark.parametrize("mode", ["I;16", "I", "F"])
def test_wide_samples_are_scaled_not_clipped(mode: str) -> None:
    """A left-to-right ramp stays a full ramp (clipping would saturate most of it)."""
    source = _mode_image(mode).rotate(90, expand=True).resize((256, 8))
    png = render(encode(source, "TIFF" if mode != "I;16" else "PNG"))["png"][1].convert("L")
    row = pixels(png)[4]
    assert row[0] < 8 and row[-1] > 247
    assert 100 < row[128] < 156
    assert np.all(np.diff(row) >= 0)


def test_display_p3_is_converted_to_srgb_against_a_reference() -> None:
    patches = np.array([[255, 0, 0], [0, 255, 0], [30, 120, 200], [128, 128, 128],
                        [250, 200, 150], [0, 0, 0]], dtype=np.uint8)  # fmt: skip
    image = Image.fromarray(np.repeat(np.repeat(patches[None], 8, 0), 8, 1), "RGB")
    png = render(encode(image, "PNG", icc_profile=display_p3_profile()))["png"][1]
    got = pixels(png)[4, 4::8]
    expected = p3_to_srgb8(patches.astype(float))
    assert np.abs(got - expected).max() <= 1
    assert np.abs(got - patches.astype(int)).max() > 20  # P3 red really moved


def test_cmyk_with_icc_is_converted_against_a_reference() -> None:
    patches = np.array([[0, 0, 0, 0], [255, 0, 0, 0], [128, 0, 0, 0], [0, 200, 0, 0],
                        [0, 0, 60, 0], [0, 0, 0, 128]], dtype=np.uint8)  # fmt: skip
    image = Image.fromarray(np.repeat(np.repeat(patches[None], 8, 0), 8, 1), "CMYK")
    png = render(encode(image, "TIFF", icc_profile=toy_cmyk_profile()))["png"][1]
    assert png.mode == "RGB"
    assert np.abs(pixels(png)[4, 4::8] - cmyk_to_srgb8(patches.astype(float))).max() <= 1


def test_srgb_tagged_input_is_left_alone(photo: Image.Image) -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    png = render(encode(photo, "PNG", icc_profile=srgb))["png"][1]
    assert np.array_equal(pixels(png), pixels(photo))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "MPO"])
def test_every_input_format(photo: Image.Image, fmt: str) -> None:
    if fmt == "MPO":
        data = encode(photo, "MPO", save_all=True, append_images=[photo.rotate(180)])
    else:
        data = encode(photo, fmt)
    assert Image.open(io.BytesIO(data)).format == fmt
    outputs = render(data)
    assert set(outputs) == set(EXPECTED_FORMATS)
    assert outputs["png"][1].size == photo.size
    difference = np.abs(pixels(outputs["png"][1].convert("RGB")) - pixels(photo)).mean()
    assert difference < (12 if fmt == "GIF" else 4)  # first picture, not the rotated second


def test_animated_gif_and_multipage_tiff_use_the_first_frame() -> None:
    frames = [Image.new("RGB", (40, 30), colour) for colour in ((250, 0, 0), (0, 0, 250))]
    for fmt in ("GIF", "TIFF"):
        data = encode(frames[0], fmt, save_all=True, append_images=frames[1:])
        assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2
        first = render(data)["png"][1].convert("RGB").getpixel((20, 15))
        assert first[0] > 200 and first[2] < 50, fmt


def test_not_an_image_named_jpg() -> None:
    with pytest.raises(UnsupportedImageFormat, match="not an image"):
        render(b"This is a text file, not an image.\n")


def test_unaccepted_format_is_unsupported(photo: Image.Image) -> None:
    with pytest.raises(UnsupportedImageFormat):
        render(encode(photo, "ICO"))


def test_zero_bytes() -> None:
    with pytest.raises(CorruptImage, match="empty"):
        render(b"")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file(photo: Image.Image, fmt: str) -> None:
    data = encode(photo, fmt)
    with pytest.raises(CorruptImage):
        render(data[: len(data) // 2])


def test_decompression_bomb_is_refused_from_the_header() -> None:
    """A 20000x20000 PNG of one colour is tiny on disk but 400 MP once decoded."""
    bomb = encode(Image.new("L", (20000, 20000)), "PNG", optimize=True)
    assert len(bomb) < 1_000_000
    with pytest.raises(ImageTooLarge, match="400000000 pixels"):
        render(bomb)


def test_pixel_limit_is_configurable(photo: Image.Image) -> None:
    with pytest.raises(ImageTooLarge):
        render(encode(photo, "PNG"), max_input_pixels=photo.width * photo.height - 1)
    assert render(encode(photo, "PNG"), max_input_pixels=photo.width * photo.height)


def _four_strips(height: int) -> list[tuple[int, int]]:
    return [(height * index // 4, height * (index + 1) // 4) for index in range(4)]


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_big_resize_in_strips_matches_one_resize(
    monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    from image_processor import processing

    from tests.images.generate import photo_like

    monkeypatch.setattr(processing, "_strips", _four_strips)  # even on a 1-CPU runner
    source = photo_like((1800, 1200), seed=5)
    if mode in ("LA", "RGBA"):
        source.putalpha(Image.linear_gradient("L").resize(source.size))
    source = source.convert(mode)
    stripped = processing._resize(source, (1500, 1000))
    whole = source.resize((1500, 1000), Image.Resampling.LANCZOS, reducing_gap=3.0)
    assert stripped.mode == mode and stripped.size == (1500, 1000)
    got, expected = pixels(stripped), pixels(whole)
    if mode in ("LA", "RGBA"):  # compare premultiplied: near alpha 0 colour means nothing
        got = np.concatenate([got[..., :-1] * got[..., -1:] // 255, got[..., -1:]], axis=-1)
        expected = np.concatenate(
            [expected[..., :-1] * expected[..., -1:] // 255, expected[..., -1:]], axis=-1
        )
    difference = np.abs(got - expected)
    # float rounding (+1 more from un- and re-premultiplying), no seams
    assert difference.max() <= (3 if mode in ("LA", "RGBA") else 2)
    assert difference.mean() < 0.3


def test_icc_transform_in_strips_is_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    from image_processor import processing

    from tests.images.generate import photo_like

    monkeypatch.setattr(processing, "_strips", _four_strips)
    cmyk = photo_like((1200, 900), seed=5).convert("CMYK")
    transform = processing._srgb_transform(toy_cmyk_profile(), "CMYK")
    assert transform is not None
    stripped = processing._apply_transform(cmyk, transform)
    assert stripped.tobytes() == ImageCms.applyTransform(cmyk, transform).tobytes()


def test_normalise_releases_the_decoded_source(photo: Image.Image) -> None:
    from image_processor.config import ProcessingSettings
    from image_processor.processing import normalise, open_image

    image = open_image(encode(photo.resize((480, 320)), "PNG"), ProcessingSettings())
    working = normalise(image, ProcessingSettings(max_dimension=240))
    assert working.size == (240, 160) and image.size == (480, 320) and image.format == "PNG"
    with pytest.raises(ValueError, match="closed"):
        image.getpixel((0, 0))
    assert working.getpixel((0, 0))  # the working image is independent of it


_VARIANT_DIGESTS = """
import hashlib, json, sys
from image_processor.config import ProcessingSettings
from image_processor.processing import process_image
data = open(sys.argv[1], "rb").read()
_, variants = process_image(data, ProcessingSettings(), "in.jpg", "{stem}/{variant}.{ext}")
print(json.dumps({v.name: hashlib.sha256(v.data).hexdigest() for v in variants}))
"""


def test_another_process_later_renders_the_same_bytes() -> None:
    """An event redelivered to another execution environment, started at another time, must
    write the same five objects byte for byte: nothing may embed the process or the clock
    (LittleCMS dates the profiles it creates to the second)."""
    repo = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(repo / "lambda" / "src"), "ENCODER_THREADS": "1"}
    command = [sys.executable, "-c", _VARIANT_DIGESTS, str(repo / "tests/images/sample_image.jpg")]

    def digests() -> dict[str, str]:
        run = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        return json.loads(run.stdout)

    first = digests()
    time.sleep(1.1)  # into another second
    assert digests() == first
    assert len(first) == 5
