"""Times on the command line (`--since 1h30m`) and in AWS payloads (ISO 8601)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str) -> timedelta:
    """`90s`, `15m`, `1h30m`, `2d`, `1w`, or plain seconds."""
    compact = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", compact):
        return timedelta(seconds=float(compact))
    if not compact or _PART.sub("", compact):
        raise ValueError(f"{text!r} is not a duration like 30s, 15m, 1h30m, 2d")
    seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _PART.findall(compact))
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return timedelta(seconds=seconds)


def parse_timestamp(value: object) -> datetime | None:
    """ISO 8601 as AWS writes it (`2026-12-03T17:38:49.318Z`, or `+0000`); naive means UTC."""
    if not value:
        return None
    text = str(value).replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
