"""Failure records in the dead-letter queue: the Lambda async OnFailure destination JSON, or the
original event with `ErrorCode`/`ErrorMessage` attributes when the function's own DLQ is used."""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .times import parse_timestamp


@dataclass(frozen=True)
class FailureRecord:
    key: str | None  # the S3 key of the image that failed
    condition: str  # RetriesExhausted, EventAgeExceeded... or "dead-letter queue"
    error_type: str
    error_message: str
    attempts: int | None
    time: datetime | None


def parse_failure_message(message: dict[str, Any]) -> FailureRecord:
    body = json.loads(message["Body"])
    if "requestContext" in body:
        context = body["requestContext"]
        payload = body.get("responsePayload") or {}
        return FailureRecord(
            key=_s3_key(body.get("requestPayload")),
            condition=str(context.get("condition", "")),
            error_type=str(payload.get("errorType", "")),
            error_message=str(payload.get("errorMessage", "")),
            attempts=context.get("approximateInvokeCount"),
            time=parse_timestamp(body.get("timestamp")),
        )
    attributes = message.get("MessageAttributes", {})
    sent = message.get("Attributes", {}).get("SentTimestamp")
    return FailureRecord(
        key=_s3_key(body),
        condition="dead-letter queue",
        error_type=_attribute(attributes, "ErrorCode"),
        error_message=_attribute(attributes, "ErrorMessage"),
        attempts=None,
        time=datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
    )


def _s3_key(event: Any) -> str | None:
    try:
        raw = event["Records"][0]["s3"]["object"]["key"]
    except (KeyError, IndexError, TypeError):
        return None
    return urllib.parse.unquote_plus(str(raw))


def _attribute(attributes: dict[str, Any], name: str) -> str:
    return str(attributes.get(name, {}).get("StringValue", ""))
