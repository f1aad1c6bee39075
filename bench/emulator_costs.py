"""The embedded LocalStack's own CPU per request, for the kinds of request one image makes.

    .venvs/controller/bin/python bench/emulator_costs.py [--endpoint URL] [--repeat 20]

Against a running instance (`make localstack-up`; its pid comes from its state directory, as
in bench/load.py): per request kind, the emulator's CPU (user + system, from /proc) and this
client's, each the mean over `--repeat` requests after one warm-up (/proc counts CPU in 10 ms
ticks, so 20 requests resolve 0.5 ms). These are the parts of the "LocalStack" CPU per image
that bench/load.py reports: S3 bytes in and out, and the fixed cost of a request. Uses a
bucket and a log group of its own and deletes them afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lambda" / "src"), str(ROOT)]

from bench.pipeline.observe import (  # noqa: E402
    CLOCK_TICKS_PER_SECOND,
    cpu_ticks,
    default_state_dir,
    emulator_pid,
)

MB = 1_000_000


def measure(label: str, pid: int, repeat: int, request: Callable[[int], object]) -> None:
    request(-1)  # warm-up: first-use costs (clients, tables) are not a request's
    ticks, client, wall = cpu_ticks(pid), time.process_time(), time.perf_counter()
    for index in range(repeat):
        request(index)
    emulator_ms = ((cpu_ticks(pid) or 0) - (ticks or 0)) / CLOCK_TICKS_PER_SECOND * 1000 / repeat
    client_ms = (time.process_time() - client) * 1000 / repeat
    wall_ms = (time.perf_counter() - wall) * 1000 / repeat
    print(
        f"{label:<24} emulator {emulator_ms:6.1f} ms  client {client_ms:5.1f} ms  "
        f"wall {wall_ms:6.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"))
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    endpoint = args.endpoint or "http://127.0.0.1:4566"
    state_dir = default_state_dir(endpoint)
    pid = emulator_pid(state_dir)
    if pid is None:
        sys.exit(f"no embedded LocalStack for {endpoint}: no pid in {state_dir}")
    session = boto3.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    s3, cloudwatch, logs = (
        session.client(name, endpoint_url=endpoint) for name in ("s3", "cloudwatch", "logs")
    )
    name = f"bench-costs-{uuid.uuid4().hex[:8]}"
    big, small = os.urandom(10 * MB), os.urandom(10_000)
    datums = [{"MetricName": f"M{i}", "Value": 1.0, "Unit": "Count"} for i in range(6)]

    def log_events(_: int) -> None:
        now = int(time.time() * 1000)
        events = [{"timestamp": now, "message": "x" * 200}] * 4
        logs.put_log_events(logGroupName=name, logStreamName="s", logEvents=events)

    requests: dict[str, Callable[[int], object]] = {
        "PutObject 10 MB": lambda i: s3.put_object(Bucket=name, Key=f"big/{i}", Body=big),
        "GetObject 10 MB": lambda i: s3.get_object(Bucket=name, Key=f"big/{i}")["Body"].read(),
        "PutObject 10 KB": lambda i: s3.put_object(Bucket=name, Key=f"small/{i}", Body=small),
        "PutMetricData 1 datum": lambda _: cloudwatch.put_metric_data(
            Namespace="BenchCosts", MetricData=datums[:1]
        ),
        "PutMetricData 6 datums": lambda _: cloudwatch.put_metric_data(
            Namespace="BenchCosts", MetricData=datums
        ),
        "PutLogEvents 4 events": log_events,
    }
    s3.create_bucket(Bucket=name)
    logs.create_log_group(logGroupName=name)
    logs.create_log_stream(logGroupName=name, logStreamName="s")
    print(f"LocalStack pid {pid}, {args.repeat} requests each")
    try:
        for label, request in requests.items():
            measure(label, pid, args.repeat, request)
    finally:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for item in page.get("Contents", []):
                s3.delete_object(Bucket=name, Key=item["Key"])
        s3.delete_bucket(Bucket=name)
        logs.delete_log_group(logGroupName=name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
