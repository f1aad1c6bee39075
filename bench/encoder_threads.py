"""Which Pillow operations run in parallel on two threads, and does the target file matter?

    .venvs/controller/bin/python bench/encoder_threads.py

For each encoder, into a BytesIO and into an OS file (a memfd, as lambda/src/image_processor/
pillow_io.py does), the best of 3 of one 6 MP encode on one thread and of two at once on two
threads; scaling = 2 x one / two (2.0 = fully parallel, 1.0 = serialised by the GIL).
Measure with the machine to yourself: the kernel's autogroups give every other session's
busy processes an equal share of the CPUs, so run it as

    echo -20 > /proc/self/autogroup
    nice -n -20 .venvs/controller/bin/python bench/encoder_threads.py
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lambda" / "src"), str(ROOT), str(ROOT / "bench")]

from image_processor.pillow_io import save_to_bytes  # noqa: E402
from PIL import Image  # noqa: E402
from processing import textured_photo  # noqa: E402

ENCODERS = {
    "JPEG q85 optimize": ("JPEG", {"quality": 85, "optimize": True}),
    "PNG level 1": ("PNG", {"compress_level": 1}),
    "WebP q80 method 0": ("WEBP", {"quality": 80, "method": 0}),
}


def into_bytesio(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def scaling(image: Image.Image, work: Callable[[Image.Image], object]) -> tuple[float, float]:
    """(one thread's best seconds, two threads' best seconds for two at once)."""
    best = {}
    with ThreadPoolExecutor(2) as pool:
        for count in (1, 2):
            runs = []
            for _ in range(3):
                views = [image._new(image.im) for _ in range(count)]  # save() is per object
                started = time.perf_counter()
                list(pool.map(work, views))
                runs.append(time.perf_counter() - started)
            best[count] = min(runs)
    return best[1], best[2]


def main() -> None:
    image = textured_photo((4000, 1500))  # half of a 12 MP photo
    image.load()
    cases: dict[str, Callable[[Image.Image], object]] = {}
    for name, (fmt, options) in ENCODERS.items():
        cases[f"{name}, BytesIO"] = lambda v, f=fmt, o=options: into_bytesio(v, f, **o)
        cases[f"{name}, memfd"] = lambda v, f=fmt, o=options: save_to_bytes(v, f, **o)
    cases["LANCZOS to 70 %"] = lambda v: v.resize((2800, 1050), Image.Resampling.LANCZOS)
    print(f"{'operation':32s} {'1 thread s':>10s} {'2 threads s':>11s} {'scaling':>8s}")
    for name, work in cases.items():
        one, two = scaling(image, work)
        print(f"{name:32s} {one:10.3f} {two:11.3f} {2 * one / two:7.2f}x")


if __name__ == "__main__":
    main()
