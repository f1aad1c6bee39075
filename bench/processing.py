"""Image processing benchmark: ours vs a naive Pillow version vs pyvips, side by side.

    .venvs/controller/bin/python bench/processing.py [--quick] [--rounds N]
    .venvs/controller/bin/python bench/processing.py --encoder-table   # PNG/WebP settings

Every measurement runs in a fresh subprocess (so peak RSS is that run's alone), the
implementations interleaved within each round, on 2 cores and on 1 (`taskset -c 0`). Medians are
printed with the ratios ours/naive and ours/pyvips. Needs bench/requirements.txt (pyvips).
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lambda" / "src"), str(ROOT)]

from image_processor.config import EncoderSettings, ProcessingSettings  # noqa: E402
from image_processor.processing import process_image  # noqa: E402
from PIL import Image  # noqa: E402

from tests.images.generate import photo_like  # noqa: E402
from tests.images.icc import toy_cmyk_profile  # noqa: E402

IMPLEMENTATIONS = ("ours", "naive", "pyvips")
CASES = {  # name: (size, mode)
    "1MP": ((1224, 816), "RGB"),
    "12MP": ((4000, 3000), "RGB"),  # a phone camera: under MAX_DIMENSION, no downscale
    "24MP": ((6000, 4000), "RGB"),
    "12MP-RGBA": ((4000, 3000), "RGBA"),
    "12MP-CMYK": ((4000, 3000), "CMYK"),
}
QUICK_CASES = ("1MP", "12MP")
SETTINGS = ProcessingSettings()


def write_input(directory: Path, case: str) -> Path:
    size, mode = CASES[case]
    photo = photo_like(size, seed=7)
    if mode == "RGBA":
        photo.putalpha(Image.radial_gradient("L").resize(size))
        path = directory / f"{case}.png"
        photo.save(path, "PNG", compress_level=1)
    elif mode == "CMYK":
        path = directory / f"{case}.jpg"
        photo.convert("CMYK").save(path, "JPEG", quality=92, icc_profile=toy_cmyk_profile())
    else:
        path = directory / f"{case}.jpg"
        photo.save(path, "JPEG", quality=92)
    return path


def run_ours(data: bytes) -> int:
    _, variants = process_image(data, SETTINGS, "in.jpg", "{stem}/{variant}.{ext}")
    return sum(len(variant.data) for variant in variants)


def run_naive(data: bytes) -> int:
    """What a first version looks like: decode per variant, convert("RGB"), defaults."""
    total = 0
    for fmt, quality, thumbnail in (("JPEG", 85, False), ("JPEG", 60, False),
                                    ("WEBP", 80, False), ("PNG", None, False),
                                    ("JPEG", 85, True)):  # fmt: skip
        image = Image.open(io.BytesIO(data)).convert("RGB")
        limit = SETTINGS.thumbnail_size if thumbnail else SETTINGS.max_dimension
        image.thumbnail((limit, limit))
        buffer = io.BytesIO()
        image.save(buffer, fmt, **({"quality": quality} if quality else {}))
        total += len(buffer.getvalue())
    return total


def run_pyvips(data: bytes) -> int:
    """The same job in libvips: decode once, sRGB, flatten for JPEG, same encoder settings."""
    import pyvips

    image = pyvips.Image.new_from_buffer(data, "").autorot()
    if image.get_typeof("icc-profile-data"):
        image = image.icc_transform("srgb", embedded=True)
    elif image.interpretation == "cmyk":
        image = image.colourspace("srgb")
    long_side = max(image.width, image.height)
    if long_side > SETTINGS.max_dimension:
        image = image.resize(SETTINGS.max_dimension / long_side, kernel="lanczos3")
    image = image.copy_memory()  # decode once, like ours
    flat = image.flatten(background=list(SETTINGS.background_color)) if image.hasalpha() else image
    thumbnail = flat.thumbnail_image(SETTINGS.thumbnail_size)
    encoders: EncoderSettings = SETTINGS.encoders
    outputs = [
        flat.jpegsave_buffer(Q=SETTINGS.jpeg_quality, keep="icc"),
        flat.jpegsave_buffer(Q=SETTINGS.low_jpeg_quality, keep="icc"),
        image.webpsave_buffer(Q=SETTINGS.webp_quality, effort=encoders.webp_method, keep="icc"),
        # filter="all": adaptive row filters, as Pillow's encoder does (libvips defaults to none)
        image.pngsave_buffer(compression=encoders.png_compress_level, filter="all", keep="icc"),
        thumbnail.jpegsave_buffer(Q=SETTINGS.jpeg_quality, keep="icc"),
    ]
    return sum(len(output) for output in outputs)


RUNNERS = {"ours": run_ours, "naive": run_naive, "pyvips": run_pyvips}


def worker(implementation: str, path: Path) -> None:
    """One measurement: warm the code paths on a tiny image, then time the real one."""
    runner = RUNNERS[implementation]
    warm = io.BytesIO()
    Image.new("RGB", (64, 64)).save(warm, "JPEG")
    runner(warm.getvalue())
    data = path.read_bytes()
    started = time.perf_counter()
    output_bytes = runner(data)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "output_bytes": output_bytes, "peak_rss": peak}))


def measure(implementation: str, path: Path, cores: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--worker", implementation, str(path)]
    if cores == 1:
        command = ["taskset", "-c", "0", *command]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def benchmark(cases: list[str], rounds: int, core_counts: list[int]) -> None:
    directory = Path(tempfile.mkdtemp(prefix="bench-processing-"))
    try:
        inputs = {case: write_input(directory, case) for case in cases}
        results: dict[tuple[int, str, str], list[dict[str, float]]] = defaultdict(list)
        for round_index in range(rounds):
            for cores in core_counts:
                for case in cases:
                    # Rotate the order so no implementation always runs first (or last).
                    shift = round_index % len(IMPLEMENTATIONS)
                    for name in IMPLEMENTATIONS[shift:] + IMPLEMENTATIONS[:shift]:
                        results[cores, case, name].append(measure(name, inputs[case], cores))
        report(results, cases, core_counts, rounds)
    finally:
        shutil.rmtree(directory)


def report(results: dict, cases: list[str], core_counts: list[int], rounds: int) -> None:
    def median(cores: int, case: str, name: str, field: str) -> float:
        return statistics.median(run[field] for run in results[cores, case, name])

    print(f"median of {rounds} run(s) each; seconds exclude interpreter start and file read")
    header = (f"{'cores':>5} {'case':<10} {'ours s':>7} {'naive s':>7} {'vips s':>7} "
              f"{'ours/naive':>10} {'ours/vips':>9} {'bytes/vips':>10} {'rss/naive':>9} "
              f"{'ours MB':>7}")  # fmt: skip
    print(header)
    for cores in core_counts:
        for case in cases:
            ours, naive, vips = (median(cores, case, n, "seconds") for n in IMPLEMENTATIONS)
            bytes_ratio = (median(cores, case, "ours", "output_bytes")
                           / median(cores, case, "pyvips", "output_bytes"))  # fmt: skip
            ours_rss = median(cores, case, "ours", "peak_rss")
            rss_ratio = ours_rss / median(cores, case, "naive", "peak_rss")
            print(f"{cores:>5} {case:<10} {ours:>7.3f} {naive:>7.3f} {vips:>7.3f} "
                  f"{ours / naive:>10.2f} {ours / vips:>9.2f} {bytes_ratio:>10.3f} "
                  f"{rss_ratio:>9.2f} {ours_rss / 2**20:>7.0f}")  # fmt: skip


def encoder_table() -> None:
    """Size and time of PNG and WebP settings on a 12 MP photo-like image, one thread."""
    image = photo_like(CASES["12MP"][0], seed=7)
    candidates = [("PNG", {"compress_level": level, "compress_type": strategy})
                  for level in (1, 3, 6, 9) for strategy in (0, 1, 3)]  # fmt: skip
    candidates += [("WEBP", {"quality": 80, "method": method}) for method in range(7)]
    print(f"{'format':<6} {'options':<40} {'seconds':>8} {'MB':>7}")
    for fmt, options in candidates:
        buffer = io.BytesIO()
        started = time.perf_counter()
        image.save(buffer, fmt, **options)
        seconds = time.perf_counter() - started
        print(f"{fmt:<6} {json.dumps(options):<40} {seconds:>8.3f} "
              f"{len(buffer.getvalue()) / 1e6:>7.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 MP and 12 MP, one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--encoder-table", action="store_true")
    parser.add_argument("--worker", nargs=2, metavar=("IMPLEMENTATION", "PATH"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]))
    elif args.encoder_table:
        encoder_table()
    elif args.quick:
        benchmark(list(QUICK_CASES), 1, [2, 1])
    else:
        benchmark(list(CASES), args.rounds, [2, 1])


if __name__ == "__main__":
    main()
