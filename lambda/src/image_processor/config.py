"""Configuration, parsed once at cold start from the environment (names in docs/contracts.md)."""

from __future__ import annotations

import os
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from PIL import ImageColor

from .errors import ConfigurationError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
KEY_TEMPLATE_FIELDS = frozenset({"key", "stem", "name", "variant", "ext"})
DEFAULT_KEY_TEMPLATE = "{stem}/{variant}.{ext}"
# Lambda gives a function CPU in proportion to its memory, one vCPU's worth at 1,769 MB
# (AWS docs, "Configuring Lambda function memory"), while the environment shows 2+ vCPUs.
LAMBDA_MB_PER_VCPU = 1769


@dataclass(frozen=True)
class EncoderSettings:
    """Speed/size trade-offs measured in bench/processing.py (see lambda/README.md)."""

    png_compress_level: int = 1
    # zlib Z_DEFAULT_STRATEGY: Z_RLE was 10 % faster but 35 % bigger on a textured photo
    png_strategy: int = 0
    # libwebp method 0: same bytes and PSNR as 1, 3-4x faster than 4 (+0.35 dB at 4)
    webp_method: int = 0
    jpeg_optimize: bool = True  # optimal Huffman tables: -7 % bytes, same pixels, +0.1 s/12 MP


@dataclass(frozen=True)
class ProcessingSettings:
    """Everything the pure processing needs; the defaults are the contract's defaults."""

    max_input_pixels: int = 100_000_000
    max_dimension: int = 4096
    jpeg_quality: int = 85
    low_jpeg_quality: int = 60
    webp_quality: int = 80
    thumbnail_size: int = 300
    background_color: tuple[int, int, int] = (255, 255, 255)
    encoders: EncoderSettings = field(default_factory=EncoderSettings)


@dataclass(frozen=True)
class FunctionConfig:
    processed_bucket: str
    processing: ProcessingSettings = field(default_factory=ProcessingSettings)
    output_key_template: str = DEFAULT_KEY_TEMPLATE
    metrics_namespace: str = "ImageProcessor"
    log_level: str = "INFO"
    max_input_bytes: int = 52_428_800
    # Time kept in reserve: an image is not started with less left (error category "timeout").
    min_remaining_ms: int = 3000
    # Time the writes need: rendered variants are not written with less left, so a timeout
    # cannot cut the five PUTs short and leave some variants without the others.
    min_upload_ms: int = 1000
    cache_control: str = "public, max-age=86400"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> FunctionConfig:
        env = os.environ if environ is None else environ

        def integer(name: str, default: int, low: int, high: int) -> int:
            return _parse(env, name, default, lambda raw: _bounded_int(raw, low, high))

        bucket = env.get("PROCESSED_BUCKET", "").strip()
        if not bucket:
            raise ConfigurationError("PROCESSED_BUCKET must name the bucket for the variants")
        processing = ProcessingSettings(
            max_input_pixels=integer("MAX_INPUT_PIXELS", 100_000_000, 1, 2**40),
            max_dimension=integer("MAX_DIMENSION", 4096, 16, 65_500),
            jpeg_quality=integer("JPEG_QUALITY", 85, 1, 100),
            low_jpeg_quality=integer("LOW_JPEG_QUALITY", 60, 1, 100),
            webp_quality=integer("WEBP_QUALITY", 80, 1, 100),
            thumbnail_size=integer("THUMBNAIL_SIZE", 300, 1, 65_500),
            background_color=_parse(env, "BACKGROUND_COLOR", (255, 255, 255), _rgb),
        )
        return cls(
            processed_bucket=bucket,
            processing=processing,
            output_key_template=_parse(
                env, "OUTPUT_KEY_TEMPLATE", DEFAULT_KEY_TEMPLATE, validate_key_template
            ),
            metrics_namespace=_parse(env, "METRICS_NAMESPACE", "ImageProcessor", _non_empty),
            log_level=_parse(env, "LOG_LEVEL", "INFO", _log_level),
            max_input_bytes=integer("MAX_INPUT_BYTES", 52_428_800, 1, 2**40),
        )


def encoder_threads(environ: Mapping[str, str] | None = None) -> int:
    """Threads for the encoding pool: ENCODER_THREADS if set, else the CPUs this process may
    run on, within Lambda capped at the vCPUs its memory size pays for (rounded, at least 1).
    Threads beyond the CPU share only cost: the banded PNG does ~20 % more work to run in
    parallel, and at 1,024 MB a function has 0.58 vCPU, so one thread is fastest there."""
    env = os.environ if environ is None else environ
    explicit = _parse(env, "ENCODER_THREADS", 0, lambda raw: _bounded_int(raw, 0, 64))
    if explicit:
        return explicit
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory_mb = _parse(
        env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 0, lambda raw: _bounded_int(raw, 0, 1 << 20)
    )
    if memory_mb:
        return max(1, min(cpus or 1, round(memory_mb / LAMBDA_MB_PER_VCPU)))
    return max(1, cpus or 1)


def _parse[T](env: Mapping[str, str], name: str, default: T, parse: Callable[[str], T]) -> T:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return parse(raw.strip())
    except ValueError as error:
        raise ConfigurationError(f"{name}={raw!r}: {error}") from None


def _bounded_int(raw: str, low: int, high: int) -> int:
    value = int(raw)
    if not low <= value <= high:
        raise ValueError(f"must be between {low} and {high}")
    return value


def _rgb(raw: str) -> tuple[int, int, int]:
    red, green, blue = ImageColor.getrgb(raw)[:3]
    return red, green, blue


def _non_empty(raw: str) -> str:
    return raw


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return level


def validate_key_template(template: str) -> str:
    """Accept a template only if it names each variant apart and uses known placeholders."""
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    unknown = fields - KEY_TEMPLATE_FIELDS
    if unknown:
        raise ValueError(
            f"unknown placeholders {sorted(unknown)}; known: {sorted(KEY_TEMPLATE_FIELDS)}"
        )
    if "variant" not in fields:
        raise ValueError("must contain {variant}, or the variants would overwrite each other")
    return template
