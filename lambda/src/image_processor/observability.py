"""JSON log lines and the custom metrics (field and metric names are in docs/contracts.md)."""

from __future__ import annotations

import json
import logging
import resource
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from .errors import DeadlineTooClose, ErrorCategory, ImageError

LOG_FIELDS = (
    "request_id",
    "key",
    "error_type",
    "error_category",
    "duration_ms",
    "input_bytes",
    "output_bytes",
)
LOGGER_NAME = "image_processor"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: `level`, `message`, then whichever contract fields are set."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"level": record.levelname, "message": record.getMessage()}
        for name in LOG_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: str) -> logging.Logger:
    """The package's logger writes JSON to stdout (which Lambda ships to CloudWatch Logs)."""
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False  # the Lambda runtime's root handler would print it again
    logger.setLevel(level)
    return logger


@dataclass(frozen=True)
class ErrorClassification:
    category: ErrorCategory
    error_type: str

    @property
    def log_level(self) -> int:
        return logging.CRITICAL if self.category is ErrorCategory.UNEXPECTED else logging.ERROR


def classify(error: BaseException) -> ErrorClassification:
    """Map an exception to the `error_category` / `error_type` pair of logs and metrics."""
    if isinstance(error, ImageError):
        return ErrorClassification(ErrorCategory.IMAGE, type(error).__name__)
    if isinstance(error, DeadlineTooClose):
        return ErrorClassification(ErrorCategory.TIMEOUT, type(error).__name__)
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", "ClientError"))
        category = ErrorCategory.S3_ACCESS if code == "AccessDenied" else ErrorCategory.UNEXPECTED
        return ErrorClassification(category, code)
    return ErrorClassification(ErrorCategory.UNEXPECTED, type(error).__name__)


def max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


@dataclass
class InvocationMetrics:
    """What one invocation measured, published as one PutMetricData call."""

    function_name: str
    processing_ms: list[float] = field(default_factory=list)
    input_bytes: list[int] = field(default_factory=list)
    output_bytes: list[int] = field(default_factory=list)
    input_megapixels: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)

    def record_success(self, ms: float, input_bytes: int, output_bytes: int, mp: float) -> None:
        self.processing_ms.append(ms)
        self.input_bytes.append(input_bytes)
        self.output_bytes.append(output_bytes)
        self.input_megapixels.append(mp)

    def record_failure(self, error_type: str) -> None:
        self.failures[error_type] += 1

    def metric_data(self, memory_limit_mb: int | None) -> list[dict[str, Any]]:
        function = [{"Name": "FunctionName", "Value": self.function_name}]

        def datum(name: str, unit: str, values: list[float] | list[int]) -> dict[str, Any]:
            return {
                "MetricName": name,
                "Dimensions": function,
                "Unit": unit,
                "Values": [float(value) for value in values],
            }

        data = [
            datum("ImagesProcessed", "Count", [len(self.processing_ms)]),
            datum("ProcessingFailures", "Count", [self.failures.total()]),
        ]
        data += [
            {
                "MetricName": "ProcessingFailures",
                "Unit": "Count",
                "Value": float(count),
                "Dimensions": [*function, {"Name": "ErrorType", "Value": error_type}],
            }
            for error_type, count in sorted(self.failures.items())
        ]
        per_image = (
            ("ProcessingTime", "Milliseconds", self.processing_ms),
            ("InputBytes", "Bytes", self.input_bytes),
            ("OutputBytes", "Bytes", self.output_bytes),
            ("InputMegapixels", "None", self.input_megapixels),
        )
        data += [datum(name, unit, values) for name, unit, values in per_image if values]
        if memory_limit_mb:
            used = 100 * max_rss_bytes() / (memory_limit_mb * 1024 * 1024)
            data.append(datum("MemoryUsedPercent", "Percent", [round(used, 2)]))
        return data
