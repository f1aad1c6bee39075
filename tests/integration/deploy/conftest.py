"""Run the playbooks against a LocalStack: endpoint from LOCALSTACK_ENDPOINT or AWS_ENDPOINT_URL
(default http://127.0.0.1:4566). Nothing answering is a failure, never a skip.

Every run deploys a stack of its own names (the test module's STACK_VARS, project_name and
bucket_name_suffix, passed as extra vars) and writes its outputs to a temporary directory, so
these tests never touch the `dev` stack Molecule deploys with the default names, nor the shared
outputs/dev.json."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

REPO = Path(__file__).resolve().parents[3]
ENDPOINT = (
    os.environ.get("LOCALSTACK_ENDPOINT")
    or os.environ.get("AWS_ENDPOINT_URL")
    or "http://127.0.0.1:4566"
)
PLAYBOOK_BIN = Path(sys.executable).with_name("ansible-playbook")
UNREACHABLE = "http://127.0.0.1:9"  # for runs that must fail before any AWS call


@dataclass
class Run:
    returncode: int
    output: str

    @property
    def changed(self) -> int:
        match = re.search(r"localhost\s+:\s+ok=\d+\s+changed=(\d+)", self.output)
        assert match, self.output[-3000:]
        return int(match.group(1))


@pytest.fixture(scope="session")
def endpoint() -> str:
    try:
        with urllib.request.urlopen(f"{ENDPOINT}/_localstack/health", timeout=5) as response:
            json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as e:
        pytest.fail(
            f"No LocalStack answers on {ENDPOINT} ({e}); set LOCALSTACK_ENDPOINT.", pytrace=False
        )
    return ENDPOINT


@pytest.fixture(scope="session")
def outputs_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("deploy-outputs")


def _runner(endpoint: str, outputs_dir: Path, stack_vars: dict):
    def run(name: str, *args: str) -> Run:
        env = dict(
            os.environ, LOCALSTACK_ENDPOINT=endpoint, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0"
        )
        stack = dict(stack_vars, image_processor_outputs_dir=str(outputs_dir))
        proc = subprocess.run(
            [
                str(PLAYBOOK_BIN),
                f"playbooks/{name}",
                "-i",
                "inventories/dev",
                "-e",
                json.dumps(stack),
                *args,
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        return Run(proc.returncode, proc.stdout + proc.stderr)

    return run


@pytest.fixture(scope="module")
def playbook(request, endpoint, outputs_dir):
    """run("site.yml", *ansible_playbook_args) against the emulator, on the module's stack."""
    return _runner(endpoint, outputs_dir, request.module.STACK_VARS)


@pytest.fixture(scope="module")
def offline_playbook(request, outputs_dir):
    """The same against an endpoint where nothing answers: any AWS call would fail the run."""
    return _runner(UNREACHABLE, outputs_dir, request.module.STACK_VARS)


@pytest.fixture(scope="session")
def aws(endpoint):
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    return lambda service: session.client(service, endpoint_url=endpoint)
