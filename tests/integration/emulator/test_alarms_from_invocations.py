"""Issue 3's end-to-end acceptance: a p95 Duration alarm and an error-rate metric-math alarm go
to ALARM from real invocations of a function in the emulator (AWS/Lambda metrics published by
LocalStack and our executor, not injected datapoints), and back to OK when the traffic changes."""

from __future__ import annotations

import io
import json
import re
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.emulator

PERIOD = 10
DRIVE_TIMEOUT = 90
SOURCE = """
import time
def handler(event, context):
    time.sleep(event["ms"] / 1000)
    if event.get("fail"):
        raise RuntimeError("failing on purpose")
    return "ok"
"""


@pytest.fixture  # one per test: the other test's invocations must not share its periods
def function(aws_client: Callable[..., Any]) -> Iterator[str]:
    lam = aws_client("lambda")
    name = f"alarm-source-{uuid.uuid4().hex[:8]}"
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", SOURCE)
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Handler="app.handler",
        Role="arn:aws:iam::000000000000:role/alarm-source",
        Code={"ZipFile": code.getvalue()},
        Timeout=10,
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    yield name
    lam.delete_function(FunctionName=name)


def drive(
    aws_client: Callable[..., Any], function: str, alarm: str, event: dict, state: str
) -> dict:
    """Invoke the function with ``event`` until ``alarm`` reaches ``state``."""
    lam, cloudwatch = aws_client("lambda"), aws_client("cloudwatch")
    deadline = time.monotonic() + DRIVE_TIMEOUT
    while time.monotonic() < deadline:
        lam.invoke(FunctionName=function, Payload=json.dumps(event))
        current = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]
        if current["StateValue"] == state:
            return current
    pytest.fail(f"{alarm} did not reach {state} within {DRIVE_TIMEOUT} s of {event} invocations")


def test_p95_duration_alarm_follows_real_invocations(aws_client, function: str) -> None:
    cloudwatch = aws_client("cloudwatch")
    alarm = f"{function}-duration-p95"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace="AWS/Lambda",
        MetricName="Duration",
        Dimensions=[{"Name": "FunctionName", "Value": function}],
        ExtendedStatistic="p95",
        Period=PERIOD,
        EvaluationPeriods=1,
        Threshold=250,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="missing",
    )
    try:
        fired = drive(aws_client, function, alarm, {"ms": 400}, "ALARM")
        assert "greater than the threshold (250.0)" in fired["StateReason"]
        drive(aws_client, function, alarm, {"ms": 5}, "OK")
    finally:
        cloudwatch.delete_alarms(AlarmNames=[alarm])


def test_error_rate_math_alarm_follows_real_invocations(aws_client, function: str) -> None:
    cloudwatch = aws_client("cloudwatch")
    alarm = f"{function}-error-rate"

    def lambda_sum(metric_id: str, metric: str) -> dict:
        return {
            "Id": metric_id,
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/Lambda",
                    "MetricName": metric,
                    "Dimensions": [{"Name": "FunctionName", "Value": function}],
                },
                "Period": PERIOD,
                "Stat": "Sum",
            },
            "ReturnData": False,
        }

    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Metrics=[
            lambda_sum("errors", "Errors"),
            lambda_sum("invocations", "Invocations"),
            {"Id": "rate", "Expression": "100 * errors / invocations", "ReturnData": True},
        ],
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    try:
        fired = drive(aws_client, function, alarm, {"ms": 50, "fail": True}, "ALARM")
        # Every invocation fails; Errors and Invocations land in their periods a moment apart.
        rate = float(re.search(r"datapoint \[([\d.]+) ", fired["StateReason"]).group(1))
        assert 90 <= rate <= 100, fired["StateReason"]
        drive(aws_client, function, alarm, {"ms": 50}, "OK")
    finally:
        cloudwatch.delete_alarms(AlarmNames=[alarm])
