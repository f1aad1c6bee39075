"""Image processing benchmark: ours vs a naive Pillow version vs pyvips, side by side.

    .venvs/controller/bin/python bench/processing.py [--quick] [--rounds N]
    .venvs/controller/bin/python bench/processing.py --encoder-table   # PNG/WebP settings

Every measurement runs in a fresh subprocess, the implementations interleaved within each
round, on 2 cores and on 1 (`taskset -c 0`). Medians are printed with the ratios ours/naive and
ours/pyvips. Peak RSS is the worker's VmHWM: `ru_maxrss` would report the parent's (larger)
RSS, since Linux carries the pre-exec high-water mark across fork+exec. CPU seconds (user+sys
of the worker) are printed too: on a shared machine they move less than wall time.

Inputs are photo-like with texture at every scale (not just smooth shapes and faint grain):
a 12 MP one is 3.1 MB as JPEG q92, 2.7 MB at q85, 14 MB as PNG, like a phone photo; a flat
synthetic image makes every encoder look several times faster and shrinks WebP to ~0.1 MB.
Needs bench/requirements.txt (pyvips).
"""

from __future__ import annotations

import argparse
import io
import json
import os
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
# A `--baseline` worker imports image_processor from another tree (e.g. `git archive` of HEAD).
sys.path[:0] = [
    os.environ.get("BENCH_IMAGE_PROCESSOR_SRC", str(ROOT / "lambda" / "src")),
    str(ROOT),
]

from image_processor.config import EncoderSettings, ProcessingSettings  # noqa: E402
from PIL import Image, ImageChops  # noqa: E402

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
# libvips' zlib levels are not Pillow's: on the 12 MP input (--encoder-table) pyvips level 1 is
# 18.9 MB and level 2 13.2 MB, against 14.0 MB for our PNG (Pillow level 1, default strategy).
# Level 2 is the closest size class, so the time comparison is for comparable bytes.
VIPS_PNG_COMPRESSION = 2


def textured_photo(size: tuple[int, int], seed: int = 7) -> Image.Image:
    """photo_like() plus luminance texture at 1, 2, 4, 8 and 32 px (sigma 3..8) and chroma
    grain: compresses like a real photo (2 bits/pixel at JPEG q92, ~9 at PNG level 1)."""
    width, height = size
    texture = Image.new("L", size, 128)
    for scale, sigma in ((1, 3), (2, 3), (4, 4), (8, 5), (32, 8)):
        noise = Image.effect_noise((-(-width // scale), -(-height // scale)), sigma)
        if scale > 1:
            noise = noise.resize(size, Image.Resampling.BICUBIC)
        texture = ImageChops.add(texture, noise, offset=-128)
    photo = ImageChops.add(photo_like(size, seed=seed), Image.merge("RGB", [texture] * 3),
                           offset=-128)  # fmt: skip
    grain = Image.merge("RGB", [Image.effect_noise(size, 1) for _ in range(3)])
    return ImageChops.add(photo, grain, offset=-128)


def write_input(directory: Path, case: str) -> Path:
    size, mode = CASES[case]
    photo = textured_photo(size)
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
    # Imported here, not at the top: naive and pyvips workers must not get its process-wide
    # malloc setting (see processing._keep_big_buffers_out_of_the_heap).
    from image_processor.processing import process_image

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
    optimize = getattr(encoders, "jpeg_optimize", False)  # --baseline trees may predate it
    outputs = [
        flat.jpegsave_buffer(Q=SETTINGS.jpeg_quality, optimize_coding=optimize, keep="icc"),
        flat.jpegsave_buffer(Q=SETTINGS.low_jpeg_quality, optimize_coding=optimize, keep="icc"),
        image.webpsave_buffer(Q=SETTINGS.webp_quality, effort=encoders.webp_method, keep="icc"),
        # filter="all": adaptive row filters, as Pillow's encoder does (libvips defaults to none)
        image.pngsave_buffer(compression=VIPS_PNG_COMPRESSION, filter="all", keep="icc"),
        thumbnail.jpegsave_buffer(Q=SETTINGS.jpeg_quality, optimize_coding=optimize, keep="icc"),
    ]
    return sum(len(output) for output in outputs)


RUNNERS = {"ours": run_ours, "before": run_ours, "naive": run_naive, "pyvips": run_pyvips}


def worker(implementation: str, path: Path) -> None:
    """One measurement: warm the code paths on a tiny image, then time the real one."""
    runner = RUNNERS[implementation]
    warm = io.BytesIO()
    Image.new("RGB", (64, 64)).save(warm, "JPEG")
    runner(warm.getvalue())
    data = path.read_bytes()
    cpu_started = _cpu_seconds()
    started = time.perf_counter()
    output_bytes = runner(data)
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_started
    print(json.dumps({"seconds": seconds, "cpu": cpu, "output_bytes": output_bytes,
                      "peak_rss": _peak_rss()}))  # fmt: skip


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss() -> int:
    """This process's high-water RSS (VmHWM), in bytes. Not ru_maxrss: after fork+exec Linux
    keeps the parent's high-water mark in it, so every worker would report the bench's RSS."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure(implementation: str, path: Path, cores: int, baseline: Path | None) -> dict[str, float]:
    command = [sys.executable, __file__, "--worker", implementation, str(path)]
    if cores == 1:
        command = ["taskset", "-c", "0", *command]
    env = dict(os.environ)
    if implementation == "before" and baseline is not None:
        env["BENCH_IMAGE_PROCESSOR_SRC"] = str(baseline)
    result = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return json.loads(result.stdout)


def benchmark(
    cases: list[str], rounds: int, core_counts: list[int], baseline: Path | None = None
) -> None:
    implementations = IMPLEMENTATIONS + (("before",) if baseline else ())
    directory = Path(tempfile.mkdtemp(prefix="bench-processing-"))
    try:
        inputs = {case: write_input(directory, case) for case in cases}
        results: dict[tuple[int, str, str], list[dict[str, float]]] = defaultdict(list)
        for round_index in range(rounds):
            for cores in core_counts:
                for case in cases:
                    # Rotate the order so no implementation always runs first (or last).
                    shift = round_index % len(implementations)
                    for name in implementations[shift:] + implementations[:shift]:
                        results[cores, case, name].append(
                            measure(name, inputs[case], cores, baseline)
                        )
        report(results, cases, core_counts, rounds, ("ours", "before") if baseline else ("ours",))
    finally:
        shutil.rmtree(directory)


def report(
    results: dict, cases: list[str], core_counts: list[int], rounds: int, subjects: tuple[str, ...]
) -> None:
    def median(cores: int, case: str, name: str, field: str) -> float:
        return statistics.median(run[field] for run in results[cores, case, name])

    print(f"median of {rounds} run(s) each; seconds exclude interpreter start and file read; "
          "cpu = user+sys seconds of impl / naive / pyvips")  # fmt: skip
    header = (f"{'cores':>5} {'case':<10} {'impl':<6} {'s':>6} {'naive s':>7} {'vips s':>6} "
              f"{'/naive':>6} {'/vips':>5} {'bytes/vips':>10} {'rss/naive':>9} {'RSS MB':>6} "
              f"{'out MB':>6} {'vips MB':>7} {'cpu s':>15}")  # fmt: skip
    print(header)
    for cores in core_counts:
        for case in cases:
            naive, vips = (median(cores, case, n, "seconds") for n in ("naive", "pyvips"))
            vips_out = median(cores, case, "pyvips", "output_bytes")
            naive_rss = median(cores, case, "naive", "peak_rss")
            for subject in subjects:
                seconds = median(cores, case, subject, "seconds")
                cpu = "/".join(f"{median(cores, case, n, 'cpu'):.2f}"
                               for n in (subject, "naive", "pyvips"))  # fmt: skip
                out = median(cores, case, subject, "output_bytes")
                rss = median(cores, case, subject, "peak_rss")
                print(f"{cores:>5} {case:<10} {subject:<6} {seconds:>6.3f} {naive:>7.3f} "
                      f"{vips:>6.3f} {seconds / naive:>6.2f} {seconds / vips:>5.2f} "
                      f"{out / vips_out:>10.3f} {rss / naive_rss:>9.2f} {rss / 2**20:>6.0f} "
                      f"{out / 1e6:>6.2f} {vips_out / 1e6:>7.2f} {cpu:>15}")  # fmt: skip


def encoder_table() -> None:
    """Size, CPU time and luma PSNR (against the decoded input) of encoder settings, one thread,
    on the 12 MP benchmark input (decoded from its JPEG q92, like the Lambda sees it)."""
    import numpy as np
    import pyvips

    directory = Path(tempfile.mkdtemp(prefix="bench-encoders-"))
    try:
        data = write_input(directory, "12MP").read_bytes()
    finally:
        shutil.rmtree(directory)
    image = Image.open(io.BytesIO(data))
    image.load()
    vips = pyvips.Image.new_from_buffer(data, "").copy_memory()
    reference = np.asarray(image.convert("L"), dtype=np.float64)

    def psnr(encoded: bytes) -> float:
        decoded = np.asarray(Image.open(io.BytesIO(encoded)).convert("L"), dtype=np.float64)
        return 10 * np.log10(255**2 / np.mean((decoded - reference) ** 2))

    def pillow(fmt: str, **options: object):
        def run() -> bytes:
            buffer = io.BytesIO()
            image.save(buffer, fmt, **options)
            return buffer.getvalue()

        return f"Pillow {fmt}", json.dumps(options), run

    candidates = [pillow("JPEG", quality=85, **extra)
                  for extra in ({}, {"optimize": True}, {"progressive": True},
                                {"subsampling": 0})]  # fmt: skip
    candidates += [pillow("PNG", compress_level=level, compress_type=strategy)
                   for level in (1, 2, 3, 6) for strategy in (0, 1, 3)]  # fmt: skip
    candidates += [pillow("WEBP", quality=80, method=method) for method in range(7)]
    candidates += [("pyvips PNG", f'{{"compression": {level}, "filter": "all"}}',
                    lambda level=level: vips.pngsave_buffer(compression=level, filter="all"))
                   for level in (1, 2, 3, 6)]  # fmt: skip
    candidates += [("pyvips WEBP", f'{{"Q": 80, "effort": {effort}}}',
                    lambda effort=effort: vips.webpsave_buffer(Q=80, effort=effort))
                   for effort in (0, 1, 4)]  # fmt: skip
    print(f"{'encoder':<12} {'options':<42} {'cpu s':>6} {'wall s':>6} {'MB':>6} {'PSNR':>6}")
    for label, options, run in candidates:
        cpu_started, started = _cpu_seconds(), time.perf_counter()
        encoded = run()
        seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_started
        quality = "" if "PNG" in label else f"{psnr(encoded):6.2f}"
        print(f"{label:<12} {options:<42} {cpu:>6.2f} {seconds:>6.2f} "
              f"{len(encoded) / 1e6:>6.2f} {quality:>6}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 MP and 12 MP, one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--encoder-table", action="store_true")
    parser.add_argument("--baseline", type=Path, metavar="SRC",
                        help="also time the image_processor package under SRC (e.g. HEAD's "
                             "lambda/src from `git archive`) as 'before'")  # fmt: skip
    parser.add_argument("--worker", nargs=2, metavar=("IMPLEMENTATION", "PATH"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]))
    elif args.encoder_table:
        encoder_table()
    elif args.quick:
        benchmark(list(QUICK_CASES), 1, [2, 1], args.baseline)
    else:
        benchmark(list(CASES), args.rounds, [2, 1], args.baseline)


if __name__ == "__main__":
    main()
