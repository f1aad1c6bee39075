from __future__ import annotations

import json
from datetime import UTC, datetime

from tools.imgops.alerts import newest_first, parse_sns_envelope
from tools.imgops.failures import parse_failure_message

ALARM = {
    "AlarmName": "img-dev-lambda-errors",
    "OldStateValue": "OK",
    "NewStateValue": "ALARM",
    "NewStateReason": "Threshold Crossed: 1 datapoint [1.0] was greater than 0.0",
    "StateChangeTime": "2026-12-03T17:38:49.318+0000",
    "AlarmActions": ["arn:aws:sns:us-east-1:000000000000:critical"],
}


def envelope(message: str, **extra: str) -> str:
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "m-1",
            "Message": message,
            "TopicArn": "arn:aws:sns:us-east-1:000000000000:critical",
            "Subject": 'ALARM: "img-dev-lambda-errors" in us-east-1',
            "Timestamp": "2026-12-03T17:38:50.000Z",
            **extra,
        }
    )


def test_sns_envelope_with_an_alarm() -> None:
    alert = parse_sns_envelope(envelope(json.dumps(ALARM)))
    assert (alert.alarm_name, alert.old_state, alert.new_state) == (
        "img-dev-lambda-errors",
        "OK",
        "ALARM",
    )
    assert alert.reason.startswith("Threshold Crossed")
    assert alert.time == datetime(
        2026, 12, 3, 17, 38, 49, 318000, UTC
    )  # the state change, not the send
    assert alert.topic_arn.endswith(":critical") and alert.message_id == "m-1"
    assert alert.summary == "img-dev-lambda-errors: OK → ALARM"


def test_raw_delivery_is_the_bare_alarm() -> None:
    alert = parse_sns_envelope(json.dumps(ALARM))
    assert alert.alarm_name == "img-dev-lambda-errors" and alert.new_state == "ALARM"
    assert alert.topic_arn.endswith(":critical")  # from AlarmActions when there is no envelope


def test_a_text_notification_is_kept_as_text() -> None:
    alert = parse_sns_envelope(envelope("deployment finished"))
    assert alert.alarm_name is None and alert.reason == "deployment finished"
    assert alert.time == datetime(2026, 12, 3, 17, 38, 50, tzinfo=UTC)
    assert parse_sns_envelope("not json at all").reason == "not json at all"


def test_newest_first_puts_undated_last() -> None:
    older = parse_sns_envelope(
        envelope(json.dumps({**ALARM, "StateChangeTime": "2026-12-01T00:00:00Z"}))
    )
    newer = parse_sns_envelope(envelope(json.dumps(ALARM)))
    undated = parse_sns_envelope("text")
    assert newest_first([undated, older, newer]) == [newer, older, undated]


def test_on_failure_destination_record() -> None:
    record = {
        "version": "1.0",
        "timestamp": "2026-12-03T17:40:00.000Z",
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": {"Records": [{"s3": {"object": {"key": "bad+image%281%29.jpg"}}}]},
        "responsePayload": {"errorType": "UnsupportedImageFormat", "errorMessage": "not an image"},
    }
    failure = parse_failure_message({"Body": json.dumps(record)})
    assert failure.key == "bad image(1).jpg"
    assert (failure.condition, failure.error_type, failure.attempts) == (
        "RetriesExhausted",
        "UnsupportedImageFormat",
        3,
    )
    assert failure.error_message == "not an image"


def test_function_dead_letter_queue_message() -> None:
    message = {
        "Body": json.dumps({"Records": [{"s3": {"object": {"key": "invalid_image.jpg"}}}]}),
        "MessageAttributes": {
            "ErrorCode": {"StringValue": "200"},
            "ErrorMessage": {"StringValue": "cannot identify image"},
        },
        "Attributes": {"SentTimestamp": "1796319529566"},
    }
    failure = parse_failure_message(message)
    assert failure.key == "invalid_image.jpg" and failure.condition == "dead-letter queue"
    assert failure.error_message == "cannot identify image" and failure.time is not None
