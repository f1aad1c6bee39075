"""Helpers of the pipeline tests: deploy, settle and account, change the function, kill a worker.

The deployed stack for the pipeline tests (docs/guarantees.md).

`pipeline_stack` uses the dev stack already on the emulator at AWS_ENDPOINT_URL when the
function and the upload bucket are there; otherwise it deploys `playbooks/site.yml` (inventory
dev) to that endpoint, writing the outputs under `.state/pipeline-tests/<port>/` (never the
shared `outputs/dev.json`). Molecule deploys and destroys the same dev names: run it before or
after these tests, not at the same time (`make test` runs Molecule first, so this fixture finds
the stack gone and redeploys it, ~1-3 minutes).

Failure records only arrive after the async retries: set LAMBDA_RETRY_BASE_DELAY (seconds) for
both `emulator/manage.py up` and pytest to make the waits short (LocalStack's default is 60).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.pipeline.accounting import Accounting, reconcile
from bench.pipeline.manifest import Entry
from bench.pipeline.observe import cpu_ticks, default_state_dir, worker_pids
from bench.pipeline.stack import Stack

ROOT = Path(__file__).resolve().parents[3]
DEV_NAME = "image-processor-dev"
DEV_OUTPUTS = {
    "region": "us-east-1",
    "upload_bucket": f"{DEV_NAME}-uploads",
    "processed_bucket": f"{DEV_NAME}-processed",
    "function_name": DEV_NAME,
}


# LocalStack 4.14 sometimes delivers an async event that arrives just after
# UpdateFunctionConfiguration about two minutes late (docs/guarantees.md)
HELD_AFTER_UPDATE_SECONDS = 150.0


def stack_present(stack: Stack) -> bool:
    try:
        stack.lambda_.get_function(FunctionName=stack.function_name)
        stack.s3.head_bucket(Bucket=stack.upload_bucket)
    except Exception:  # any error means: not (completely) there
        return False
    return True


def deploy(endpoint: str, outputs_dir: Path, *extra_vars: str) -> dict[str, Any]:
    """Run site.yml against `endpoint`; returns its outputs."""
    ansible_endpoint = endpoint.replace("127.0.0.1", "localhost")
    command = [
        str(ROOT / ".venvs" / "controller" / "bin" / "ansible-playbook"),
        "playbooks/site.yml",
        "-i",
        "inventories/dev",
        "-e",
        f"image_processor_outputs_dir={outputs_dir}",
    ]
    for extra in extra_vars:
        command += ["-e", extra]
    env = {
        **os.environ,
        "LOCALSTACK_ENDPOINT": ansible_endpoint,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
    }
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"site.yml failed:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}")
    return json.loads((outputs_dir / "dev.json").read_text())


def retry_budget_seconds(stack: Stack) -> float:
    """How long the async retries of one event can take, plus processing slack."""
    config = stack.lambda_.get_function_event_invoke_config(FunctionName=stack.function_name)
    base = float(os.environ.get("LAMBDA_RETRY_BASE_DELAY", "60"))
    retries = int(config.get("MaximumRetryAttempts", 2))
    timeout = int(stack.function_configuration()["Timeout"])
    return sum(base * (attempt + 1) for attempt in range(retries)) + (retries + 1) * timeout + 30


def account(
    stack: Stack, entries: list[Entry], verify: bool = False, extra_wait: float = 0.0
) -> Accounting:
    """Settle and classify, deleting the failure records of these keys from the queue."""
    return reconcile(
        stack, entries, retry_budget_seconds(stack) + extra_wait, verify=verify, consume=True
    )


@contextlib.contextmanager
def function_settings(stack: Stack, **settings: Any) -> Iterator[None]:
    """Change the function's configuration for the duration of a test, then restore it."""
    current = stack.function_configuration()
    original = {name: current[name] for name in settings}
    _update(stack, settings)
    try:
        yield
    finally:
        _update(stack, original)


def _update(stack: Stack, settings: dict[str, Any]) -> None:
    stack.lambda_.update_function_configuration(FunctionName=stack.function_name, **settings)
    waiter = stack.lambda_.get_waiter("function_updated_v2")
    waiter.wait(FunctionName=stack.function_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    # one synchronous call brings up an environment of the new configuration (async events
    # that arrive right after an update can still be held ~2 minutes: HELD_AFTER_UPDATE)
    stack.lambda_.invoke(FunctionName=stack.function_name, Payload=b'{"Records": []}')


def kill_busy_worker(stack: Stack, within_seconds: float = 30.0) -> int:
    """SIGKILL the first worker of the function seen using CPU (mid-invocation); its pid."""
    state_dir = default_state_dir(stack.endpoint_url)
    deadline = time.monotonic() + within_seconds
    while time.monotonic() < deadline:
        before = {pid: cpu_ticks(pid) for pid in worker_pids(state_dir, stack.function_name)}
        time.sleep(0.3)
        for pid, ticks in before.items():
            if ticks is not None and (cpu_ticks(pid) or 0) - ticks >= 5:  # >= 50 ms of CPU
                os.kill(pid, signal.SIGKILL)
                return pid
    pytest.fail(f"no busy worker of {stack.function_name} under {state_dir} to kill")
