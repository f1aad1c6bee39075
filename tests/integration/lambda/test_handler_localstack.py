"""The handler in-process against a running LocalStack (`AWS_ENDPOINT_URL`, default :4566).

No skip when nothing answers: these tests are selected with `-m emulator` and then must fail.
"""

from __future__ import annotations

import io
import json
import logging
import os
import urllib.parse
import uuid
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from image_processor import processing
from image_processor.config import FunctionConfig
from image_processor.errors import (
    DeadlineTooClose,
    ImageTooLarge,
    OutputKeyTooLong,
    UnsupportedImageFormat,
)
from image_processor.handler import ImageFunction
from image_processor.observability import JsonFormatter
from PIL import Image

pytestmark = pytest.mark.emulator

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
VARIANTS = ("compressed", "low", "png", "thumbnail", "webp")


@dataclass
class Context:
    function_name: str
    aws_request_id: str = "req-1"
    remaining_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class RecordingCloudWatch:
    """The real client, with each PutMetricData call also kept for the assertions."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[dict[str, Any]] = []

    def put_metric_data(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self.client.put_metric_data(**kwargs)


def client(service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=BotoConfig(connect_timeout=3, read_timeout=30, retries={"max_attempts": 1}),
    )


@pytest.fixture
def stack() -> Any:
    s3 = client("s3")
    suffix = uuid.uuid4().hex[:8]
    upload, processed = f"upload-{suffix}", f"processed-{suffix}"
    for bucket in (upload, processed):
        s3.create_bucket(Bucket=bucket)
    cloudwatch = RecordingCloudWatch(client("cloudwatch"))
    config = FunctionConfig(processed_bucket=processed, metrics_namespace=f"Test{suffix}")
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"test.{suffix}")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    function = ImageFunction(config, s3, cloudwatch, logger)
    yield s3, cloudwatch, function, upload, processed, log
    for bucket in (upload, processed):
        for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])
        s3.delete_bucket(Bucket=bucket)


def jpeg(size: tuple[int, int] = (640, 480)) -> bytes:
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize(size).convert("RGB").save(buffer, "JPEG")
    return buffer.getvalue()


def event_for(bucket: str, key: str, size: int, etag: str = "") -> dict[str, Any]:
    """A record as LocalStack sends it: the key percent-encoded."""
    return {
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": bucket},
            "object": {"key": urllib.parse.quote(key), "size": size, "eTag": etag},
        },
    }


def test_variants_written_with_metadata_and_one_metrics_call(stack: Any) -> None:
    s3, cloudwatch, function, upload, processed, _ = stack
    key = "nested/prefix/a photo+ü.jpg"
    data = jpeg()
    etag = s3.put_object(Bucket=upload, Key=key, Body=data)["ETag"].strip('"')

    result = function.handle(
        {"Records": [event_for(upload, key, len(data), etag)]}, Context("img-fn")
    )

    expected = {f"nested/prefix/a photo+ü/{name}" for name in VARIANTS}
    listed = {item["Key"] for item in s3.list_objects_v2(Bucket=processed)["Contents"]}
    assert {k.rsplit(".", 1)[0] for k in listed} == expected
    assert result["processed"][0]["key"] == key
    thumbnail = s3.head_object(Bucket=processed, Key="nested/prefix/a photo+ü/thumbnail.jpg")
    assert thumbnail["ContentType"] == "image/jpeg"
    assert thumbnail["CacheControl"] == function.config.cache_control
    assert urllib.parse.unquote(thumbnail["Metadata"]["source-key"]) == key
    assert thumbnail["Metadata"]["source-etag"] == etag
    assert (thumbnail["Metadata"]["width"], thumbnail["Metadata"]["height"]) == ("300", "225")
    body = s3.get_object(Bucket=processed, Key="nested/prefix/a photo+ü/webp.webp")["Body"]
    assert Image.open(io.BytesIO(body.read())).format == "WEBP"

    assert len(cloudwatch.calls) == 1
    names = {datum["MetricName"] for datum in cloudwatch.calls[0]["MetricData"]}
    assert {"ProcessingTime", "InputBytes", "OutputBytes", "ImagesProcessed"} <= names
    stored = cloudwatch.client.list_metrics(Namespace=function.config.metrics_namespace)
    assert {metric["MetricName"] for metric in stored["Metrics"]} == names


def test_one_bad_record_fails_the_invocation_after_the_good_one(stack: Any) -> None:
    s3, cloudwatch, function, upload, processed, log = stack
    good, bad = jpeg(), b"not an image at all"
    s3.put_object(Bucket=upload, Key="bad.jpg", Body=bad)
    s3.put_object(Bucket=upload, Key="good.jpg", Body=good)
    event = {"Records": [event_for(upload, "bad.jpg", len(bad)),
                         event_for(upload, "good.jpg", len(good))]}  # fmt: skip

    with pytest.raises(UnsupportedImageFormat):
        function.handle(event, Context("img-fn"))

    listed = {item["Key"] for item in s3.list_objects_v2(Bucket=processed)["Contents"]}
    assert listed == {f"good/{name}.{ext}" for name, ext in
                      zip(VARIANTS, ("jpg", "jpg", "png", "jpg", "webp"), strict=True)}  # fmt: skip
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    failure = next(line for line in lines if line.get("key") == "bad.jpg")
    assert (failure["level"], failure["error_category"]) == ("ERROR", "image")
    (call,) = cloudwatch.calls
    by_dimensions = {
        (datum["MetricName"], tuple(d["Value"] for d in datum["Dimensions"])): datum
        for datum in call["MetricData"]
    }
    failures = by_dimensions[("ProcessingFailures", ("img-fn", "UnsupportedImageFormat"))]
    assert failures["Value"] == 1
    assert by_dimensions[("ImagesProcessed", ("img-fn",))]["Values"] == [1.0]


def test_missing_object_is_unexpected_and_reraised(stack: Any) -> None:
    _, cloudwatch, function, upload, _, log = stack
    with pytest.raises(function.s3.exceptions.NoSuchKey):
        function.handle({"Records": [event_for(upload, "gone.jpg", 10)]}, Context("img-fn"))
    line = json.loads(log.getvalue().splitlines()[-1])
    assert (line["level"], line["error_category"], line["error_type"]) == (
        "CRITICAL", "unexpected", "NoSuchKey",
    )  # fmt: skip
    assert len(cloudwatch.calls) == 1


def test_too_little_time_left_is_a_timeout_failure(stack: Any) -> None:
    s3, cloudwatch, function, upload, processed, log = stack
    data = jpeg()
    s3.put_object(Bucket=upload, Key="late.jpg", Body=data)
    with pytest.raises(DeadlineTooClose):
        function.handle(
            {"Records": [event_for(upload, "late.jpg", len(data))]},
            Context("img-fn", remaining_ms=function.config.min_remaining_ms - 1),
        )
    assert json.loads(log.getvalue().splitlines()[-1])["error_category"] == "timeout"
    assert "Contents" not in s3.list_objects_v2(Bucket=processed)
    assert len(cloudwatch.calls) == 1


@dataclass
class RunningOutContext(Context):
    """Plenty of time at the start, too little to write once the variants are rendered."""

    later_ms: int = 0
    calls: int = 0

    def get_remaining_time_in_millis(self) -> int:
        self.calls += 1
        return self.remaining_ms if self.calls == 1 else self.later_ms


def test_variants_ready_too_close_to_the_deadline_are_not_written(stack: Any) -> None:
    s3, _, function, upload, processed, log = stack
    data = jpeg()
    s3.put_object(Bucket=upload, Key="slow.jpg", Body=data)
    context = RunningOutContext("img-fn", later_ms=function.config.min_upload_ms - 1)
    with pytest.raises(DeadlineTooClose, match="to write them"):
        function.handle({"Records": [event_for(upload, "slow.jpg", len(data))]}, context)
    assert "Contents" not in s3.list_objects_v2(Bucket=processed)
    assert json.loads(log.getvalue().splitlines()[-1])["error_category"] == "timeout"


def test_an_encoder_failure_writes_none_of_the_variants(
    stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3, _, function, upload, processed, log = stack
    encode = processing.encode

    def failing_for_low(image: Image.Image, spec: processing.VariantSpec) -> bytes:
        if spec.name == "low":
            raise MemoryError("encoder out of memory")
        return encode(image, spec)

    monkeypatch.setattr(processing, "encode", failing_for_low)
    data = jpeg()
    s3.put_object(Bucket=upload, Key="one-fails.jpg", Body=data)
    with pytest.raises(MemoryError):
        function.handle({"Records": [event_for(upload, "one-fails.jpg", len(data))]}, Context("f"))
    assert "Contents" not in s3.list_objects_v2(Bucket=processed)
    assert json.loads(log.getvalue().splitlines()[-1])["error_category"] == "unexpected"


def test_object_over_the_byte_limit_is_refused_before_download(stack: Any) -> None:
    s3, _, function, upload, _, _ = stack
    data = jpeg()
    s3.put_object(Bucket=upload, Key="big.jpg", Body=data)
    small = ImageFunction(replace(function.config, max_input_bytes=len(data) - 1), s3,
                          function.cloudwatch, function.logger)  # fmt: skip
    record = event_for(upload, "big.jpg", len(data))
    del record["s3"]["object"]["size"]  # the size then comes from a HEAD request
    with pytest.raises(ImageTooLarge, match="bytes"):
        small.handle({"Records": [record]}, Context("img-fn"))


def test_a_source_key_too_long_for_its_variants_writes_none_of_them(stack: Any) -> None:
    s3, _, function, upload, processed, log = stack
    data = jpeg()
    # "/low.jpg" still fits in 1024 bytes, "/thumbnail.jpg" does not: all or nothing.
    key = "k" * 1015 + ".jpg"
    s3.put_object(Bucket=upload, Key=key, Body=data)
    with pytest.raises(OutputKeyTooLong, match="over S3's limit of 1024"):
        function.handle({"Records": [event_for(upload, key, len(data))]}, Context("img-fn"))
    assert "Contents" not in s3.list_objects_v2(Bucket=processed)
    assert json.loads(log.getvalue().splitlines()[-1])["error_category"] == "image"
