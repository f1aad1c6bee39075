"""The accounting's rules on made-up data (no emulator): each class, and that it can fail."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bench.pipeline.accounting import (
    Accounting,
    Outcome,
    classify,
    expected_variant_keys,
    failed_keys,
)
from bench.pipeline.manifest import Entry, Expect

UPLOADED_AT = 1_800_000_000.4
TEMPLATE = "{stem}/{variant}.{ext}"


def _entry(key: str, expect: Expect = Expect.EITHER) -> Entry:
    return Entry(key=key, size=1, uploaded_at=UPLOADED_AT, expect=expect)


def _listing(keys: list[str], at: float = UPLOADED_AT) -> dict[str, datetime]:
    return {key: datetime.fromtimestamp(int(at), UTC) for key in keys}


def test_expected_keys_are_the_five_of_the_readme() -> None:
    assert sorted(expected_variant_keys(TEMPLATE, "photos/a cat.jpg").values()) == [
        "photos/a cat/compressed.jpg",
        "photos/a cat/low.jpg",
        "photos/a cat/png.png",
        "photos/a cat/thumbnail.jpg",
        "photos/a cat/webp.webp",
    ]


def test_each_class() -> None:
    key = "r/a.jpg"
    expected = expected_variant_keys(TEMPLATE, key)
    all_five = list(expected.values())
    cases = {
        Outcome.PROCESSED: (True, _listing(all_five), 0),
        Outcome.PARTIAL: (True, _listing(all_five[:2]), 1),
        Outcome.FAILED: (True, {}, 1),
        Outcome.MISSING: (True, {}, 0),
        Outcome.NOT_ELIGIBLE: (False, {}, 0),
    }
    for outcome, (eligible, listing, records) in cases.items():
        assert classify(_entry(key), eligible, expected, listing, records).outcome is outcome


def test_variants_older_than_the_upload_do_not_count() -> None:
    key = "r/a.jpg"
    expected = expected_variant_keys(TEMPLATE, key)
    stale = _listing(list(expected.values()), at=UPLOADED_AT - 60)
    assert classify(_entry(key), True, expected, stale, 0).outcome is Outcome.MISSING


def test_missing_or_partial_fails_and_duplicates_are_counted() -> None:
    key = "r/a.jpg"
    expected = expected_variant_keys(TEMPLATE, key)
    processed = classify(_entry(key), True, expected, _listing(list(expected.values())), 0)
    failed_twice = classify(_entry("r/b.jpg"), True, {}, {}, 2)
    assert Accounting([processed, failed_twice]).passed
    assert Accounting([processed, failed_twice]).counts["duplicate_records"] == 1
    missing = classify(_entry("r/c.jpg"), True, expected_variant_keys(TEMPLATE, "r/c.jpg"), {}, 0)
    assert not Accounting([processed, missing]).passed
    partial = classify(_entry(key), True, expected, _listing(list(expected.values())[:4]), 1)
    accounting = Accounting([partial])
    assert not accounting.passed
    assert accounting.counts["partial_with_record"] == 1


def test_failure_records_name_the_decoded_key() -> None:
    event = {"Records": [{"s3": {"bucket": {"name": "up"}, "object": {"key": "a+b%2B%C3%B1.jpg"}}}]}
    on_failure = json.dumps(
        {"requestContext": {"condition": "RetriesExhausted"}, "requestPayload": event}
    )
    assert failed_keys(on_failure, "up") == ["a b+ñ.jpg"]
    assert failed_keys(json.dumps(event), "up") == ["a b+ñ.jpg"]  # a classic DLQ message
    assert failed_keys(on_failure, "other-bucket") == []
    assert failed_keys("not json", "up") == []
