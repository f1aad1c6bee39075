"""Metric-filter throughput: 100,000 Lambda log events against the 10 filters of a log group.

    .venvs/controller/bin/python bench/filter_patterns.py [--events N] [--rounds N] [--cpu N]
        [--engine batch|per-event]

The events are what /aws/lambda/<fn> holds: the function's JSON lines (contract fields) and the
platform's START/END/REPORT lines. Every event goes through every filter exactly as
fidelity/logs.py does on PutLogEvents: `batch` (the default) is MetricFilterSet.datapoints over
all the messages, `per-event` one LogEvent per message, then MetricFilter.datapoints per filter
(both give the same datapoints; the bench checks it on the first 20,000 events). The process is
pinned to one core; each round is timed separately and all rounds are printed, wall and CPU
time (the cores are shared, so look at the best and the spread, and at the load average).
Target: 100,000 events x 10 filters in at most 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "emulator" / "src"))

from embedded_localstack.filter_pattern import LogEvent, MetricFilter, MetricFilterSet

NAMESPACE = "ImageProcessor"
FILTERS: list[tuple[str, str, str]] = [  # (metric name, pattern, metric value)
    ("ImageErrors", '{ $.error_category = "image" }', "1"),
    ("AccessDenied", '{ $.error_type = "AccessDenied" }', "1"),
    ("Critical", '{ $.level = "CRITICAL" }', "1"),
    ("OutOfMemory", '?"Runtime.OutOfMemory" ?MemoryError', "1"),
    ("Timeouts", '"Task timed out"', "1"),
    ("Errors", '{ $.level = "ERROR" || $.level = "CRITICAL" }', "1"),
    ("ProcessingTime", "{ $.duration_ms = * }", "$.duration_ms"),
    ("SlowFailures", '{ $.level = "ERROR" && $.duration_ms > 1000 }', "1"),
    (
        "BilledDuration",
        "[kind = REPORT, ..., label = Billed, colon, billed, unit = ms, ...]",
        "$billed",
    ),
    ("LargeInputs", "{ $.input_bytes > 10000000 }", "$.input_bytes"),
]


def lambda_log_events(count: int, seed: int = 7) -> list[str]:
    """One invocation = START, 1-3 JSON lines, END, REPORT; 5 % fail, 1 % time out."""
    rng = random.Random(seed)
    events: list[str] = []
    while len(events) < count:
        request_id = f"{rng.getrandbits(64):016x}-{rng.getrandbits(32):08x}"
        key = f"uploads/{rng.getrandbits(24):06x}.jpg"
        events.append(f"START RequestId: {request_id} Version: $LATEST")
        base = {"request_id": request_id, "key": key}
        events.append(json.dumps({"level": "INFO", "message": "processing", **base}))
        duration = round(rng.lognormvariate(5.5, 0.8), 2)
        outcome = rng.random()
        if outcome < 0.01:
            events.append(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ')} {request_id} Task timed out")
        elif outcome < 0.06:
            category, error_type = rng.choice(
                [
                    ("image", "ImageTooLarge"),
                    ("s3_access", "AccessDenied"),
                    ("unexpected", "KeyError"),
                ]
            )
            level = "CRITICAL" if category == "unexpected" else "ERROR"
            error = {"level": level, "message": "failed", "error_type": error_type}
            events.append(
                json.dumps({**error, "error_category": category, "duration_ms": duration, **base})
            )
        else:
            done = {"level": "INFO", "message": "processed", "duration_ms": duration}
            sizes = {
                "input_bytes": rng.randint(10_000, 20_000_000),
                "output_bytes": rng.randint(5_000, 4_000_000),
            }
            events.append(json.dumps({**done, **sizes, **base}))
        billed = int(duration) + 1
        events.append(f"END RequestId: {request_id}")
        events.append(
            f"REPORT RequestId: {request_id}\tDuration: {duration} ms\t"
            f"Billed Duration: {billed} ms\tMemory Size: 1024 MB\t"
            f"Max Memory Used: {rng.randint(90, 700)} MB"
        )
    return events[:count]


def floor_seconds(messages: list[str], filter_count: int) -> float:
    """The same loop with a bare substring test per filter: what this core does for the least
    possible work right now (the cores are shared), to read the figures against."""
    started = time.perf_counter()
    for message in messages:
        for _ in range(filter_count):
            "Task timed out" in message  # noqa: B015
    return time.perf_counter() - started


def per_event(messages: list[str], metric_filters: list[MetricFilter]) -> list[tuple[int, Any]]:
    points = []
    for index, message in enumerate(messages):
        event = LogEvent(message)
        for metric_filter in metric_filters:
            points.extend((index, point) for point in metric_filter.datapoints(event))
    return points


def batch(messages: list[str], metric_filters: list[MetricFilter]) -> list[tuple[int, Any]]:
    return MetricFilterSet(metric_filters).datapoints(messages)


ENGINES = {"batch": batch, "per-event": per_event}


def run_once(
    engine: Callable[[list[str], list[MetricFilter]], list[tuple[int, Any]]],
    messages: list[str],
    metric_filters: list[MetricFilter],
) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of this process, datapoints) of one pass."""
    started, cpu_started = time.perf_counter(), time.process_time()
    datapoints = len(engine(messages, metric_filters))
    return time.perf_counter() - started, time.process_time() - cpu_started, datapoints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cpu", type=int, default=0, help="core to pin to")
    parser.add_argument("--engine", choices=sorted(ENGINES), default="batch")
    args = parser.parse_args()

    os.sched_setaffinity(0, {args.cpu})
    messages = lambda_log_events(args.events)
    metric_filters = [
        MetricFilter(
            pattern, [{"metricName": name, "metricNamespace": NAMESPACE, "metricValue": value}]
        )
        for name, pattern, value in FILTERS
    ]
    json_lines = sum(message.startswith("{") for message in messages)
    print(
        f"python {sys.version.split()[0]}, core {args.cpu}: {len(messages):,} events "
        f"({json_lines:,} JSON, {len(messages) - json_lines:,} platform/text) "
        f"x {len(metric_filters)} filters, engine {args.engine}"
    )
    sample = messages[:20_000]
    if batch(sample, metric_filters) != per_event(sample, metric_filters):
        sys.exit("batch and per-event datapoints differ")
    seconds, cpu_seconds = [], []
    for round_number in range(1, args.rounds + 1):
        elapsed, cpu, datapoints = run_once(ENGINES[args.engine], messages, metric_filters)
        seconds.append(elapsed)
        cpu_seconds.append(cpu)
        print(
            f"  round {round_number}: {elapsed:.3f} s (cpu {cpu:.3f} s)  "
            f"{len(messages) / elapsed:,.0f} events/s  "
            f"{len(messages) * len(metric_filters) / elapsed:,.0f} event-filter evaluations/s  "
            f"{datapoints:,} datapoints"
        )
    floor = floor_seconds(messages, len(metric_filters))
    print(f"  floor (a bare substring test per event and filter): {floor:.3f} s")
    best, median = min(seconds), statistics.median(seconds)
    verdict = "meets" if best <= 1.0 else "misses"
    print(
        f"total: best {best:.3f} s, median {median:.3f} s for {len(messages):,} events "
        f"({len(messages) / best:,.0f} events/s at best); {verdict} the 1 s target"
    )
    print(
        f"cpu time (what the shared core gave this process): best {min(cpu_seconds):.3f} s, "
        f"median {statistics.median(cpu_seconds):.3f} s; load average "
        + " ".join(f"{load:.2f}" for load in os.getloadavg())
    )


if __name__ == "__main__":
    main()
