"""Alerts as they reach people: the SQS alerts inbox (SNS envelopes) and, on LocalStack, the SES
mailbox that email subscriptions deliver to. Reading is non-destructive unless asked to drain."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .stack import Stack, ToolError
from .times import parse_timestamp

RECEIVE_BATCH = 10
HOLD_SECONDS = 20  # long enough to page through the queue without seeing a message twice


@dataclass(frozen=True)
class Alert:
    channel: str  # "inbox" or "email"
    time: datetime | None
    alarm_name: str | None
    new_state: str | None
    old_state: str | None
    reason: str
    subject: str = ""
    topic_arn: str = ""
    message_id: str = ""

    @property
    def summary(self) -> str:
        if self.alarm_name is None:
            return self.subject or self.reason
        return f"{self.alarm_name}: {self.old_state} → {self.new_state}"


def parse_sns_envelope(body: str, channel: str = "inbox") -> Alert:
    """An SQS body from an SNS subscription: the envelope (`Type: Notification`), or the bare
    message under raw delivery; the message is CloudWatch's alarm JSON, or any text."""
    try:
        envelope = json.loads(body)
    except ValueError:
        envelope = None
    if isinstance(envelope, dict) and envelope.get("Type") == "Notification":
        return parse_alarm_message(
            str(envelope.get("Message", "")),
            channel,
            subject=str(envelope.get("Subject") or ""),
            topic_arn=str(envelope.get("TopicArn", "")),
            message_id=str(envelope.get("MessageId", "")),
            sent=parse_timestamp(envelope.get("Timestamp")),
        )
    return parse_alarm_message(body, channel)


def parse_alarm_message(
    message: str,
    channel: str,
    subject: str = "",
    topic_arn: str = "",
    message_id: str = "",
    sent: datetime | None = None,
) -> Alert:
    try:
        alarm = json.loads(message)
    except ValueError:
        alarm = None
    if not isinstance(alarm, dict) or "AlarmName" not in alarm:
        text = message.strip()
        return Alert(channel, sent, None, None, None, text, subject, topic_arn, message_id)
    return Alert(
        channel=channel,
        time=parse_timestamp(alarm.get("StateChangeTime")) or sent,
        alarm_name=str(alarm["AlarmName"]),
        new_state=alarm.get("NewStateValue"),
        old_state=alarm.get("OldStateValue"),
        reason=str(alarm.get("NewStateReason") or ""),
        subject=subject,
        topic_arn=topic_arn or _first(alarm.get("AlarmActions")),
        message_id=message_id,
    )


def newest_first(alerts: Iterable[Alert]) -> list[Alert]:
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(alerts, key=lambda alert: alert.time or oldest, reverse=True)


def peek_queue(sqs: Any, queue_url: str, drain: bool = False) -> list[dict[str, Any]]:
    """Every message in the queue, each once: received messages are held invisible while paging,
    then deleted (`drain`) or made visible again at once, so reading changes nothing."""
    held: dict[str, dict[str, Any]] = {}
    while True:
        answer = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=RECEIVE_BATCH,
            VisibilityTimeout=HOLD_SECONDS,
            WaitTimeSeconds=0,
            AttributeNames=["SentTimestamp"],
            MessageAttributeNames=["All"],
        )
        fresh = [m for m in answer.get("Messages", []) if m["MessageId"] not in held]
        if not fresh:
            break
        held.update((message["MessageId"], message) for message in fresh)
    handles = [message["ReceiptHandle"] for message in held.values()]
    for start in range(0, len(handles), RECEIVE_BATCH):
        entries = [
            {"Id": str(index), "ReceiptHandle": handle}
            for index, handle in enumerate(handles[start : start + RECEIVE_BATCH])
        ]
        if drain:
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        else:
            sqs.change_message_visibility_batch(
                QueueUrl=queue_url, Entries=[{**e, "VisibilityTimeout": 0} for e in entries]
            )
    return list(held.values())


def read_inbox(sqs: Any, queue_url: str, drain: bool = False) -> list[Alert]:
    return [parse_sns_envelope(m["Body"]) for m in peek_queue(sqs, queue_url, drain)]


def read_ses_mailbox(endpoint_url: str) -> list[Alert]:
    """LocalStack's record of sent mail (`GET /_aws/ses`); SNS email bodies are the bare message."""
    url = endpoint_url.rstrip("/") + "/_aws/ses"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            mailbox = json.load(response)
    except (urllib.error.URLError, ValueError) as error:
        raise ToolError(f"cannot read the SES mailbox at {url}: {error}") from None
    return [
        parse_alarm_message(
            str(mail.get("Body", {}).get("text_part") or ""),
            "email",
            subject=str(mail.get("Subject", "")),
            message_id=str(mail.get("Id", "")),
            sent=parse_timestamp(mail.get("Timestamp")),
        )
        for mail in mailbox.get("messages", [])
    ]


def collect_alerts(stack: Stack, drain: bool = False) -> tuple[list[Alert], list[str]]:
    """All alerts of this stack, newest first, and notes on channels that could not be read."""
    alerts: list[Alert] = []
    notes: list[str] = []
    if stack.alerts_inbox_queue_url:
        alerts += read_inbox(stack.client("sqs"), stack.alerts_inbox_queue_url, drain)
    else:
        notes.append("no alerts inbox in the outputs (real AWS: alerts go to the subscriptions)")
    if stack.endpoint_url:
        try:
            mail = read_ses_mailbox(stack.endpoint_url)
        except ToolError as error:
            notes.append(str(error))
        else:
            # One LocalStack mailbox serves every stack it runs: keep mail about our alarms.
            ours = set(stack.alarm_names)
            alerts += [m for m in mail if m.alarm_name is None or m.alarm_name in ours]
    return newest_first(alerts), notes


def _first(values: Any) -> str:
    return str(values[0]) if isinstance(values, list) and values else ""
