"""CloudWatch metrics and alarms against a running embedded LocalStack (fidelity/cloudwatch.py).

Set AWS_ENDPOINT_URL to the instance under test (default http://127.0.0.1:4566). Without an
answering LocalStack every test fails: these are the checks that the patches are loaded.
"""

from __future__ import annotations

import functools
import io
import json
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

pytestmark = pytest.mark.emulator

PERIOD = 10  # high-resolution alarms evaluate every 10 s
ALARM_TIMEOUT = 60


@pytest.fixture(scope="module")
def aws(aws_client: Callable[..., Any]) -> Callable[[str], Any]:
    """The emulator's clients without retries, so every throttled call counts."""
    return functools.partial(aws_client, config=Config(retries={"total_max_attempts": 1}))


@pytest.fixture
def cloudwatch(aws: Callable[[str], Any]) -> Any:
    return aws("cloudwatch")


@pytest.fixture
def namespace() -> str:
    return f"Fidelity/{uuid.uuid4().hex[:8]}"


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _dimension(name: str, value: str) -> dict[str, str]:
    return {"Name": name, "Value": value}


def _wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


# --- exact dimensions ---------------------------------------------------------------------


def test_queries_match_the_exact_dimension_set(cloudwatch: Any, namespace: str) -> None:
    now = _now()
    img = [_dimension("FunctionName", "img")]
    cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {"MetricName": "Failures", "Dimensions": img, "Value": 1.0, "Timestamp": now},
            {
                "MetricName": "Failures",
                "Dimensions": [_dimension("FunctionName", "img-processor")],
                "Value": 10.0,
                "Timestamp": now,
            },
            {
                "MetricName": "Failures",
                "Dimensions": [*img, _dimension("ErrorType", "Corrupt")],
                "Value": 100.0,
                "Timestamp": now,
            },
            {"MetricName": "Failures", "Value": 1000.0, "Timestamp": now},
        ],
    )
    window = {"StartTime": now - timedelta(minutes=1), "EndTime": now + timedelta(minutes=1)}

    def total(dimensions: list[dict[str, str]]) -> float:
        datapoints = cloudwatch.get_metric_statistics(
            Namespace=namespace,
            MetricName="Failures",
            Dimensions=dimensions,
            Period=120,
            Statistics=["Sum"],
            **window,
        )["Datapoints"]
        return sum(point["Sum"] for point in datapoints)

    assert total(img) == 1.0
    assert total([_dimension("FunctionName", "IMG")]) == 0.0  # values are case-sensitive
    assert total([]) == 1000.0
    # Dimension order does not make another metric.
    assert total([_dimension("ErrorType", "Corrupt"), *img]) == 100.0

    data = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "img",
                "MetricStat": {
                    "Metric": {"Namespace": namespace, "MetricName": "Failures", "Dimensions": img},
                    "Period": 120,
                    "Stat": "Sum",
                },
            }
        ],
        **window,
    )["MetricDataResults"]
    assert data[0]["Values"] == [1.0]

    listed = cloudwatch.list_metrics(Namespace=namespace, Dimensions=img)["Metrics"]
    listed_sets = sorted(
        sorted((d["Name"], d["Value"]) for d in metric["Dimensions"]) for metric in listed
    )
    # ListMetrics filters by contained dimensions, each matched exactly.
    assert listed_sets == [
        [("ErrorType", "Corrupt"), ("FunctionName", "img")],
        [("FunctionName", "img")],
    ]


# --- GetMetricData --------------------------------------------------------------------------


def _metric_stat(namespace: str, name: str, stat: str, period: int = 60) -> dict[str, Any]:
    return {
        "Metric": {
            "Namespace": namespace,
            "MetricName": name,
            "Dimensions": [_dimension("FunctionName", "fn")],
        },
        "Period": period,
        "Stat": stat,
    }


def test_get_metric_data_answers_expressions_and_percentiles(
    cloudwatch: Any, namespace: str
) -> None:
    start = _now().replace(second=0) - timedelta(minutes=2)
    fn = [_dimension("FunctionName", "fn")]
    cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": "Duration",
                "Dimensions": fn,
                "Values": [float(v) for v in range(1, 101)],
                "Timestamp": start + timedelta(seconds=5),
            },
            {"MetricName": "Errors", "Dimensions": fn, "Value": 3.0, "Timestamp": start},
            {"MetricName": "Invocations", "Dimensions": fn, "Value": 12.0, "Timestamp": start},
            # The next minute has invocations but no errors: a math result needs both.
            {
                "MetricName": "Invocations",
                "Dimensions": fn,
                "Value": 4.0,
                "Timestamp": start + timedelta(minutes=1),
            },
        ],
    )
    results = cloudwatch.get_metric_data(
        StartTime=start,
        EndTime=start + timedelta(minutes=2),
        ScanBy="TimestampAscending",
        MetricDataQueries=[
            {"Id": "p95", "MetricStat": _metric_stat(namespace, "Duration", "p95")},
            {"Id": "p50", "MetricStat": _metric_stat(namespace, "Duration", "p50")},
            {"Id": "p999", "MetricStat": _metric_stat(namespace, "Duration", "p99.9")},
            {
                "Id": "errors",
                "MetricStat": _metric_stat(namespace, "Errors", "Sum"),
                "ReturnData": False,
            },
            {
                "Id": "invocations",
                "MetricStat": _metric_stat(namespace, "Invocations", "Sum"),
                "ReturnData": False,
            },
            {"Id": "rate", "Expression": "100 * errors / invocations", "Label": "Error rate"},
            {"Id": "filled", "Expression": "100 * FILL(errors, 0) / invocations"},
            {"Id": "total", "Expression": "SUM([errors, invocations])"},
            # METRICS() is every MetricStat query, percentiles included.
            {"Id": "everything", "Expression": "SUM(METRICS())"},
        ],
    )["MetricDataResults"]
    by_id = {result["Id"]: result for result in results}
    assert set(by_id) == {"p95", "p50", "p999", "rate", "filled", "total", "everything"}
    assert by_id["p95"]["Values"] == [95.0]
    assert by_id["p50"]["Values"] == [50.0]
    assert by_id["p999"]["Values"] == [100.0]
    assert by_id["rate"]["Values"] == [25.0]
    assert by_id["rate"]["Label"] == "Error rate"
    assert by_id["rate"]["Timestamps"] == [start]
    assert by_id["filled"]["Values"] == [25.0, 0.0]
    assert by_id["total"]["Values"] == [15.0, 4.0]
    assert by_id["everything"]["Values"] == [95.0 + 50.0 + 100.0 + 15.0, 4.0]


@pytest.mark.parametrize(
    "expression", ["100 *", "errors +* 2", "NOPE(errors)", "missing_id * 2", "FILL(errors)"]
)
def test_malformed_expressions_are_validation_errors(
    cloudwatch: Any, namespace: str, expression: str
) -> None:
    now = _now()
    with pytest.raises(ClientError) as raised:
        cloudwatch.get_metric_data(
            StartTime=now - timedelta(minutes=5),
            EndTime=now,
            MetricDataQueries=[
                {"Id": "errors", "MetricStat": _metric_stat(namespace, "Errors", "Sum")},
                {"Id": "bad", "Expression": expression},
            ],
        )
    assert raised.value.response["Error"]["Code"] == "ValidationError"


def test_put_metric_alarm_rejects_math_alarms_aws_rejects(cloudwatch: Any, namespace: str) -> None:
    metrics = [
        {"Id": "errors", "MetricStat": _metric_stat(namespace, "Errors", "Sum", PERIOD)},
        {"Id": "rate", "Expression": "100 * errors /", "ReturnData": True},
    ]
    for bad_metrics in (
        metrics,  # malformed
        [metrics[0], {**metrics[1], "Expression": "SUM(errors)"}],  # a scalar, not a series
    ):
        with pytest.raises(ClientError) as raised:
            cloudwatch.put_metric_alarm(
                AlarmName=f"bad-{uuid.uuid4().hex[:6]}",
                Metrics=[{**bad_metrics[0], "ReturnData": False}, bad_metrics[1]],
                EvaluationPeriods=1,
                Threshold=1,
                ComparisonOperator="GreaterThanThreshold",
            )
        assert raised.value.response["Error"]["Code"] == "ValidationError"


# --- alarms ---------------------------------------------------------------------------------


@pytest.fixture
def inbox(aws: Callable[[str], Any]) -> Iterator[tuple[str, Callable[[], list[dict]]]]:
    """An SNS topic with an SQS subscriber; yields the topic ARN and a reader of messages."""
    sns, sqs = aws("sns"), aws("sqs")
    name = f"alarms-{uuid.uuid4().hex[:8]}"
    topic_arn = sns.create_topic(Name=name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    received: list[dict] = []

    def read() -> list[dict]:
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in answer.get("Messages", []):
            envelope = json.loads(message["Body"])
            received.append({"Subject": envelope["Subject"], **json.loads(envelope["Message"])})
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return received

    yield topic_arn, read
    sns.delete_topic(TopicArn=topic_arn)
    sqs.delete_queue(QueueUrl=queue_url)


def _drive_alarm(
    cloudwatch: Any,
    alarm_name: str,
    publish: Callable[[], None],
    state: str,
) -> dict[str, Any]:
    """Publish like steady traffic until the alarm reaches ``state``."""

    def reached() -> dict[str, Any] | None:
        publish()
        alarm = cloudwatch.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"][0]
        return alarm if alarm["StateValue"] == state else None

    return _wait_for(reached, ALARM_TIMEOUT, f"{alarm_name} to reach {state}")


def _notification(read: Callable[[], list[dict]], alarm_name: str, state: str) -> dict:
    return _wait_for(
        lambda: next(
            (
                m
                for m in read()
                if m.get("AlarmName") == alarm_name and m.get("NewStateValue") == state
            ),
            None,
        ),
        30,
        f"the {state} notification of {alarm_name}",
    )


def test_p95_alarm_fires_and_recovers_with_notifications(
    cloudwatch: Any, namespace: str, inbox: tuple[str, Callable[[], list[dict]]]
) -> None:
    topic_arn, read = inbox
    alarm_name = f"p95-{uuid.uuid4().hex[:8]}"
    fn = [_dimension("FunctionName", "fn")]
    cloudwatch.put_metric_alarm(
        AlarmName=alarm_name,
        Namespace=namespace,
        MetricName="Duration",
        Dimensions=fn,
        ExtendedStatistic="p95",
        Period=PERIOD,
        EvaluationPeriods=1,
        Threshold=500,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="missing",
        AlarmActions=[topic_arn],
        OKActions=[topic_arn],
    )

    def durations(slow: int) -> Callable[[], None]:
        # 20 samples: p95 is the 19th smallest, so ``slow`` slow ones decide it when >= 2.
        values = [100.0] * (20 - slow) + [2000.0] * slow

        def publish() -> None:
            cloudwatch.put_metric_data(
                Namespace=namespace,
                MetricData=[{"MetricName": "Duration", "Dimensions": fn, "Values": values}],
            )

        return publish

    # Two slow samples in twenty do not move an average much, but they are the p95.
    alarm = _drive_alarm(cloudwatch, alarm_name, durations(slow=2), "ALARM")
    assert "greater than the threshold (500.0)" in alarm["StateReason"]
    fired = _notification(read, alarm_name, "ALARM")
    assert fired["Subject"] == f'ALARM: "{alarm_name}" in us-east-1'
    assert fired["Trigger"]["ExtendedStatistic"] == "p95"
    assert fired["Trigger"]["StatisticType"] == "ExtendedStatistic"

    _drive_alarm(cloudwatch, alarm_name, durations(slow=1), "OK")
    recovered = _notification(read, alarm_name, "OK")
    assert recovered["OldStateValue"] == "ALARM"
    cloudwatch.delete_alarms(AlarmNames=[alarm_name])


def test_error_rate_math_alarm_fires_and_recovers_with_notifications(
    cloudwatch: Any, namespace: str, inbox: tuple[str, Callable[[], list[dict]]]
) -> None:
    topic_arn, read = inbox
    alarm_name = f"error-rate-{uuid.uuid4().hex[:8]}"
    fn = [_dimension("FunctionName", "fn")]
    cloudwatch.put_metric_alarm(
        AlarmName=alarm_name,
        Metrics=[
            {
                "Id": "e",
                "MetricStat": _metric_stat(namespace, "Errors", "Sum", PERIOD),
                "ReturnData": False,
            },
            {
                "Id": "i",
                "MetricStat": _metric_stat(namespace, "Invocations", "Sum", PERIOD),
                "ReturnData": False,
            },
            {"Id": "rate", "Expression": "100*e/i", "Label": "Error rate", "ReturnData": True},
        ],
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[topic_arn],
        OKActions=[topic_arn],
    )

    def traffic(errors: float, invocations: float) -> Callable[[], None]:
        def publish() -> None:
            cloudwatch.put_metric_data(
                Namespace=namespace,
                MetricData=[
                    {"MetricName": "Errors", "Dimensions": fn, "Value": errors},
                    {"MetricName": "Invocations", "Dimensions": fn, "Value": invocations},
                ],
            )

        return publish

    alarm = _drive_alarm(cloudwatch, alarm_name, traffic(errors=3, invocations=10), "ALARM")
    assert "[30.0 (" in alarm["StateReason"]
    fired = _notification(read, alarm_name, "ALARM")
    assert fired["Trigger"]["Period"] == PERIOD
    assert {m["Id"]: m.get("Expression") for m in fired["Trigger"]["Metrics"]}["rate"] == (
        "100*e/i"
    )
    history = cloudwatch.describe_alarm_history(AlarmName=alarm_name)["AlarmHistoryItems"]
    assert any("to ALARM" in item["HistorySummary"] for item in history)

    # A 5 % error rate is below the threshold.
    _drive_alarm(cloudwatch, alarm_name, traffic(errors=1, invocations=20), "OK")
    _notification(read, alarm_name, "OK")
    cloudwatch.delete_alarms(AlarmNames=[alarm_name])


# --- Lambda Throttles ------------------------------------------------------------------------

SLOW_HANDLER = "import time\n\ndef handler(event, context):\n    time.sleep(4)\n    return 'done'\n"


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def test_throttles_are_published_when_reserved_concurrency_is_exhausted(
    aws: Callable[[str], Any], cloudwatch: Any
) -> None:
    lambda_ = aws("lambda")
    name = f"throttled-{uuid.uuid4().hex[:8]}"
    lambda_.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Handler="app.handler",
        Role="arn:aws:iam::000000000000:role/lambda-role",
        Code={"ZipFile": _zip(SLOW_HANDLER)},
        Timeout=30,
    )
    try:
        lambda_.get_waiter("function_active_v2").wait(FunctionName=name)
        lambda_.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
        started = _now()

        def invoke(_: int) -> str:
            try:
                lambda_.invoke(FunctionName=name, Payload=b"{}")
            except ClientError as error:
                return error.response["Error"]["Code"]
            return "ok"

        with ThreadPoolExecutor(max_workers=3) as pool:
            outcomes = list(pool.map(invoke, range(3)))
        throttled = outcomes.count("TooManyRequestsException")
        assert outcomes.count("ok") >= 1
        assert throttled >= 1, outcomes

        def throttles(dimensions: list[dict[str, str]]) -> float:
            datapoints = cloudwatch.get_metric_statistics(
                Namespace="AWS/Lambda",
                MetricName="Throttles",
                Dimensions=dimensions,
                StartTime=started - timedelta(minutes=1),
                EndTime=_now() + timedelta(minutes=1),
                Period=60,
                Statistics=["Sum"],
            )["Datapoints"]
            return sum(point["Sum"] for point in datapoints)

        by_function = [_dimension("FunctionName", name)]
        by_resource = [*by_function, _dimension("Resource", name)]
        _wait_for(lambda: throttles(by_function) == throttled, 15, "Throttles by FunctionName")
        assert throttles(by_resource) == throttled

        # Async: every attempt of the event poller that finds no free slot is a throttle.
        with ThreadPoolExecutor(max_workers=1) as pool:
            busy = pool.submit(invoke, 0)
            time.sleep(1)  # the sync invocation now holds the only slot for 4 s
            lambda_.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
            assert busy.result() == "ok"
        _wait_for(
            lambda: throttles(by_function) > throttled, 20, "a throttle of the async invocation"
        )
    finally:
        lambda_.delete_function(FunctionName=name)
