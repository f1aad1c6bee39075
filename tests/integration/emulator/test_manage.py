"""`emulator/manage.py` on an instance of its own: up is idempotent, a burst of S3 uploads is all
processed by concurrent workers, S3's files stay in the instance's own directory, and down
leaves no worker process behind."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest

pytestmark = pytest.mark.emulator

REPO = Path(__file__).resolve().parents[3]
MANAGE = REPO / "emulator" / "manage.py"
WORKER_MARKER = "EMBEDDED_LAMBDA_WORKER_OF"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def marked_processes(state_dir: Path) -> list[int]:
    marker = f"{WORKER_MARKER}={state_dir}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker in (proc / "environ").read_bytes().split(b"\0"):
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


@pytest.fixture
def instance(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "LOCALSTACK_PORT": str(port),
        "LOCALSTACK_STATE_DIR": str(tmp_path / "state"),
        "LOCALSTACK_SERVICES": "s3,lambda,logs,cloudwatch,iam,sts",
    }

    def manage(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(MANAGE), command], env=env, capture_output=True, text=True
        )

    yield port, tmp_path / "state", manage
    manage("down")


def test_up_is_idempotent_and_down_leaves_no_worker(instance):
    port, state_dir, manage = instance
    first = manage("up")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "healthy after" in first.stdout
    started = time.monotonic()
    second = manage("up")
    assert second.returncode == 0 and "already answers" in second.stdout
    assert time.monotonic() - started < 10
    status = manage("status")
    assert status.returncode == 0 and "services: all available" in status.stdout

    client = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).client
    endpoint = f"http://127.0.0.1:{port}"
    s3, lam = client("s3", endpoint_url=endpoint), client("lambda", endpoint_url=endpoint)
    source, target = f"burst-src-{uuid.uuid4().hex[:6]}", f"burst-dst-{uuid.uuid4().hex[:6]}"
    s3.create_bucket(Bucket=source)
    s3.create_bucket(Bucket=target)
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr(
            "app.py",
            "import boto3, time, urllib.parse\n"
            "s3 = boto3.client('s3')\n"
            "def handler(event, context):\n"
            "    time.sleep(0.2)\n"
            "    for r in event['Records']:\n"
            "        key = urllib.parse.unquote_plus(r['s3']['object']['key'])\n"
            f"        s3.put_object(Bucket='{target}', Key=key, Body=b'done')\n",
        )
    function_arn = lam.create_function(
        FunctionName="burst",
        Runtime="python3.12",
        Handler="app.handler",
        Role="arn:aws:iam::000000000000:role/burst",
        Code={"ZipFile": code.getvalue()},
        Timeout=30,
    )["FunctionArn"]
    lam.get_waiter("function_active_v2").wait(FunctionName="burst")
    s3.put_bucket_notification_configuration(
        Bucket=source,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": function_arn, "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )
    keys = [f"upload {i}.txt" for i in range(20)]
    with ThreadPoolExecutor(20) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=source, Key=key, Body=b"x"), keys))

    deadline = time.monotonic() + 90
    done: set[str] = set()
    while time.monotonic() < deadline and len(done) < len(keys):
        listing = s3.list_objects_v2(Bucket=target).get("Contents", [])
        done = {obj["Key"] for obj in listing}
        time.sleep(0.5)
    assert done == set(keys)
    workers = marked_processes(state_dir.resolve())
    assert len(workers) >= 2, "a burst should run on several concurrent environments"
    # S3's object data stays inside this instance: not in the /tmp dir every instance shares
    assert (state_dir / "tmp" / "localstack-s3-storage" / source).is_dir()
    assert not (Path("/tmp/localstack-s3-storage") / source).exists()

    down = manage("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert marked_processes(state_dir.resolve()) == []
    assert not (state_dir / "localstack.pid").exists()
    status = manage("status")
    assert status.returncode == 1 and "not answering" in status.stdout
