"""upload, alerts and logs against a running LocalStack (`AWS_ENDPOINT_URL`, default :4566), on a
stack built by hand; a thread stands in for the function (it writes variants like lambda/ does).

No skip when nothing answers: selected with `-m emulator`, these tests must then fail.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tools.imgops.__main__ import main
from tools.imgops.alerts import collect_alerts
from tools.imgops.logs import at_least, poll_events
from tools.imgops.stack import Stack, load_stack, make_client
from tools.imgops.upload import VARIANT_NAMES, upload_and_wait

pytestmark = pytest.mark.emulator

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
REGION = "us-east-1"
SAMPLE = Path(__file__).resolve().parents[2] / "images" / "sample_image.jpg"


def client(service: str) -> Any:
    return make_client(service, REGION, ENDPOINT)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    run = uuid.uuid4().hex[:8]
    s3, sqs, sns, logs, cloudwatch = (client(n) for n in ("s3", "sqs", "sns", "logs", "cloudwatch"))
    upload_bucket, processed_bucket = f"up-{run}", f"processed-{run}"
    for bucket in (upload_bucket, processed_bucket):
        s3.create_bucket(Bucket=bucket)
    log_group = f"/aws/lambda/fn-{run}"
    logs.create_log_group(logGroupName=log_group)
    dlq = sqs.create_queue(QueueName=f"dlq-{run}")["QueueUrl"]
    inbox = sqs.create_queue(QueueName=f"inbox-{run}")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])
    critical = sns.create_topic(Name=f"critical-{run}")["TopicArn"]
    sns.subscribe(TopicArn=critical, Protocol="sqs", Endpoint=inbox_arn["Attributes"]["QueueArn"])
    alarm = f"fn-{run}-errors"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Statistic="Sum",
        Dimensions=[{"Name": "FunctionName", "Value": f"fn-{run}"}],
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[critical],
    )
    outputs = {
        "environment": "dev",
        "region": REGION,
        "endpoint_url": ENDPOINT,
        "upload_bucket": upload_bucket,
        "processed_bucket": processed_bucket,
        "function_name": f"fn-{run}",
        "function_arn": f"arn:aws:lambda:{REGION}:0:function:fn",
        "log_group": log_group,
        "dead_letter_queue_url": dlq,
        "critical_topic_arn": critical,
        "warning_topic_arn": critical,
        "alerts_inbox_queue_url": inbox,
        "dashboard_name": f"dash-{run}",
        "metrics_namespace": "ImageProcessor",
        "alarm_names": [alarm],
    }
    (tmp_path / "dev.json").write_text(json.dumps(outputs))
    yield load_stack("dev", tmp_path)
    cloudwatch.delete_alarms(AlarmNames=[alarm])
    for url in (dlq, inbox):
        sqs.delete_queue(QueueUrl=url)
    sns.delete_topic(TopicArn=critical)
    logs.delete_log_group(logGroupName=log_group)


@pytest.fixture
def fake_function(stack: Stack) -> Iterator[threading.Event]:
    """Writes five variants per new upload, with the metadata the real function writes, until the
    event it yields is set."""
    s3, stop, done = client("s3"), threading.Event(), set[tuple[str, Any]]()

    def process() -> None:
        while not stop.is_set():
            for obj in s3.list_objects_v2(Bucket=stack.upload_bucket).get("Contents", []):
                if (obj["Key"], obj["LastModified"]) in done:
                    continue
                done.add((obj["Key"], obj["LastModified"]))
                for variant, (fmt, size) in zip(
                    VARIANT_NAMES,
                    [("JPEG", 640), ("JPEG", 320), ("PNG", 640), ("JPEG", 300), ("WEBP", 640)],
                    strict=True,
                ):
                    data = io.BytesIO()
                    Image.new("RGB", (size, size // 2), "teal").save(data, fmt)
                    s3.put_object(
                        Bucket=stack.processed_bucket,
                        Key=f"{obj['Key'].rsplit('.', 1)[0]}/{variant}.{fmt.lower()}",
                        Body=data.getvalue(),
                        ContentType=f"image/{fmt.lower()}",
                        Metadata={
                            "source-key": urllib.parse.quote(obj["Key"], safe="/"),
                            "source-etag": obj["ETag"].strip('"'),
                            "width": str(size),
                            "height": str(size // 2),
                        },
                    )
            stop.wait(0.3)

    worker = threading.Thread(target=process, daemon=True)
    worker.start()
    yield stop
    stop.set()
    worker.join(5)


def test_upload_waits_for_the_five_variants(
    stack: Stack, fake_function: threading.Event, tmp_path: Path
) -> None:
    named = tmp_path / "holiday photo.jpg"  # a space: the key is percent-encoded in metadata
    named.write_bytes(SAMPLE.read_bytes())
    (result,) = upload_and_wait(stack, [named], timedelta(seconds=30))
    assert result.complete
    assert sorted(v.variant for v in result.variants) == sorted(VARIANT_NAMES)
    by_name = {v.variant: v for v in result.variants}
    assert (by_name["webp"].format, by_name["thumbnail"].dimensions) == ("WEBP", "300x150")
    assert all(v.size > 0 and v.seconds_after_upload < 30 for v in result.variants)
    assert main(["--outputs-dir", str(tmp_path), "upload", "dev", str(named)]) == 0
    # The same bytes again (same ETag) once the function is gone: the earlier variants must not
    # count. LastModified has one-second resolution and the tool allows two seconds of skew.
    fake_function.set()
    time.sleep(3.5)
    code = main(["--outputs-dir", str(tmp_path), "upload", "dev", str(named), "--timeout", "3s"])
    assert code == 1


def test_upload_reports_missing_variants_with_exit_code_1(stack: Stack, tmp_path: Path) -> None:
    code = main(["--outputs-dir", str(tmp_path), "upload", "dev", str(SAMPLE), "--timeout", "2s"])
    assert code == 1


def test_alerts_are_read_without_being_consumed_unless_drained(
    stack: Stack, tmp_path: Path
) -> None:
    cloudwatch = client("cloudwatch")
    cloudwatch.set_alarm_state(
        AlarmName=stack.alarm_names[0], StateValue="ALARM", StateReason="drill"
    )
    deadline = time.monotonic() + 20
    while not (alerts := collect_alerts(stack)[0]) and time.monotonic() < deadline:
        time.sleep(0.5)
    ours = [a for a in alerts if a.channel == "inbox"]
    assert [(a.alarm_name, a.new_state, a.reason) for a in ours] == [
        (stack.alarm_names[0], "ALARM", "drill")
    ]
    assert [a.message_id for a in collect_alerts(stack)[0] if a.channel == "inbox"] == [
        ours[0].message_id
    ]
    assert main(["--outputs-dir", str(tmp_path), "alerts", "dev", "--drain"]) == 0
    assert [a for a in collect_alerts(stack)[0] if a.channel == "inbox"] == []


def test_logs_are_read_once_each_and_filtered_by_level(stack: Stack) -> None:
    logs = client("logs")
    logs.create_log_stream(logGroupName=stack.log_group, logStreamName="s")
    now = int(time.time() * 1000)
    lines = [
        json.dumps({"level": "INFO", "message": "ok", "key": "a.jpg"}),
        json.dumps({"level": "ERROR", "message": "bad", "error_type": "CorruptImage"}),
        "END RequestId: 1",
        json.dumps({"level": "CRITICAL", "message": "boom"}),
    ]
    logs.put_log_events(
        logGroupName=stack.log_group,
        logStreamName="s",
        logEvents=[{"timestamp": now, "message": line} for line in lines],  # same millisecond
    )
    read = list(poll_events(logs, stack.log_group, now - 1000, follow=False))
    assert [(line.level, line.message) for line in read] == [
        ("INFO", "ok"),
        ("ERROR", "bad"),
        (None, "END RequestId: 1"),
        ("CRITICAL", "boom"),
    ]
    assert read[1].fields == {"error_type": "CorruptImage"}
    assert [line.message for line in read if at_least(line.level, "ERROR")] == ["bad", "boom"]
