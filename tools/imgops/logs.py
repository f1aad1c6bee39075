"""Follow the function's log group: FilterLogEvents polling, JSON lines pretty-printed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.markup import escape

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class LogLine:
    timestamp_ms: int
    stream: str
    level: str | None  # None for lines that are not our JSON (START/END/REPORT, tracebacks)
    message: str
    fields: dict[str, Any]

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> LogLine:
        text = str(event.get("message", "")).rstrip("\n")
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            return cls(event["timestamp"], event.get("logStreamName", ""), None, text, {})
        level = str(parsed.pop("level", "")).upper() or None
        message = str(parsed.pop("message", ""))
        return cls(event["timestamp"], event.get("logStreamName", ""), level, message, parsed)


def at_least(level: str | None, minimum: str | None) -> bool:
    """`--level ERROR` keeps ERROR and CRITICAL; lines without a level only when unfiltered."""
    if minimum is None:
        return True
    if level not in LEVELS:
        return False
    return LEVELS.index(level) >= LEVELS.index(minimum)


def format_line(line: LogLine) -> str:
    """Rich markup: time, level, message, then the remaining fields as key=value."""
    stamp = datetime.fromtimestamp(line.timestamp_ms / 1000, UTC).strftime("%H:%M:%S.%f")[:-3]
    if line.level is None:
        return f"[dim]{stamp}          {escape(line.message)}[/dim]"
    color = {"ERROR": "red", "CRITICAL": "bold red", "WARNING": "yellow", "DEBUG": "dim"}.get(
        line.level, "green"
    )
    extras = " ".join(
        f"[cyan]{key}[/cyan]={escape(json.dumps(value) if not isinstance(value, str) else value)}"
        for key, value in line.fields.items()
        if value not in (None, "")
    )
    return f"{stamp} [{color}]{line.level:<8}[/{color}] {escape(line.message)}  {extras}".rstrip()


def poll_events(
    logs: Any,
    log_group: str,
    start_ms: int,
    follow: bool,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[LogLine]:
    """Events from `start_ms` on, each once, oldest first; with `follow`, forever."""
    cursor, seen_at_cursor = start_ms, set[str]()
    while True:
        events = sorted(
            (
                event
                for page in logs.get_paginator("filter_log_events").paginate(
                    logGroupName=log_group, startTime=cursor
                )
                for event in page.get("events", [])
            ),
            key=lambda event: event["timestamp"],
        )
        for event in events:
            if event["timestamp"] == cursor and event["eventId"] in seen_at_cursor:
                continue
            if event["timestamp"] > cursor:
                cursor, seen_at_cursor = event["timestamp"], set()
            seen_at_cursor.add(event["eventId"])
            yield LogLine.from_event(event)
        if not follow:
            return
        sleep(POLL_SECONDS)
