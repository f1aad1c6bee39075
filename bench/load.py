"""Load against the deployed stack: a burst of N uploads, or a steady rate, then the figures.

    .venvs/controller/bin/python bench/load.py [--count 200] [--mix 1,2,4,8,12]
    .venvs/controller/bin/python bench/load.py --rate 5 --duration 60
    .venvs/controller/bin/python bench/load.py --serial 5
        [--outputs outputs/dev.json] [--endpoint URL] [--wait 600] [--no-baseline]

Synthetic photo-like JPEGs (tests/images/generate.py), sizes cycled through `--mix` (MP).
Prints throughput (images/s), upload->variants latency p50/p95/p99 (from S3 acknowledging the
PUT to the first listing that shows all five variants), the most execution environments seen
at once (worker processes in /proc, and AWS/Lambda ConcurrentExecutions Maximum), the
single-image rate on one core as the baseline (timed before and after the run, as the CPU's
speed drifts), achieved/ideal split into its factors and the CPU used per image by where it
went, and the accounting table. Everything goes to
the endpoint (AWS_ENDPOINT_URL, default http://127.0.0.1:4566); the run stops by itself after
the uploads plus `--wait` seconds. Exit code: the accounting's (0 = nothing missing or partial).

`--serial N` measures the single-image latency instead: one upload at a time, each watched
alone (a listing of its own five keys every 20 ms), after one warm-up upload per size; N
measured uploads per size, p50/p95 per size against the targets (1 MP <= 1 s, 12 MP <= 2.5 s).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lambda" / "src"), str(ROOT)]

from tqdm import tqdm  # noqa: E402

from bench.pipeline.accounting import (  # noqa: E402
    Accounting,
    VariantListing,
    expected_variant_keys,
    reconcile,
)
from bench.pipeline.manifest import Entry, Expect, ManifestWriter  # noqa: E402
from bench.pipeline.observe import Observer, default_state_dir, processed_log_times  # noqa: E402
from bench.pipeline.stack import Stack  # noqa: E402
from bench.pipeline.uploads import run_prefix, upload  # noqa: E402
from tests.images.generate import photo_like  # noqa: E402

CACHE = ROOT / ".state" / "bench-images"
SEEDS_PER_SIZE = 2
# issue 8: p50 upload->variants on a warm environment, per size (MP -> seconds)
WARM_LATENCY_TARGETS = {1.0: 1.0, 12.0: 2.5}


def size_for(megapixels: float) -> tuple[int, int]:
    """4:3, like a phone camera (12 MP = 4000x3000)."""
    width = round(math.sqrt(megapixels * 1_000_000 * 4 / 3))
    return width, round(width * 3 / 4)


def image_pool(mix: list[float]) -> dict[float, list[bytes]]:
    """JPEG q90 photos per size, cached on disk (generating 12 MP takes ~1.5 s)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    pool: dict[float, list[bytes]] = {}
    for megapixels in mix:
        pool[megapixels] = []
        for seed in range(SEEDS_PER_SIZE):
            path = CACHE / f"{megapixels:g}MP-{seed}.jpg"
            if not path.exists():
                buffer = io.BytesIO()
                photo_like(size_for(megapixels), seed=seed).save(buffer, "JPEG", quality=90)
                path.write_bytes(buffer.getvalue())
            pool[megapixels].append(path.read_bytes())
    return pool


_BASELINE_CODE = """
import os, sys, time, json
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # before the pool sizes itself
from image_processor.config import ProcessingSettings
from image_processor.processing import process_image
settings = ProcessingSettings()
seconds = {}
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    process_image(data, settings, "warm.jpg", "{stem}/{variant}.{ext}")
    started = time.perf_counter()
    process_image(data, settings, "x.jpg", "{stem}/{variant}.{ext}")
    seconds[path] = time.perf_counter() - started
print(json.dumps(seconds))
"""


def single_core_seconds(mix: list[float]) -> dict[float, float]:
    """Processing time of one image of each size on one core, warm (a separate process, so
    the encoder pool has one thread)."""
    paths = [str(CACHE / f"{megapixels:g}MP-0.jpg") for megapixels in mix]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lambda" / "src")}
    output = subprocess.run(
        [sys.executable, "-c", _BASELINE_CODE, *paths],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    by_path = json.loads(output)
    return {megapixels: by_path[path] for megapixels, path in zip(mix, paths, strict=True)}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    rank = max(0, math.ceil(fraction * len(ordered)) - 1)
    return ordered[rank]


def run(args: argparse.Namespace) -> int:
    stack = Stack.from_file(args.outputs, args.endpoint)
    mix = [float(value) for value in args.mix.split(",")]
    pool = image_pool(mix)
    count = round(args.rate * args.duration) if args.rate else args.count
    prefix = run_prefix("steady" if args.rate else "burst")
    manifest = args.manifest or ROOT / ".state" / "runs" / f"{prefix.rstrip('/')}.jsonl"
    template = stack.output_key_template()
    observer = Observer(
        stack, template, prefix, default_state_dir(stack.endpoint_url), args.observe_interval
    )
    sizes: dict[str, float] = {}
    jobs = []
    for index in range(count):
        megapixels = mix[index % len(mix)]
        key = f"{prefix}{megapixels:g}MP/{index:05d}.jpg"
        sizes[key] = megapixels
        jobs.append((key, pool[megapixels][index % SEEDS_PER_SIZE]))
        observer.expect(key)
    # The baseline brackets the run: this machine's CPU speed drifts, so it is timed before and
    # after, and the report uses both.
    baseline_before = None if args.no_baseline else single_core_seconds(mix)
    observer.start()
    started = time.time()
    entries: list[Entry] = []
    with ManifestWriter(manifest) as writer, ThreadPoolExecutor(args.upload_threads) as uploads:
        futures = []
        for index, (key, data) in enumerate(jobs):
            if args.rate:  # a fixed schedule: falling behind does not bunch the uploads up
                time.sleep(max(0.0, started + index / args.rate - time.time()))
            futures.append(uploads.submit(upload, stack, key, data, writer, Expect.VARIANTS))
        for future in tqdm(futures, desc="uploaded", unit="img", file=sys.stderr):
            entries.append(future.result())
    uploads_done = time.time()
    accounting = reconcile(stack, entries, args.wait, on_progress=_progress_bar(len(entries)))
    observer.stop()
    baselines = [] if baseline_before is None else [baseline_before, single_core_seconds(mix)]
    report(stack, args, entries, sizes, observer, accounting, started, uploads_done, mix, baselines)
    print(f"manifest {manifest}  (re-check: bench/accounting.py {manifest})")
    return 0 if accounting.passed else 1


def run_serial(args: argparse.Namespace) -> int:
    stack = Stack.from_file(args.outputs, args.endpoint)
    mix = [float(value) for value in args.mix.split(",")]
    pool = image_pool(mix)
    prefix = run_prefix("serial")
    manifest = args.manifest or ROOT / ".state" / "runs" / f"{prefix.rstrip('/')}.jsonl"
    template = stack.output_key_template()
    latencies: dict[float, list[float]] = {megapixels: [] for megapixels in mix}
    entries: list[Entry] = []
    uploads = len(mix) * (1 + args.serial)  # the first round warms the environment up
    with ManifestWriter(manifest) as writer:
        for index in tqdm(range(uploads), desc="serial", unit="img", file=sys.stderr):
            megapixels = mix[index % len(mix)]
            key = f"{prefix}{megapixels:g}MP/{index:05d}.jpg"
            expected = set(expected_variant_keys(template, key).values())
            listing = VariantListing(stack, expected)  # lists this key's variants only
            data = pool[megapixels][index % SEEDS_PER_SIZE]
            entry = upload(stack, key, data, writer, Expect.VARIANTS)
            entries.append(entry)
            deadline = time.time() + args.wait
            while not (done := expected <= set(listing.snapshot())) and time.time() < deadline:
                time.sleep(0.02)
            if done and index >= len(mix):
                latencies[megapixels].append(time.time() - entry.uploaded_at)
    accounting = reconcile(stack, entries, args.wait)
    cores = os.cpu_count()
    print(f"\n== serial: {args.serial} warm uploads per size, one at a time, {cores} cores")
    for megapixels, values in latencies.items():
        if not values:
            continue
        line = _latency_line(f"{megapixels:g} MP", values)
        target = WARM_LATENCY_TARGETS.get(megapixels)
        if target is not None:
            met = percentile(values, 0.5) <= target
            line += f"  target p50 <= {target:g} s: {'met' if met else 'NOT met'}"
        print(line)
    print(accounting.table())
    print(f"manifest {manifest}  (re-check: bench/accounting.py {manifest})")
    return 0 if accounting.passed else 1


def _progress_bar(total: int) -> Callable[[int, int], None]:
    bar = tqdm(total=total, desc="settled", unit="img", file=sys.stderr)

    def update(settled: int, _: int) -> None:
        bar.update(settled - bar.n)
        if settled == total:
            bar.close()

    return update


def report(
    stack: Stack,
    args: argparse.Namespace,
    entries: list[Entry],
    sizes: dict[str, float],
    observer: Observer,
    accounting: Accounting,
    started: float,
    uploads_done: float,
    mix: list[float],
    baselines: list[dict[float, float]],
) -> None:
    # Completion: seen in a listing (all five variants), timed by the function's own report
    # when it has one (listings of a big bucket can be seconds apart).
    reported = processed_log_times(stack, started - 60)
    done = {key: min(seen, reported.get(key, seen)) for key, seen in observer.done_at.items()}
    timed_by_logs = sum(key in reported for key in done)
    latencies = {e.key: done[e.key] - e.uploaded_at for e in entries if e.key in done}
    mode = f"steady {args.rate:g}/s for {args.duration:g} s" if args.rate else "burst"
    print(f"\n== {mode}: {len(entries)} uploads, mix {args.mix} MP, {os.cpu_count()} cores")
    print(f"uploads took {uploads_done - started:.1f} s")
    if done:
        span = max(done.values()) - started
        print(f"throughput  {len(done) / span:.2f} images/s  ({len(done)} in {span:.1f} s)")
    if latencies:
        print(
            f"completion times: {timed_by_logs} of {len(done)} from the function's 'processed' "
            f"log lines, the rest from listings (at most {observer.resolution:.1f} s apart)"
        )
        print(_latency_line("all", list(latencies.values())))
        for megapixels in mix:
            values = [v for key, v in latencies.items() if sizes[key] == megapixels]
            if values:
                print(_latency_line(f"{megapixels:g} MP", values))
    print(
        f"execution environments at once: {observer.max_workers} worker processes (/proc), "
        f"ConcurrentExecutions Maximum {_concurrent_executions(stack, started)}"
    )
    wall = observer.stopped_at - started
    cpu = observer.cpu_seconds()
    print(
        f"CPU over the {wall:.0f} s of the run (/proc): "
        + ", ".join(
            f"{name} {seconds:.1f} s ({seconds / wall:.2f} cores, "
            f"{seconds / max(1, len(entries)):.2f} s per image)"
            for name, seconds in cpu.items()
        )
    )
    if baselines:
        means = [statistics.fmean(seconds[sizes[e.key]] for e in entries) for seconds in baselines]
        mean = statistics.fmean(means)
        ideal = 2 / mean
        for when, seconds, this_mix in zip(("before", "after"), baselines, means, strict=True):
            per_size = ", ".join(f"{mp:g} MP {s:.2f} s" for mp, s in seconds.items())
            print(f"one image on one core (warm), {when}: {per_size}; this mix {this_mix:.2f} s")
        drift = max(means) / min(means) - 1
        print(
            f"baseline {mean:.2f} s/image (mean of before and after, {drift:.0%} apart"
            + ("; the CPU's speed drifted: repeat the run)" if drift > 0.15 else ")")
        )
        print(f"ideal on 2 cores {ideal:.2f} images/s; 80 % target {0.8 * ideal:.2f} images/s")
        if done:
            span = max(done.values()) - started
            print(f"achieved/ideal = {len(done) / span / ideal:.0%}")
            # achieved/ideal = (processing's share of the CPU used) x (how busy the cores were):
            # what the pipeline spends besides processing, and idle cores, are the two gaps.
            # (The CPU after the last completion, a final listing, is small and counted in.)
            used, processing = sum(cpu.values()), mean * len(done)
            share, busy = processing / used, used / (2 * span)
            print(
                f"  = processing's share of the CPU used {share:.0%} "
                f"({mean:.2f} of {used / len(done):.2f} CPU-s per image) "
                f"x cores busy {busy:.0%} (2 cores x {span:.0f} s)"
            )
            # The CPU besides processing, by where it went: the function's own share of it
            # (cold starts, S3 and CloudWatch calls) is what a faster emulator cannot remove.
            parts = {
                "processing": processing,
                "rest of the function": cpu["function workers"] - processing,
                "LocalStack": cpu["LocalStack"],
                "load generator": cpu["load generator"],
            }
            print(
                f"  CPU per image {used / len(done):.2f} s: "
                + ", ".join(
                    f"{name} {seconds / len(done):.2f} ({seconds / used:.0%})"
                    for name, seconds in parts.items()
                )
            )
    print(accounting.table())


def _latency_line(label: str, values: list[float]) -> str:
    return (
        f"latency {label:>6}: p50 {percentile(values, 0.5):6.2f} s  "
        f"p95 {percentile(values, 0.95):6.2f} s  p99 {percentile(values, 0.99):6.2f} s  "
        f"(n={len(values)})"
    )


def _concurrent_executions(stack: Stack, started: float) -> str:
    cloudwatch = stack.client("cloudwatch")
    response = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="ConcurrentExecutions",
        Dimensions=[{"Name": "FunctionName", "Value": stack.function_name}],
        StartTime=datetime.fromtimestamp(started, UTC) - timedelta(minutes=1),
        EndTime=datetime.now(UTC) + timedelta(minutes=1),
        Period=60,
        Statistics=["Maximum"],
    )
    points = [point["Maximum"] for point in response.get("Datapoints", [])]
    return f"{max(points):g}" if points else "n/a"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="burst size")
    parser.add_argument("--rate", type=float, help="steady mode: uploads per second")
    parser.add_argument("--duration", type=float, default=60.0, help="steady mode: seconds")
    parser.add_argument("--serial", type=int, metavar="N",
                        help="latency mode: N warm uploads per size, one at a time")  # fmt: skip
    parser.add_argument("--mix", default="1,2,4,8,12", help="megapixels, cycled")
    parser.add_argument("--upload-threads", type=int, default=8)
    parser.add_argument("--observe-interval", type=float, default=0.2,
                        help="seconds between listings of the processed bucket")  # fmt: skip
    parser.add_argument("--outputs", type=Path, default=ROOT / "outputs" / "dev.json")
    parser.add_argument("--endpoint", help="overrides AWS_ENDPOINT_URL")
    parser.add_argument("--manifest", type=Path)
    parser.add_argument("--wait", type=float, default=600.0, help="max seconds to settle")
    parser.add_argument("--no-baseline", action="store_true", help="skip the one-core timing")
    args = parser.parse_args()
    return run_serial(args) if args.serial else run(args)


if __name__ == "__main__":
    sys.exit(main())
