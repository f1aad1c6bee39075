from __future__ import annotations

import json
import logging

import pytest
from botocore.exceptions import ClientError
from image_processor.errors import CorruptImage, DeadlineTooClose, ImageTooLarge
from image_processor.observability import InvocationMetrics, JsonFormatter, classify


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "no"}}, "GetObject")


@pytest.mark.parametrize(
    ("error", "category", "error_type", "level"),
    [
        (ImageTooLarge("x"), "image", "ImageTooLarge", logging.ERROR),
        (CorruptImage("x"), "image", "CorruptImage", logging.ERROR),
        (client_error("AccessDenied"), "s3_access", "AccessDenied", logging.ERROR),
        (DeadlineTooClose("x"), "timeout", "DeadlineTooClose", logging.ERROR),
        (client_error("SlowDown"), "unexpected", "SlowDown", logging.CRITICAL),
        (MemoryError(), "unexpected", "MemoryError", logging.CRITICAL),
    ],
)
def test_classification(error: Exception, category: str, error_type: str, level: int) -> None:
    classification = classify(error)
    assert (classification.category, classification.error_type) == (category, error_type)
    assert classification.log_level == level


def test_log_line_is_one_json_object_with_the_fields_set() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed: %s", ("ü",), None)
    record.key, record.error_category, record.duration_ms = "a b.jpg", "image", 12.5
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line) == {"level": "ERROR", "message": "failed: ü", "key": "a b.jpg",
                                "error_category": "image", "duration_ms": 12.5}  # fmt: skip


def test_metric_data_of_an_invocation() -> None:
    metrics = InvocationMetrics("fn")
    metrics.record_success(120.0, 1000, 3000, 12.0)
    metrics.record_success(80.0, 500, 900, 1.0)
    metrics.record_failure("ImageTooLarge")
    data = metrics.metric_data(memory_limit_mb=1024)
    by_key = {(d["MetricName"], len(d["Dimensions"])): d for d in data}
    assert by_key[("ProcessingTime", 1)]["Values"] == [120.0, 80.0]
    assert by_key[("ProcessingTime", 1)]["Unit"] == "Milliseconds"
    assert by_key[("ImagesProcessed", 1)]["Values"] == [2.0]
    assert by_key[("ProcessingFailures", 1)]["Values"] == [1.0]
    typed = by_key[("ProcessingFailures", 2)]
    assert typed["Dimensions"][1] == {"Name": "ErrorType", "Value": "ImageTooLarge"}
    assert 0 < by_key[("MemoryUsedPercent", 1)]["Values"][0] < 100
    assert all(d["Dimensions"][0] == {"Name": "FunctionName", "Value": "fn"} for d in data)


def test_no_memory_metric_without_a_memory_size() -> None:
    names = {d["MetricName"] for d in InvocationMetrics("fn").metric_data(None)}
    assert names == {"ImagesProcessed", "ProcessingFailures"}
