"""CloudWatch Logs filter patterns against a running embedded LocalStack (fidelity/logs.py).

Set AWS_ENDPOINT_URL to the instance under test (default http://127.0.0.1:4566). Without an
answering LocalStack every test fails: these are the checks that the patches are loaded.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from embedded_localstack.filter_pattern import LogEvent, compile_pattern

pytestmark = pytest.mark.emulator


# What the function and the Lambda platform write into /aws/lambda/<name>.
LAMBDA_LINES = [
    "START RequestId: 5d1e-01 Version: $LATEST",
    '{"level": "INFO", "message": "processing", "key": "a.jpg", "request_id": "5d1e-01"}',
    '{"level": "ERROR", "message": "failed", "error_type": "ImageTooLarge", '
    '"error_category": "image", "duration_ms": 12.5}',
    '{"level": "ERROR", "message": "failed", "error_type": "AccessDenied", '
    '"error_category": "s3_access", "duration_ms": 40}',
    "[ERROR] text line that mentions ERROR but is not JSON",
    '{"level": "CRITICAL", "message": "boom", "error_type": "KeyError", "duration_ms": 7}',
    '{"level": "ERROR", "message": "failed", "error_type": "ImageTooLarge", "duration_ms": "n/a"}',
    "END RequestId: 5d1e-01",
    "REPORT RequestId: 5d1e-01\tDuration: 102.25 ms\tBilled Duration: 103 ms\t"
    "Memory Size: 512 MB\tMax Memory Used: 80 MB",
]
ERRORS_IN_LAMBDA_LINES = 3


@pytest.fixture(scope="module")
def aws(aws_client: Callable[..., Any]) -> Callable[[str], Any]:
    """The emulator's clients without retries, so every throttled call counts."""
    return functools.partial(aws_client, config=Config(retries={"max_attempts": 1}))


@pytest.fixture
def logs(aws: Callable[[str], Any]) -> Any:
    return aws("logs")


@pytest.fixture
def cloudwatch(aws: Callable[[str], Any]) -> Any:
    return aws("cloudwatch")


@pytest.fixture
def namespace() -> str:
    return f"LogsFidelity/{uuid.uuid4().hex[:8]}"


@pytest.fixture
def new_group(logs: Any) -> Callable[[], str]:
    """A fresh log group with one stream named "s"."""

    def create() -> str:
        name = f"/fidelity/{uuid.uuid4().hex[:8]}"
        logs.create_log_group(logGroupName=name)
        logs.create_log_stream(logGroupName=name, logStreamName="s")
        return name

    return create


def _put(logs: Any, group: str, messages: Sequence[str]) -> None:
    timestamp = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": timestamp, "message": message} for message in messages],
    )


def _metric_filter(
    logs: Any, group: str, pattern: str, namespace: str, name: str, **transformation: Any
) -> None:
    logs.put_metric_filter(
        logGroupName=group,
        filterName=name,
        filterPattern=pattern,
        metricTransformations=[
            {"metricName": name, "metricNamespace": namespace, "metricValue": "1", **transformation}
        ],
    )


def _statistics(
    cloudwatch: Any, namespace: str, name: str, dimensions: Sequence[dict[str, str]] = ()
) -> dict[str, Any]:
    """All samples of the last minutes, folded over the periods they fell into."""
    now = datetime.now(UTC)
    datapoints = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=list(dimensions),
        StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=5),
        Period=60,
        Statistics=["SampleCount", "Sum", "Minimum", "Maximum"],
    )["Datapoints"]
    if not datapoints:
        return {"SampleCount": 0.0, "Sum": 0.0, "Units": set()}
    return {
        "SampleCount": sum(point["SampleCount"] for point in datapoints),
        "Sum": sum(point["Sum"] for point in datapoints),
        "Minimum": min(point["Minimum"] for point in datapoints),
        "Maximum": max(point["Maximum"] for point in datapoints),
        "Units": {point.get("Unit") for point in datapoints},
    }


def test_error_filter_counts_only_the_error_events_of_its_own_group(
    logs: Any, cloudwatch: Any, namespace: str, new_group: Callable[[], str]
) -> None:
    group_a, group_b = new_group(), new_group()
    _metric_filter(logs, group_a, '{ $.level = "ERROR" }', namespace, "ErrorsA")
    _metric_filter(logs, group_b, '{ $.level = "ERROR" }', namespace, "ErrorsB")

    _put(logs, group_a, LAMBDA_LINES)
    _put(logs, group_b, LAMBDA_LINES + ['{"level": "ERROR"}'] * 2)

    errors_a = _statistics(cloudwatch, namespace, "ErrorsA")
    errors_b = _statistics(cloudwatch, namespace, "ErrorsB")
    assert (errors_a["SampleCount"], errors_a["Sum"]) == (ERRORS_IN_LAMBDA_LINES,) * 2
    assert (errors_b["SampleCount"], errors_b["Sum"]) == (ERRORS_IN_LAMBDA_LINES + 2,) * 2


def test_metric_value_selector_publishes_the_event_value_with_its_unit(
    logs: Any, cloudwatch: Any, namespace: str, new_group: Callable[[], str]
) -> None:
    group = new_group()
    _metric_filter(
        logs,
        group,
        "{ $.duration_ms = * }",
        namespace,
        "Duration",
        metricValue="$.duration_ms",
        unit="Milliseconds",
    )

    _put(logs, group, LAMBDA_LINES)

    duration = _statistics(cloudwatch, namespace, "Duration")
    # 12.5, 40 and 7; "n/a" is not a number and publishes nothing.
    assert duration["SampleCount"] == 3
    assert (duration["Sum"], duration["Minimum"], duration["Maximum"]) == (59.5, 7.0, 40.0)
    assert duration["Units"] == {"Milliseconds"}


def test_default_value_zero_is_published_for_each_event_of_a_batch_without_match(
    logs: Any, cloudwatch: Any, namespace: str, new_group: Callable[[], str]
) -> None:
    group = new_group()
    _metric_filter(logs, group, '{ $.level = "ERROR" }', namespace, "Errors", defaultValue=0)

    _put(logs, group, [line for line in LAMBDA_LINES if '"ERROR"' not in line])

    errors = _statistics(cloudwatch, namespace, "Errors")
    assert errors["SampleCount"] == len(LAMBDA_LINES) - ERRORS_IN_LAMBDA_LINES
    assert (errors["Sum"], errors["Maximum"]) == (0.0, 0.0)


def test_dimension_values_come_from_the_event(
    logs: Any, cloudwatch: Any, namespace: str, new_group: Callable[[], str]
) -> None:
    group = new_group()
    _metric_filter(
        logs,
        group,
        '{ $.level = "ERROR" }',
        namespace,
        "ErrorsByType",
        dimensions={"ErrorType": "$.error_type"},
    )

    _put(logs, group, LAMBDA_LINES)

    def count(error_type: str) -> float:
        dimension = [{"Name": "ErrorType", "Value": error_type}]
        return _statistics(cloudwatch, namespace, "ErrorsByType", dimension)["SampleCount"]

    assert (count("ImageTooLarge"), count("AccessDenied"), count("KeyError")) == (2, 1, 0)


AGREEMENT_PATTERNS = [
    "",
    "ERROR",
    "?START ?END",
    "RequestId -REPORT",
    '"Max Memory Used"',
    '{ $.level = "ERROR" }',
    '{ $.level = "ERROR" && $.duration_ms > 10 }',
    "{ $.error_category = s3_* || $.level = CRITICAL }",
    "{ $.duration_ms NOT EXISTS }",
    "[kind = START || kind = END, label, request_id, ...]",
    "%Duration: [0-9]+%",
]


@pytest.mark.parametrize("pattern", AGREEMENT_PATTERNS)
def test_filter_log_events_and_test_metric_filter_agree_with_the_engine(
    logs: Any, new_group: Callable[[], str], pattern: str
) -> None:
    group = new_group()
    _put(logs, group, LAMBDA_LINES)
    compiled = compile_pattern(pattern)
    expected = {
        number: dict(extracted)
        for number, message in enumerate(LAMBDA_LINES, start=1)
        if (extracted := compiled.evaluate(LogEvent(message))) is not None
    }

    found = logs.filter_log_events(logGroupName=group, filterPattern=pattern)["events"]
    tested = logs.test_metric_filter(filterPattern=pattern, logEventMessages=LAMBDA_LINES)

    assert [event["message"] for event in found] == [LAMBDA_LINES[n - 1] for n in expected]
    assert {
        match["eventNumber"]: match.get("extractedValues", {}) for match in tested["matches"]
    } == expected


def test_the_engine_is_not_trivially_matching_everything() -> None:
    matched = [compile_pattern('{ $.level = "ERROR" }').matches(line) for line in LAMBDA_LINES]
    assert sum(matched) == ERRORS_IN_LAMBDA_LINES


@pytest.mark.parametrize("pattern", ['{ $.level = "ERROR"', "[a, b", '"open', "{ $.a > x }"])
def test_malformed_patterns_are_invalid_parameters(
    logs: Any, new_group: Callable[[], str], pattern: str
) -> None:
    group = new_group()
    calls: list[Callable[[], Any]] = [
        lambda: _metric_filter(logs, group, pattern, "NS", "Bad"),
        lambda: logs.filter_log_events(logGroupName=group, filterPattern=pattern),
        lambda: logs.test_metric_filter(filterPattern=pattern, logEventMessages=["x"]),
    ]
    for call in calls:
        with pytest.raises(ClientError) as raised:
            call()
        assert raised.value.response["Error"]["Code"] == "InvalidParameterException"
    assert logs.describe_metric_filters(logGroupName=group)["metricFilters"] == []


def test_put_metric_filter_replaces_a_filter_of_the_same_name(
    logs: Any, namespace: str, new_group: Callable[[], str]
) -> None:
    group = new_group()
    _metric_filter(logs, group, "ERROR", namespace, "Errors")
    _metric_filter(logs, group, "CRITICAL", namespace, "Errors")

    filters = logs.describe_metric_filters(logGroupName=group)["metricFilters"]
    assert [f["filterPattern"] for f in filters] == ["CRITICAL"]


def test_put_metric_filter_on_a_missing_group_is_not_found(logs: Any, namespace: str) -> None:
    with pytest.raises(ClientError) as raised:
        _metric_filter(logs, f"/fidelity/missing-{uuid.uuid4().hex[:8]}", "ERROR", namespace, "E")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
