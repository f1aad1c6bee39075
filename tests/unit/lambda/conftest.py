from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import pytest
from image_processor.config import ProcessingSettings
from image_processor.processing import Variant, process_image
from PIL import Image

KEY_TEMPLATE = "{stem}/{variant}.{ext}"


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def render(data: bytes, **settings: Any) -> dict[str, tuple[Variant, Image.Image]]:
    """Process `data` and decode every variant back, keyed by variant name."""
    _, variants = process_image(data, replace(ProcessingSettings(), **settings), "in.x",
                                KEY_TEMPLATE)  # fmt: skip
    decoded = {}
    for variant in variants:
        image = Image.open(io.BytesIO(variant.data))
        image.load()
        decoded[variant.name] = (variant, image)
    return decoded


@pytest.fixture
def photo() -> Image.Image:
    from tests.images.generate import photo_like

    return photo_like((240, 160), seed=3)
