"""The `local` Lambda runtime executor against the running embedded LocalStack: what a function
can notice must be what AWS Lambda does (issue 2's acceptance)."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import textwrap
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.emulator

ROLE_ARN = "arn:aws:iam::000000000000:role/embedded-executor-tests"


def zip_bytes(files: dict[str, str | bytes], base: Path | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
        if base is not None:
            for path in sorted(base.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(base.parent).as_posix())
    return buffer.getvalue()


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def lambda_metric_points(
    cloudwatch, function_name: str, metric: str, statistics: list[str], period: int = 60
) -> list[dict]:
    """The function's AWS/Lambda datapoints of the last five minutes."""
    return cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName=metric,
        Dimensions=[{"Name": "FunctionName", "Value": function_name}],
        StartTime=datetime.now(UTC) - timedelta(minutes=5),
        EndTime=datetime.now(UTC) + timedelta(minutes=1),
        Period=period,
        Statistics=statistics,
    )["Datapoints"]


def lambda_metric_sum(cloudwatch, function_name: str, metric: str) -> float:
    return sum(p["Sum"] for p in lambda_metric_points(cloudwatch, function_name, metric, ["Sum"]))


@pytest.fixture(scope="module")
def lam(aws_client):
    return aws_client("lambda")


@pytest.fixture(scope="module")
def make_function(lam) -> Iterator[Callable[..., str]]:
    """Create a function from source (handler module `app`), wait until Active."""
    created: list[str] = []

    def make(source: str, **config: Any) -> str:
        name = f"exec-{uuid.uuid4().hex[:10]}"
        files = config.pop("files", None) or {"app.py": textwrap.dedent(source)}
        lam.create_function(
            FunctionName=name,
            Runtime=config.pop("Runtime", "python3.12"),
            Handler=config.pop("Handler", "app.handler"),
            Role=ROLE_ARN,
            Code={"ZipFile": zip_bytes(files)},
            Timeout=config.pop("Timeout", 10),
            MemorySize=config.pop("MemorySize", 256),
            **config,
        )
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
        created.append(name)
        return name

    yield make
    for name in created:
        lam.delete_function(FunctionName=name)


def invoke(lam, name: str, event: dict | None = None) -> tuple[dict, dict, str]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}), LogType="Tail")
    logs = base64.b64decode(response.get("LogResult", "")).decode()
    return response, json.loads(response["Payload"].read() or b"null"), logs


def test_context_environment_and_sdk_like_aws(lam, make_function, aws_client):
    name = make_function(
        """
        import os, sys, boto3
        def handler(event, context):
            return {
                "request_id": context.aws_request_id,
                "function_name": context.function_name,
                "function_version": context.function_version,
                "arn": context.invoked_function_arn,
                "memory": context.memory_limit_in_mb,
                "log_group": context.log_group_name,
                "log_stream": context.log_stream_name,
                "remaining": context.get_remaining_time_in_millis(),
                "cwd": os.getcwd(),
                "task_root": os.environ["LAMBDA_TASK_ROOT"],
                "greeting": os.environ["GREETING"],
                "endpoint": os.environ["AWS_ENDPOINT_URL"],
                "version": "%d.%d" % sys.version_info[:2],
                "queues": boto3.client("sqs").list_queues().get("QueueUrls", []),
            }
        """,
        Environment={"Variables": {"GREETING": "hi"}},
        Timeout=7,
        MemorySize=192,
    )
    queue_url = aws_client("sqs").create_queue(QueueName=f"{name}-probe")["QueueUrl"]
    response, body, _ = invoke(lam, name)
    assert "FunctionError" not in response
    assert body["request_id"] == response["ResponseMetadata"]["RequestId"]
    assert body["function_name"] == name
    assert body["function_version"] == "$LATEST"
    assert body["arn"].endswith(f":function:{name}")
    assert body["memory"] == "192"
    assert body["log_group"] == f"/aws/lambda/{name}"
    assert body["log_stream"]
    assert 5000 < body["remaining"] <= 7000
    assert body["cwd"] == body["task_root"]
    assert body["greeting"] == "hi"
    assert body["endpoint"].startswith("http://127.0.0.1:")
    assert body["version"] == "3.12"
    assert queue_url in body["queues"]  # boto3 inside the function talks to LocalStack


def test_logs_have_start_end_report_and_reach_the_log_group(lam, make_function, aws_client):
    name = make_function(
        """
        print("cold init")
        def handler(event, context):
            print("hello from", context.aws_request_id)
            return "ok"
        """
    )
    _, _, cold = invoke(lam, name)
    response, _, warm = invoke(lam, name)
    request_id = response["ResponseMetadata"]["RequestId"]
    assert "cold init" in cold and "Init Duration:" in cold
    assert "cold init" not in warm and "Init Duration:" not in warm  # warm reuse
    lines = warm.strip().splitlines()
    assert lines[0] == f"START RequestId: {request_id} Version: $LATEST"
    assert lines[1] == f"hello from {request_id}"
    assert lines[2] == f"END RequestId: {request_id}"
    report = lines[3].split("\t")
    assert report[0] == f"REPORT RequestId: {request_id}"
    assert report[1].startswith("Duration: ") and report[1].endswith(" ms")
    assert report[2].startswith("Billed Duration: ")
    assert report[3] == "Memory Size: 256 MB"
    assert report[4].startswith("Max Memory Used: ") and report[4].endswith(" MB")

    logs = aws_client("logs")

    def stored_messages() -> list[str]:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        except logs.exceptions.ResourceNotFoundException:
            return []
        messages = [e["message"] for e in events]
        reported = any(m.startswith(f"REPORT RequestId: {request_id}") for m in messages)
        return messages if reported else []

    messages = wait_until(stored_messages, 15, "the log group to receive the REPORT line")
    assert f"START RequestId: {request_id} Version: $LATEST\n" in messages
    assert f"END RequestId: {request_id}\n" in messages


def test_handler_exception_is_aws_error_json_and_counts_as_error(lam, make_function, aws_client):
    name = make_function(
        """
        def handler(event, context):
            raise ValueError("bad input: " + event["why"])
        """
    )
    response, body, logs = invoke(lam, name, {"why": "testing"})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "bad input: testing"
    assert any('app.py", line 3, in handler' in frame for frame in body["stackTrace"])
    assert not any("bootstrap.py" in frame for frame in body["stackTrace"])
    assert "[ERROR] ValueError: bad input: testing" in logs

    cloudwatch = aws_client("cloudwatch")
    errors = wait_until(
        lambda: lambda_metric_sum(cloudwatch, name, "Errors"), 15, "the AWS/Lambda Errors metric"
    )
    assert errors == 1


def test_async_failure_reaches_the_on_failure_destination(lam, make_function, aws_client):
    sqs = aws_client("sqs")
    name = make_function(
        """
        def handler(event, context):
            raise RuntimeError("cannot process " + event["key"])
        """
    )
    queue_url = sqs.create_queue(QueueName=f"{name}-failures")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    lam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"key": "k1"}))

    def failure_record() -> dict | None:
        messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages")
        return json.loads(messages[0]["Body"]) if messages else None

    record = wait_until(failure_record, 20, "the failure record")
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"] == {"key": "k1"}
    assert record["responsePayload"]["errorType"] == "RuntimeError"
    assert record["responsePayload"]["errorMessage"] == "cannot process k1"


def test_timeout_is_enforced_and_the_worker_replaced(lam, make_function):
    name = make_function(
        """
        import time
        def handler(event, context):
            if event.get("sleep"):
                print("sleeping")
                time.sleep(event["sleep"])
            return "awake"
        """,
        Timeout=2,
    )
    invoke(lam, name)  # warm up, so the timing below measures the invocation only
    started = time.monotonic()
    response, body, logs = invoke(lam, name, {"sleep": 30})
    elapsed = time.monotonic() - started
    assert elapsed < 3.0, f"timed out after {elapsed:.2f} s, Timeout is 2 s"
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in body["errorMessage"]
    assert "sleeping" in logs and "Task timed out after 2.00 seconds" in logs
    assert "Status: timeout" in logs
    response, body, logs = invoke(lam, name)  # a fresh worker serves the next invocation
    assert body == "awake" and "Init Duration:" in logs


def test_memory_size_is_enforced(lam, make_function):
    name = make_function(
        """
        def handler(event, context):
            hog = [bytes([i % 256]) * (1024 * 1024) for i in range(event["megabytes"])]
            return len(hog)
        """,
        MemorySize=128,
    )
    response, body, _ = invoke(lam, name, {"megabytes": 16})
    assert body == 16  # within the limit
    response, body, logs = invoke(lam, name, {"megabytes": 400})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.OutOfMemory"
    assert "Runtime exited with error: signal: killed" in body["errorMessage"]
    assert "Error Type: Runtime.OutOfMemory" in logs
    max_used = int(logs.split("Max Memory Used: ")[1].split(" MB")[0])
    assert max_used >= 128
    _, body, _ = invoke(lam, name, {"megabytes": 1})
    assert body == 1


def test_a_brief_peak_over_the_memory_size_is_caught(lam, make_function):
    """AWS kills the moment memory crosses the limit: a peak freed again before the function
    returns, shorter than the executor's check interval, still ends as OutOfMemory."""
    name = make_function(
        """
        def handler(event, context):
            peak = b"x" * (event["megabytes"] * 1024 * 1024)
            del peak
            return "freed"
        """,
        MemorySize=128,
    )
    _, body, _ = invoke(lam, name, {"megabytes": 8})
    assert body == "freed"
    response, body, logs = invoke(lam, name, {"megabytes": 160})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.OutOfMemory"
    assert int(logs.split("Max Memory Used: ")[1].split(" MB")[0]) > 128


@pytest.mark.parametrize(
    ("config", "error_type", "message"),
    [
        ({"Runtime": "python3.14"}, "Runtime.InvalidRuntime", "python3.14 is not installed"),
        ({"Handler": "app.missing"}, "Runtime.HandlerNotFound", "Handler 'missing' missing on"),
        ({"Handler": "nomodule.handler"}, "Runtime.ImportModuleError", "module 'nomodule'"),
        ({"Handler": "broken.handler"}, "Runtime.ImportModuleError", "'not_installed_anywhere'"),
        ({"Handler": "nodot"}, "Runtime.MalformedHandlerName", "Bad handler 'nodot'"),
    ],
)
def test_init_errors_are_aws_shaped(lam, make_function, config, error_type, message):
    files = {
        "app.py": "def handler(event, context):\n    return 1\n",
        "broken.py": "import not_installed_anywhere\n",
    }
    name = make_function("", files=files, **config)
    response, body, logs = invoke(lam, name)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == error_type
    assert message in body["errorMessage"]
    assert f"Error Type: {error_type}" in logs  # the INIT_REPORT line


def test_layers_are_on_sys_path_later_layers_first(lam, make_function, aws_client):
    def publish(name: str, version_text: str) -> str:
        content = zip_bytes({"python/shared_module.py": f"WHO = {version_text!r}\n"})
        return lam.publish_layer_version(LayerName=name, Content={"ZipFile": content})[
            "LayerVersionArn"
        ]

    first = publish(f"layer-a-{uuid.uuid4().hex[:6]}", "first")
    second = publish(f"layer-b-{uuid.uuid4().hex[:6]}", "second")
    name = make_function(
        """
        import shared_module
        def handler(event, context):
            return shared_module.WHO
        """,
        Layers=[first, second],
    )
    _, body, _ = invoke(lam, name)
    assert body == "second"  # as when AWS extracts layers in order into /opt


@pytest.fixture(scope="module")
def pillow_layer(tmp_path_factory) -> bytes:
    """A real Pillow layer for the Lambda platform, built the way the project builds its own."""
    target = tmp_path_factory.mktemp("pillow-layer") / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--target",
            str(target),
            # The python3.12 runtime is Amazon Linux 2023 (glibc 2.34): manylinux_2_28 fits.
            "--platform",
            "manylinux_2_28_x86_64",
            "--platform",
            "manylinux2014_x86_64",
            "--python-version",
            "3.12",
            "--only-binary=:all:",
            "pillow==13.0.0",
        ],
        check=True,
    )
    return zip_bytes({}, base=target)


def test_s3_upload_runs_a_layered_pillow_function_that_writes_another_bucket(
    lam, make_function, aws_client, pillow_layer
):
    s3 = aws_client("s3")
    suffix = uuid.uuid4().hex[:8]
    source_bucket, target_bucket = f"exec-src-{suffix}", f"exec-dst-{suffix}"
    s3.create_bucket(Bucket=source_bucket)
    s3.create_bucket(Bucket=target_bucket)
    layer_arn = lam.publish_layer_version(
        LayerName=f"pillow-{suffix}", Content={"ZipFile": pillow_layer}
    )["LayerVersionArn"]
    name = make_function(
        """
        import io, os, urllib.parse, boto3
        from PIL import Image
        s3 = boto3.client("s3")
        def handler(event, context):
            for record in event["Records"]:
                key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
                body = s3.get_object(Bucket=record["s3"]["bucket"]["name"], Key=key)["Body"]
                image = Image.open(io.BytesIO(body.read()))
                image.thumbnail((16, 16))
                out = io.BytesIO()
                image.save(out, "PNG")
                s3.put_object(Bucket=os.environ["TARGET"], Key=key + ".png", Body=out.getvalue())
        """,
        Layers=[layer_arn],
        Environment={"Variables": {"TARGET": target_bucket}},
    )
    function_arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    lam.add_permission(
        FunctionName=name,
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn=f"arn:aws:s3:::{source_bucket}",
    )
    s3.put_bucket_notification_configuration(
        Bucket=source_bucket,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": function_arn, "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )
    from PIL import Image

    picture = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(picture, "JPEG")
    s3.put_object(Bucket=source_bucket, Key="in/red square.jpg", Body=picture.getvalue())

    def converted() -> bytes | None:
        try:
            return s3.get_object(Bucket=target_bucket, Key="in/red square.jpg.png")["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None

    result = Image.open(io.BytesIO(wait_until(converted, 30, "the converted object")))
    assert result.format == "PNG" and result.size == (16, 12)

    cloudwatch = aws_client("cloudwatch")
    invocations = wait_until(
        lambda: lambda_metric_sum(cloudwatch, name, "Invocations"), 15, "Invocations"
    )
    assert invocations >= 1


def test_duration_and_concurrent_executions_metrics(lam, make_function, aws_client):
    name = make_function(
        """
        import time
        def handler(event, context):
            time.sleep(event["seconds"])
        """
    )
    with ThreadPoolExecutor(3) as pool:
        # The first round starts three environments; the second runs on them at once.
        for _ in range(2):
            list(pool.map(lambda _: invoke(lam, name, {"seconds": 1.0}), range(3)))
    invoke(lam, name, {"seconds": 0.3})
    cloudwatch = aws_client("cloudwatch")

    def statistics(metric: str, stat: str) -> list[dict]:
        return lambda_metric_points(cloudwatch, name, metric, [stat, "SampleCount"], period=300)

    durations = wait_until(
        lambda: [p for p in statistics("Duration", "Minimum") if p["SampleCount"] >= 7],
        15,
        "seven Duration datapoints",
    )
    assert 290 <= durations[0]["Minimum"] < 1000
    concurrency = wait_until(
        lambda: statistics("ConcurrentExecutions", "Maximum"), 15, "ConcurrentExecutions"
    )
    assert concurrency[0]["Maximum"] >= 2
