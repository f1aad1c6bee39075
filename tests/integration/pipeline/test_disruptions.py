"""Disruptions of the whole stack during a burst: a redeploy, an emulator restart, load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bench.load import image_pool
from bench.pipeline.accounting import reconcile
from bench.pipeline.manifest import Entry, Expect
from bench.pipeline.stack import Stack
from bench.pipeline.uploads import run_prefix, upload
from tests.integration.pipeline.support import DEV_OUTPUTS, ROOT, account, deploy

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

RESTART_PORT = int(os.environ.get("PIPELINE_RESTART_PORT", "4591"))


class Burst(threading.Thread):
    """Uploads `count` images back to back; stops at the first refused upload."""

    def __init__(self, stack: Stack, count: int, label: str) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.count = count
        self.prefix = run_prefix(label)
        self.entries: list[Entry] = []
        self.refused: Exception | None = None
        self.images = image_pool([1, 2])

    def run(self) -> None:
        for index in range(self.count):
            megapixels = (1, 2)[index % 2]
            data = self.images[megapixels][index % 2]
            try:
                self.entries.append(
                    upload(self.stack, f"{self.prefix}{index:04d}.jpg", data, None, Expect.VARIANTS)
                )
            except Exception as error:  # the emulator went away: what was acknowledged counts
                self.refused = error
                return
            time.sleep(0.1)


def test_redeploy_with_a_changed_setting_loses_nothing(pipeline_stack: Stack) -> None:
    endpoint = pipeline_stack.endpoint_url
    outputs_dir = ROOT / ".state" / "pipeline-tests" / f"redeploy-{os.getpid()}"
    burst = Burst(pipeline_stack, 40, "test-redeploy")
    burst.start()
    time.sleep(2)
    try:
        deploy(endpoint, outputs_dir, "log_level=INFO")  # a changed function environment
        burst.join()
        accounting = account(pipeline_stack, burst.entries)
    finally:
        deploy(endpoint, outputs_dir)  # back to the inventory's settings
    print(accounting.table())
    assert burst.refused is None
    assert accounting.counts["uploaded"] == 40
    assert accounting.counts["processed"] == 40, accounting.table()
    assert accounting.counts["duplicate_records"] == 0


def _manage(action: str, state_dir: Path) -> None:
    env = {
        **os.environ,
        "LOCALSTACK_PORT": str(RESTART_PORT),
        "LOCALSTACK_STATE_DIR": str(state_dir),
        "LAMBDA_RETRY_BASE_DELAY": os.environ.get("LAMBDA_RETRY_BASE_DELAY", "1"),
    }
    subprocess.run(
        [sys.executable, "emulator/manage.py", action],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def test_emulator_restart_loses_everything_in_flight_and_says_so() -> None:
    """LocalStack community keeps no state across a restart: the buckets, the objects, the
    queued events and the dead-letter queue are gone. The accounting shows every upload
    acknowledged before the restart as missing; uploads after a redeploy are processed."""
    endpoint = f"http://127.0.0.1:{RESTART_PORT}"
    state_dir = ROOT / ".state" / f"localstack-{RESTART_PORT}"
    outputs_dir = ROOT / ".state" / "pipeline-tests" / str(RESTART_PORT)
    _manage("up", state_dir)
    try:
        stack = Stack(deploy(endpoint, outputs_dir), endpoint)
        burst = Burst(stack, 60, "test-restart")
        burst.start()
        time.sleep(3)
        _manage("down", state_dir)
        burst.join()
        _manage("up", state_dir)
        stack = Stack(deploy(endpoint, outputs_dir), endpoint)
        before = reconcile(stack, burst.entries)
        print("acknowledged before the restart:\n" + before.table())
        after_entries = [
            upload(stack, f"{burst.prefix}after-{index}.jpg", image_pool([1])[1][0])
            for index in range(5)
        ]
        after = account(stack, after_entries)
        print("uploaded after the redeploy:\n" + after.table())
    finally:
        _manage("down", state_dir)
    assert burst.refused is not None  # uploads during the outage were refused, not dropped
    assert before.counts["uploaded"] == len(burst.entries) > 0
    assert before.counts["missing"] == before.counts["uploaded"]  # all of it: no persistence
    assert after.counts["processed"] == 5


def test_load_burst_accounts_for_everything(pipeline_stack: Stack, tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({**DEV_OUTPUTS, **pipeline_stack.outputs}))
    result = subprocess.run(
        [
            sys.executable,
            "bench/load.py",
            "--count",
            "40",
            "--mix",
            "1,4,12",
            "--outputs",
            str(outputs),
            "--endpoint",
            pipeline_stack.endpoint_url,
            "--no-baseline",
            "--wait",
            "400",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    counts = {
        line.rsplit(None, 1)[0]: line.rsplit(None, 1)[1]
        for line in result.stdout.splitlines()
        if line and not line.startswith(" ") and line.rsplit(None, 1)[-1].isdigit()
    }
    assert counts["fully processed (5 variants)"] == "40"
    assert counts["missing (no variant, no record)"] == "0"
