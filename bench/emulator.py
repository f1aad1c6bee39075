"""The embedded LocalStack's own figures (issue 2): install time, start-to-healthy time and the
warm S3-upload → object-in-another-bucket latency through the `local` Lambda executor.

    .venvs/controller/bin/python bench/emulator.py [--starts 3] [--uploads 30] [--cold-install]

Runs an instance of its own on a free port (never the one `make localstack-up` uses).
`--cold-install` also times `emulator/install.py` into an empty directory (pip's cache on this
machine makes that faster than on a truly fresh one; the figure says so).
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[1]
MANAGE = REPO / "emulator" / "manage.py"
TARGETS = {"healthy_s": 15.0, "warm_latency_s": 1.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(command: str, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, str(MANAGE), command], env=env, check=True, stdout=subprocess.DEVNULL
    )


def time_cold_install() -> float:
    with tempfile.TemporaryDirectory(prefix="bench-install-") as venvs:
        started = time.monotonic()
        subprocess.run(
            [sys.executable, str(REPO / "emulator" / "install.py"), "--venvs", venvs],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return time.monotonic() - started


def time_starts(count: int, env: dict[str, str]) -> list[float]:
    durations = []
    for _ in range(count):
        started = time.monotonic()
        manage("up", env)
        durations.append(time.monotonic() - started)
        manage("down", env)
    return durations


def warm_latencies(uploads: int, endpoint: str) -> list[float]:
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    s3 = session.client("s3", endpoint_url=endpoint)
    lam = session.client("lambda", endpoint_url=endpoint)
    s3.create_bucket(Bucket="bench-src")
    s3.create_bucket(Bucket="bench-dst")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr(
            "app.py",
            "import boto3, urllib.parse\ns3 = boto3.client('s3')\n"
            "def handler(event, context):\n"
            "    for r in event['Records']:\n"
            "        key = urllib.parse.unquote_plus(r['s3']['object']['key'])\n"
            "        body = s3.get_object(Bucket='bench-src', Key=key)['Body'].read()\n"
            "        s3.put_object(Bucket='bench-dst', Key=key, Body=body)\n",
        )
    arn = lam.create_function(
        FunctionName="bench-copy",
        Runtime="python3.12",
        Handler="app.handler",
        Role="arn:aws:iam::000000000000:role/b",
        Code={"ZipFile": code.getvalue()},
    )["FunctionArn"]
    lam.get_waiter("function_active_v2").wait(FunctionName="bench-copy")
    s3.put_bucket_notification_configuration(
        Bucket="bench-src",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )
    small_jpeg = (REPO / "tests" / "images" / "sample_image.jpg").read_bytes()

    def one(key: str) -> float:
        started = time.monotonic()
        s3.put_object(Bucket="bench-src", Key=key, Body=small_jpeg)
        while True:
            try:
                s3.head_object(Bucket="bench-dst", Key=key)
                return time.monotonic() - started
            except s3.exceptions.ClientError:
                if time.monotonic() - started > 30:
                    raise TimeoutError(f"{key} never arrived") from None
                time.sleep(0.01)

    one("warm-up.jpg")  # the cold start is not what this measures
    return [one(f"upload-{i}.jpg") for i in range(uploads)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--uploads", type=int, default=30)
    parser.add_argument("--cold-install", action="store_true")
    args = parser.parse_args()

    port = free_port()
    state = tempfile.mkdtemp(prefix="bench-emulator-")
    env = {**os.environ, "LOCALSTACK_PORT": str(port), "LOCALSTACK_STATE_DIR": state}
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores)")
    if args.cold_install:
        print(f"install into an empty dir (warm pip cache): {time_cold_install():.1f} s")
    starts = time_starts(args.starts, env)
    print(
        f"start → healthy over {len(starts)} starts: median {statistics.median(starts):.1f} s, "
        f"max {max(starts):.1f} s (target ≤ {TARGETS['healthy_s']:.0f} s)"
    )
    manage("up", env)
    try:
        latencies = sorted(warm_latencies(args.uploads, f"http://127.0.0.1:{port}"))
    finally:
        manage("down", env)
    p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
    print(
        f"warm upload → object, {len(latencies)} small JPEGs one at a time: "
        f"p50 {statistics.median(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms (target p50 ≤ {TARGETS['warm_latency_s']:.0f} s)"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
