from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tools.imgops.times import parse_duration, parse_timestamp


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("1h", 3600),
        ("1h30m", 5400),
        ("2d", 172800),
        ("1w", 604800),
        ("45", 45),
        ("1.5h", 5400),
        (" 2H ", 7200),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "h", "1x", "1h foo", "-5m", "0s", "1h-"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-03T17:38:49.318Z", datetime(2026, 12, 3, 17, 38, 49, 318000, UTC)),
        ("2026-12-03T17:38:49.318+0000", datetime(2026, 12, 3, 17, 38, 49, 318000, UTC)),
        ("2026-12-03T17:38:49", datetime(2026, 12, 3, 17, 38, 49, tzinfo=UTC)),
        (
            "2026-12-03T18:38:49+01:00",
            datetime(2026, 12, 3, 18, 38, 49, tzinfo=timezone(timedelta(hours=1))),
        ),
        ("yesterday", None),
        (None, None),
    ],
)
def test_parse_timestamp(text: str | None, expected: datetime | None) -> None:
    assert parse_timestamp(text) == expected
