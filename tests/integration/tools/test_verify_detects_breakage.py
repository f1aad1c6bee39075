"""`tools.imgops verify` against the dev stack deployed to the emulator (`AWS_ENDPOINT_URL`,
default http://127.0.0.1:4566): it passes on the intact stack and, for each thing broken on
purpose, fails naming it; every breakage is undone by the exact API call in a `finally`.

The stack is deployed with `ansible-playbook playbooks/site.yml -i inventories/dev` when the
outputs file (`IMGOPS_OUTPUTS_DIR`, default outputs/) is missing or describes another endpoint or
a function that does not exist there. No skip when nothing answers: this must then fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tools.imgops.stack import Stack, ToolError, load_stack, make_client
from tools.imgops.verify import render_expectations

pytestmark = pytest.mark.emulator

REPO = Path(__file__).resolve().parents[3]
ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
OUTPUTS_DIR = Path(os.environ.get("IMGOPS_OUTPUTS_DIR", REPO / "outputs"))
PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
CONFIG_CHECKS = "buckets,function,topics,alarms,filters"
ALARM_FIELDS = (
    "AlarmName",
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
    "ThresholdMetricId",
)


def _same_endpoint(a: str | None, b: str) -> bool:
    def norm(url: str) -> tuple[str, int | None]:
        parts = urllib.parse.urlsplit(url)
        host = "127.0.0.1" if parts.hostname in ("localhost", "127.0.0.1") else parts.hostname
        return str(host), parts.port

    return a is not None and norm(a) == norm(b)


def _current(stack: Stack | None) -> bool:
    if stack is None or not _same_endpoint(stack.endpoint_url, ENDPOINT):
        return False
    try:
        stack.client("lambda").get_function(FunctionName=stack.function_name)
        stack.client("s3").head_bucket(Bucket=stack.upload_bucket)
    except ClientError:
        return False
    return True


@pytest.fixture(scope="module")
def stack() -> Stack:
    try:
        with urllib.request.urlopen(f"{ENDPOINT}/_localstack/health", timeout=5) as response:
            json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as error:
        pytest.fail(f"No LocalStack answers on {ENDPOINT} ({error})", pytrace=False)
    try:
        deployed: Stack | None = load_stack("dev", OUTPUTS_DIR)
    except ToolError:
        deployed = None
    if not _current(deployed):
        done = subprocess.run(
            [
                str(PLAYBOOK),
                "playbooks/site.yml",
                "-i",
                "inventories/dev",
                "-e",
                json.dumps({"image_processor_outputs_dir": str(OUTPUTS_DIR)}),
            ],
            cwd=REPO,
            env=dict(os.environ, LOCALSTACK_ENDPOINT=ENDPOINT, ANSIBLE_NOCOLOR="1"),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
        deployed = load_stack("dev", OUTPUTS_DIR)
    assert deployed is not None
    return deployed


@pytest.fixture(scope="module")
def expectations() -> str:
    return json.dumps(render_expectations("dev"))


def verify(expectations: str, checks: str, *options: str) -> tuple[int, str]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.imgops",
            "--outputs-dir",
            str(OUTPUTS_DIR),
            "verify",
            "dev",
            "--expect",
            expectations,
            "--checks",
            checks,
            *options,
        ],
        cwd=REPO,
        env=dict(os.environ, COLUMNS="400", NO_COLOR="1"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def _wait_updated(lam: Any, name: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        config = lam.get_function_configuration(FunctionName=name)
        if config.get("LastUpdateStatus", "Successful") != "InProgress":
            return
        time.sleep(0.5)
    raise AssertionError(f"{name} still updating after 60 s")


def client(stack: Stack, service: str) -> Any:
    return make_client(service, stack.region, ENDPOINT)


def test_intact_stack_passes(stack: Stack, expectations: str) -> None:
    code, out = verify(expectations, f"{CONFIG_CHECKS},variants", "--variant-timeout", "60s")
    assert code == 0, out
    assert "✗" not in out and "failed" in out and " 0 failed" in out, out
    assert "✓ variants of sample_image.jpg" in out, out


@pytest.fixture
def notification_removed(stack: Stack) -> Iterator[str]:
    s3 = client(stack, "s3")
    saved = s3.get_bucket_notification_configuration(Bucket=stack.upload_bucket)
    saved.pop("ResponseMetadata", None)
    arn = saved["LambdaFunctionConfigurations"][0]["LambdaFunctionArn"]
    try:
        s3.put_bucket_notification_configuration(
            Bucket=stack.upload_bucket, NotificationConfiguration={}
        )
        yield arn
    finally:
        s3.put_bucket_notification_configuration(
            Bucket=stack.upload_bucket, NotificationConfiguration=saved
        )


def test_missing_bucket_notification_is_named(
    stack: Stack, expectations: str, notification_removed: str
) -> None:
    code, out = verify(expectations, "buckets")
    assert code == 1, out
    assert "upload bucket notification: no LambdaFunctionConfiguration for " in out, out
    assert f":function:{stack.function_name}" in out, out


@pytest.fixture
def function_broken(stack: Stack) -> Iterator[str]:
    lam = client(stack, "lambda")
    saved = lam.get_function_configuration(FunctionName=stack.function_name)["Environment"]
    missing = f"{stack.processed_bucket}-missing"
    try:
        variables = {**saved["Variables"], "PROCESSED_BUCKET": missing}
        lam.update_function_configuration(
            FunctionName=stack.function_name, Environment={"Variables": variables}
        )
        _wait_updated(lam, stack.function_name)
        yield missing
    finally:
        _wait_updated(lam, stack.function_name)
        lam.update_function_configuration(
            FunctionName=stack.function_name, Environment={"Variables": saved["Variables"]}
        )
        _wait_updated(lam, stack.function_name)


def test_function_failing_on_every_image_is_named(
    stack: Stack, expectations: str, function_broken: str
) -> None:
    code, out = verify(expectations, "function,variants", "--variant-timeout", "20s")
    assert code == 1, out
    assert f"env PROCESSED_BUCKET='{function_broken}'" in out, out
    for name in ("alpha.png", "sample_image.jpg", "sideways_exif6.jpg"):
        assert f"✗ variants of {name}" in out, out
    assert f"no variant in {stack.processed_bucket} after 20 s" in out, out


@pytest.fixture
def alarm_without_actions(stack: Stack) -> Iterator[str]:
    cloudwatch = client(stack, "cloudwatch")
    name = f"{stack.function_name}-errors"
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    saved = {key: alarm[key] for key in ALARM_FIELDS if key in alarm}
    try:
        cloudwatch.put_metric_alarm(**{**saved, "AlarmActions": []})
        yield name
    finally:
        cloudwatch.put_metric_alarm(**saved)


def test_alarm_without_actions_is_named(
    stack: Stack, expectations: str, alarm_without_actions: str
) -> None:
    code, out = verify(expectations, "alarms")
    assert code == 1, out
    expected = (
        f"alarm {alarm_without_actions}: AlarmActions [] does not contain the critical topic "
        f"{stack.critical_topic_arn}"
    )
    assert expected in out, out


def test_restored_stack_passes_again(stack: Stack, expectations: str) -> None:
    """The `finally` blocks put everything back the way the deployment left it."""
    code, out = verify(expectations, CONFIG_CHECKS)
    assert code == 0, out
