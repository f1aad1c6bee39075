"""Pure image processing: source bytes in, the configured variants out. No AWS in here.

The pipeline decodes once, brings every input to one of four working modes (L, LA, RGB, RGBA)
in sRGB with its EXIF orientation applied and its metadata dropped, then encodes the variants
concurrently on a module-level thread pool (Pillow releases the GIL while it decodes, resizes
and encodes). The PNG, the long pole, is itself split into row bands (png.py).
"""

from __future__ import annotations

import ctypes
import functools
import io
import logging
import struct
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from PIL import ExifTags, Image, ImageCms, UnidentifiedImageError

from . import png
from .config import ProcessingSettings, encoder_threads
from .errors import CorruptImage, ImageTooLarge, UnsupportedImageFormat
from .keys import output_key
from .pillow_io import save_to_bytes

LOGGER = logging.getLogger(__name__)

# Openers to try; the JPEG one also returns MPO (multi-picture JPEG, first picture used).
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")
# Our own limit (ProcessingSettings.max_input_pixels) is checked from the header instead.
Image.MAX_IMAGE_PIXELS = None

_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _srgb_icc() -> bytes:
    """The sRGB profile every RGB variant embeds. LittleCMS stamps a profile it creates with the
    current time (header bytes 24-35), so each worker process would embed its own, and an event
    redelivered to another execution environment would give other bytes. A fixed creation date
    keeps the five objects byte for byte the same."""
    created = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return created[:24] + struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + created[36:]


SRGB_ICC = _srgb_icc()
_SRGB_PROFILE = ImageCms.ImageCmsProfile(io.BytesIO(SRGB_ICC))
# The encoders (into an OS file: pillow_io.py), LittleCMS and resizing release the GIL, so
# threads give real parallelism.
_WORKERS = encoder_threads()
_POOL = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="encode")


def _keep_big_buffers_out_of_the_heap() -> None:
    """glibc's malloc raises its mmap threshold (up to 32 MB) each time a big mmapped block is
    freed; from then on image-sized buffers come from the heap, are not returned when freed,
    and the next encoder's buffers land beside them. Measured on 12 MP: peak RSS 195 MB with
    the dynamic threshold, 170 MB with it fixed at 1 MiB, no measurable time difference.
    A fixed threshold turns the adjustment off; elsewhere (musl, macOS) this does nothing."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD


_keep_big_buffers_out_of_the_heap()
# Errors Pillow raises for data it cannot decode (UnidentifiedImageError is handled first).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError)


@dataclass(frozen=True)
class VariantSpec:
    name: str
    format: str
    extension: str
    content_type: str
    options: tuple[tuple[str, Any], ...]
    fit: int | None = None  # None keeps the working size; N fits the variant in N x N

    @property
    def flattens_alpha(self) -> bool:
        return self.format == "JPEG"


@dataclass(frozen=True)
class Variant:
    name: str
    key: str
    content_type: str
    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class SourceInfo:
    format: str
    mode: str
    width: int
    height: int

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1_000_000


def variant_specs(settings: ProcessingSettings) -> tuple[VariantSpec, ...]:
    """The five variants in the order the pool starts them, longest first (bench/processing.py,
    12 MP on 2 CPUs): WebP (~0.35 s CPU) is the longest single task once the PNG is split into
    row bands (~0.13 s each), so it starts first, beside the bands; the JPEGs finish last.
    WebP after the bands was as fast but peaked ~30 MB higher: its encoder (~70 MB for RGB,
    ~230 MB for RGBA) then overlapped the PNG's assembly and the JPEGs' Huffman buffers."""
    encoders = settings.encoders
    return (
        VariantSpec(
            "webp",
            "WEBP",
            "webp",
            "image/webp",
            (("quality", settings.webp_quality), ("method", encoders.webp_method)),
        ),
        VariantSpec(
            "png",
            "PNG",
            "png",
            "image/png",
            (
                ("compress_level", encoders.png_compress_level),
                ("compress_type", encoders.png_strategy),
            ),
        ),
        VariantSpec(
            "compressed",
            "JPEG",
            "jpg",
            "image/jpeg",
            (("quality", settings.jpeg_quality), ("optimize", encoders.jpeg_optimize)),
        ),
        VariantSpec(
            "low",
            "JPEG",
            "jpg",
            "image/jpeg",
            (("quality", settings.low_jpeg_quality), ("optimize", encoders.jpeg_optimize)),
        ),
        VariantSpec(
            "thumbnail",
            "JPEG",
            "jpg",
            "image/jpeg",
            (("quality", settings.jpeg_quality), ("optimize", encoders.jpeg_optimize)),
            fit=settings.thumbnail_size,
        ),
    )


def open_image(data: bytes, settings: ProcessingSettings) -> Image.Image:
    """Identify the format and check the pixel limit from the header, before decoding pixels."""
    if not data:
        raise CorruptImage("the object is empty")
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError:
        raise UnsupportedImageFormat(
            f"not an image in an accepted format ({', '.join(ACCEPTED_FORMATS)}, MPO)"
        ) from None
    except _DECODE_ERRORS as error:
        raise CorruptImage(f"unreadable image header: {error}") from error
    width, height = image.size
    if width * height > settings.max_input_pixels:
        raise ImageTooLarge(
            f"{width}x{height} is {width * height} pixels, over the limit of "
            f"{settings.max_input_pixels}"
        )
    return image


def fit_within(width: int, height: int, limit: int) -> tuple[int, int]:
    """The largest size with the same aspect whose long side is at most `limit` (never up)."""
    long_side = max(width, height)
    if long_side <= limit:
        return width, height
    scale = limit / long_side
    return max(1, round(width * scale)), max(1, round(height * scale))


def normalise(image: Image.Image, settings: ProcessingSettings) -> Image.Image:
    """Decode and bring to an sRGB working image in L, LA, RGB or RGBA, upright, metadata-free.

    Consumes `image`: it is closed on return (its size, mode, format and info stay readable),
    so a 24 MP decode does not stay in memory beside the 11 MP working image while encoding.
    """
    orientation = _orientation(image)
    target = fit_within(*image.size, settings.max_dimension)
    if image.format in ("JPEG", "MPO") and target != image.size:
        # DCT scaling to the smallest 1/2^n size still >= target: cheaper and as sharp, since
        # LANCZOS still does the last step.
        image.draft(image.mode, target)
    try:
        image.load()
    except _DECODE_ERRORS as error:
        raise CorruptImage(f"cannot decode the image: {error}") from error
    icc_profile = image.info.get("icc_profile")
    working = _to_working_mode(image)
    if working.size != target:
        working = _resize(working, target)
    working = _to_srgb(working, icc_profile)
    if orientation in _TRANSPOSE_FOR_ORIENTATION:
        working = working.transpose(_TRANSPOSE_FOR_ORIENTATION[orientation])
    working = _view(working)  # never mutate the decoded source, even when nothing changed
    working.info = {}  # no EXIF/GPS, XMP, comments or text chunks reach the outputs
    image.close()  # frees the decoded pixels unless `working` still shares them
    return working


def render_variants(
    working: Image.Image,
    settings: ProcessingSettings,
    source_key: str,
    key_template: str,
) -> Iterator[Variant]:
    """Encode every variant concurrently; yield each as soon as it is ready."""
    specs = variant_specs(settings)
    futures: list[Future[Variant]] = []
    flattened: Image.Image | None = None
    for spec in specs:
        if spec.flattens_alpha and spec.fit is None:
            if flattened is None:
                flattened = flatten(working, settings.background_color)
            source = flattened
        else:
            source = working
        if spec.format == "PNG" and len(_png_bands(source)) > 1:
            futures.append(_submit_png(_view(source), spec, source_key, key_template))
        else:
            futures.append(
                _POOL.submit(_render, _view(source), spec, settings, source_key, key_template)
            )
    # The tasks hold their own views: the flattened copy is freed when its last JPEG is done.
    flattened = source = None
    for future in as_completed(futures):
        yield future.result()


def process_image(
    data: bytes, settings: ProcessingSettings, source_key: str, key_template: str
) -> tuple[SourceInfo, list[Variant]]:
    image = open_image(data, settings)
    info = SourceInfo(image.format or "", image.mode, *image.size)
    working = normalise(image, settings)
    return info, list(render_variants(working, settings, source_key, key_template))


def flatten(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Composite onto `background` if the image has alpha (JPEG has none)."""
    if image.mode not in ("LA", "RGBA"):
        return image
    rgba = image.convert("RGBA") if image.mode == "LA" else image
    flat = Image.new("RGB", rgba.size, background)
    flat.paste(rgba, mask=rgba)  # an RGBA mask uses its alpha band, no getchannel() copy
    return flat


def encode(image: Image.Image, spec: VariantSpec) -> bytes:
    options = dict(spec.options)
    if spec.format == "WEBP" and image.mode in ("L", "LA"):
        image = image.convert("RGBA" if image.mode == "LA" else "RGB")
    if image.mode in ("RGB", "RGBA"):
        options["icc_profile"] = SRGB_ICC
    return save_to_bytes(image, spec.format, **options)


def _render(
    image: Image.Image,
    spec: VariantSpec,
    settings: ProcessingSettings,
    source_key: str,
    key_template: str,
) -> Variant:
    if spec.fit is not None:
        size = fit_within(*image.size, spec.fit)
        if size != image.size:
            image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if spec.flattens_alpha:
        image = flatten(image, settings.background_color)
    return _variant(spec, image, encode(image, spec), source_key, key_template)


def _variant(
    spec: VariantSpec, image: Image.Image, data: bytes, source_key: str, key_template: str
) -> Variant:
    return Variant(
        name=spec.name,
        key=output_key(key_template, source_key, spec.name, spec.extension),
        content_type=spec.content_type,
        data=data,
        width=image.width,
        height=image.height,
    )


def _submit_png(
    image: Image.Image, spec: VariantSpec, source_key: str, key_template: str
) -> Future[Variant]:
    """The PNG's bands as separate pool tasks, so both CPUs share the long pole."""
    bands = [_POOL.submit(_deflate_band, image, spec, *rows) for rows in _png_bands(image)]

    def variant(segments: list[png.Segment]) -> Variant:
        return _variant(spec, image, _assemble_png(image, segments), source_key, key_template)

    return _when_all(bands, variant)


def _png_bands(image: Image.Image) -> list[tuple[int, int, bool]]:
    """(top, bottom, last) row ranges; one band (then Pillow encodes it whole, which takes
    ~20 % less CPU) on one thread or under 1 MP, where splitting costs more than it gains."""
    strips = (
        _strips(image.height) if image.width * image.height >= 1_000_000 else [(0, image.height)]
    )
    return [(top, bottom, bottom == image.height) for top, bottom in strips]


def _deflate_band(
    image: Image.Image, spec: VariantSpec, top: int, bottom: int, last: bool
) -> png.Segment:
    options = dict(spec.options)
    return png.deflate_band(
        image, top, bottom, options["compress_level"], options["compress_type"], last
    )


def _assemble_png(image: Image.Image, segments: list[png.Segment]) -> bytes:
    return png.assemble(image, segments, SRGB_ICC if image.mode in ("RGB", "RGBA") else None)


def _when_all[T, R](futures: list[Future[T]], combine: Callable[[list[T]], R]) -> Future[R]:
    """A future of combine(results), completed by whichever task finishes last: no thread
    blocks waiting (a pool thread waiting for pool tasks can starve or deadlock the pool)."""
    combined: Future[R] = Future()
    remaining = len(futures)
    lock = threading.Lock()

    def on_done(_: Future[T]) -> None:
        nonlocal remaining
        with lock:
            remaining -= 1
            if remaining:
                return
        try:
            combined.set_result(combine([future.result() for future in futures]))
        except BaseException as error:  # handed to whoever reads the result
            combined.set_exception(error)

    for future in futures:
        future.add_done_callback(on_done)
    return combined


def _strips(height: int) -> list[tuple[int, int]]:
    """Row ranges for splitting one big operation across the pool: a few per thread, so the
    threads stay busy and only a few strip-sized temporaries exist at a time."""
    count = min(4 * _WORKERS, max(1, height // 64)) if _WORKERS > 1 else 1
    return [(height * index // count, height * (index + 1) // count) for index in range(count)]


def _resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """LANCZOS to `size`, in horizontal strips on the pool when there is more than one CPU.

    Each strip resamples its box of the whole source (taps reach across the strip edges), so
    there are no seams; values match one resize() to +-2 (Pillow's float box coordinates
    round differently). Only without Pillow's reduce() step (scale under 2 * reducing_gap),
    whose box alignment would differ.
    """
    gap = 3.0
    strips = _strips(size[1])
    scale = max(image.width / size[0], image.height / size[1])
    if len(strips) == 1 or scale >= 2 * gap or size[0] * size[1] < 1_000_000:
        return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=gap)
    mode = image.mode
    if mode in ("LA", "RGBA"):  # what resize() does itself: resample premultiplied alpha
        image = image.convert(mode[:-1] + "a")
    out = Image.new(image.mode, size)
    row_scale = image.height / size[1]

    def strip(rows: tuple[int, int]) -> None:
        top, bottom = rows
        box = (0.0, top * row_scale, float(image.width), bottom * row_scale)
        part = image.resize(
            (size[0], bottom - top), Image.Resampling.LANCZOS, box=box, reducing_gap=gap
        )
        out.paste(part, (0, top))

    list(_POOL.map(strip, strips))
    return out.convert(mode) if out.mode != mode else out


def _apply_transform(image: Image.Image, transform: ImageCms.ImageCmsTransform) -> Image.Image:
    """ImageCms.applyTransform() in strips on the pool (LittleCMS releases the GIL and a
    transform can be shared between threads); identical pixels, one strip copy per thread."""
    strips = _strips(image.height)
    if len(strips) == 1 or image.width * image.height < 1_000_000:
        return ImageCms.applyTransform(image, transform)
    out = Image.new(transform.output_mode, image.size)

    def strip(rows: tuple[int, int]) -> None:
        top, bottom = rows
        part = image.crop((0, top, image.width, bottom))
        out.paste(ImageCms.applyTransform(part, transform), (0, top))

    list(_POOL.map(strip, strips))
    return out


def _view(image: Image.Image) -> Image.Image:
    """A second Image object over the same pixels: `save()` keeps its options on the object,
    so two threads must never save the same one."""
    return image._new(image.im)


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(ExifTags.Base.Orientation, 1))
    except _DECODE_ERRORS:  # a damaged EXIF block only loses the orientation
        return 1


def _to_working_mode(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode in ("L", "LA", "RGB", "RGBA", "CMYK"):  # CMYK waits for its ICC transform
        return image
    if mode in ("P", "PA"):
        return image.convert("RGBA" if image.has_transparency_data else "RGB")
    if mode.startswith("I;16"):
        return image.convert("I").point(lambda value: value / 257).convert("L")
    if mode in ("I", "F"):
        return _scale_to_l(image)
    if mode == "1":
        return image.convert("L")
    if mode in ("La", "RGBa"):
        return image.convert(mode.upper())
    try:
        return image.convert("RGB")
    except ValueError as error:
        raise UnsupportedImageFormat(f"pixel mode {mode} is not supported") from error


def _scale_to_l(image: Image.Image) -> Image.Image:
    """32-bit integer or float samples to 8 bits by scaling, never clipping: the full 16-bit
    range when they fit it (16-bit PNG/TIFF), 0..1 for floats that fit it, else min..max."""
    low, high = image.getextrema()
    if image.mode == "I" and low >= 0 and high <= 65535:
        low, high = 0, 65535
    elif image.mode == "F" and low >= 0 and high <= 1:
        low, high = 0.0, 1.0
    span = (high - low) or 1
    scale = 255 / span
    return image.point(lambda value: value * scale - low * scale).convert("L")


def _to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    if image.mode in ("L", "LA"):
        return image  # a grey profile's curve is close to sRGB's; outputs stay untagged grey
    if icc_profile:
        try:
            transform = _srgb_transform(icc_profile, image.mode)
        except (ImageCms.PyCMSError, OSError, ValueError) as error:
            LOGGER.warning(
                "embedded ICC profile unusable, treating the image as sRGB",
                extra={"error_type": type(error).__name__},
            )
        else:
            if transform is not None:
                return _apply_transform(image, transform)
    return image.convert("RGB") if image.mode == "CMYK" else image


@functools.lru_cache(maxsize=16)
def _srgb_transform(icc_profile: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """LittleCMS transform from an embedded profile to sRGB (None when it already is sRGB)."""
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
    if ImageCms.getProfileDescription(profile).strip().startswith("sRGB"):
        return None
    return ImageCms.buildTransform(
        profile,
        _SRGB_PROFILE,
        mode,
        "RGBA" if mode == "RGBA" else "RGB",
        renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
        flags=ImageCms.Flags.BLACKPOINTCOMPENSATION,
    )
