"""Reconcile a run manifest against the processed bucket and the dead-letter queue.

Every uploaded key ends in exactly one class:

- not eligible: no bucket notification matches the key (prefix/suffix filters), so S3 never
  invokes the function; nothing is owed for it;
- processed: all five variant keys (lambda/README.md) exist, written after the upload;
- failed: no variant, and at least one OnFailure record names the key;
- partial: one to four variants (with or without a failure record);
- missing: no variant and no record.

Only missing == 0 and partial == 0 passes. Duplicate failure records (distinct SQS messages
for one key) are counted too; SQS redeliveries of one message are not duplicates.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from image_processor.config import ProcessingSettings
from image_processor.keys import output_key
from image_processor.processing import fit_within, variant_specs

from .manifest import Entry, Expect
from .stack import Stack

# (variant, extension) exactly as the function names them
VARIANTS: tuple[tuple[str, str], ...] = tuple(
    (spec.name, spec.extension) for spec in variant_specs(ProcessingSettings())
)
# S3 LastModified has one-second resolution: a variant written in the upload's second is fresh
_CLOCK_SLACK_SECONDS = 1.0
_RECEIVE_VISIBILITY_SECONDS = 20


class Outcome(StrEnum):
    NOT_ELIGIBLE = "not eligible"
    PROCESSED = "processed"
    FAILED = "failed"
    PARTIAL = "partial"
    MISSING = "missing"


@dataclass(frozen=True)
class KeyResult:
    entry: Entry
    outcome: Outcome
    variants_found: tuple[str, ...]
    failure_records: int
    last_variant_at: datetime | None
    problems: tuple[str, ...] = ()  # verification failures of the variants

    @property
    def as_expected(self) -> bool:
        if self.outcome is Outcome.NOT_ELIGIBLE:
            return True
        wanted = {
            Expect.VARIANTS: {Outcome.PROCESSED},
            Expect.FAILURE: {Outcome.FAILED},
            Expect.EITHER: {Outcome.PROCESSED, Outcome.FAILED},
        }[self.entry.expect]
        return self.outcome in wanted and self.failure_records <= 1 and not self.problems


@dataclass
class Accounting:
    results: list[KeyResult]
    verified: bool = False
    counts: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        outcomes = [result.outcome for result in self.results]
        self.counts = {
            "uploaded": len(self.results),
            "not_eligible": outcomes.count(Outcome.NOT_ELIGIBLE),
            "processed": outcomes.count(Outcome.PROCESSED),
            "processed_with_record": sum(
                r.outcome is Outcome.PROCESSED and r.failure_records > 0 for r in self.results
            ),
            "failed": outcomes.count(Outcome.FAILED),
            "partial": outcomes.count(Outcome.PARTIAL),
            "partial_with_record": sum(
                r.outcome is Outcome.PARTIAL and r.failure_records > 0 for r in self.results
            ),
            "missing": outcomes.count(Outcome.MISSING),
            "duplicate_records": sum(max(0, r.failure_records - 1) for r in self.results),
            "incorrect": sum(bool(r.problems) for r in self.results),
            "unexpected": sum(not r.as_expected for r in self.results),
        }

    @property
    def passed(self) -> bool:
        return self.counts["missing"] == 0 and self.counts["partial"] == 0

    def by_key(self) -> dict[str, KeyResult]:
        return {result.entry.key: result for result in self.results}

    def table(self, details: int = 20) -> str:
        c = self.counts
        rows = [
            ("uploaded", c["uploaded"]),
            ("not eligible (no notification matches the key)", c["not_eligible"]),
            ("fully processed (5 variants)", c["processed"]),
            ("  of which also have a failure record", c["processed_with_record"]),
            ("failed with a record (no variant)", c["failed"]),
            ("partially processed (1-4 variants)", c["partial"]),
            ("  of which have a failure record", c["partial_with_record"]),
            ("missing (no variant, no record)", c["missing"]),
            ("duplicate failure records", c["duplicate_records"]),
            ("incorrect variants" + ("" if self.verified else " (not verified)"), c["incorrect"]),
            ("not the expected outcome", c["unexpected"]),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [f"{name:<{width}}  {value:>6}" for name, value in rows]
        lines.append(f"{'RESULT':<{width}}  {'PASS' if self.passed else 'FAIL':>6}")
        odd = [r for r in self.results if not r.as_expected]
        for result in odd[:details]:
            found = ",".join(result.variants_found) or "-"
            why = "; ".join(result.problems)
            lines.append(
                f"  {result.outcome.value:<9} {result.entry.case or '-':<22} "
                f"records={result.failure_records} variants={found} {why} "
                f"key={result.entry.key[:80]!r}"
            )
        if len(odd) > details:
            lines.append(f"  ... and {len(odd) - details} more")
        return "\n".join(lines)


class FailureRecords:
    """OnFailure records (or classic DLQ events) in the dead-letter queue, by decoded S3 key.

    Reading leaves every message in the queue unless `consume` is set, in which case the
    records of the keys asked for are deleted (tests clean up after themselves).
    """

    def __init__(self, stack: Stack, consume: bool = False) -> None:
        self.stack = stack
        self.queue_url = stack.dead_letter_queue_url
        self.consume = consume
        self._seen: dict[str, set[str]] = defaultdict(set)  # key -> message ids

    def poll(self, keys: set[str]) -> dict[str, int]:
        sqs = self.stack.sqs
        put_back: list[str] = []
        while True:
            messages = sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=_RECEIVE_VISIBILITY_SECONDS,
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                record_keys = set(failed_keys(message["Body"], self.stack.upload_bucket))
                mine = record_keys & keys
                for key in mine:
                    self._seen[key].add(message["MessageId"])
                if mine and self.consume and mine == record_keys:
                    sqs.delete_message(
                        QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                    )
                else:
                    put_back.append(message["ReceiptHandle"])
        for start in range(0, len(put_back), 10):
            sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for i, handle in enumerate(put_back[start : start + 10])
                ],
            )
        return {key: len(self._seen.get(key, ())) for key in keys}


def failed_keys(body: str, upload_bucket: str) -> list[str]:
    """The decoded S3 keys a failure message is about (OnFailure record or the raw event)."""
    try:
        message = json.loads(body)
    except ValueError:
        return []
    payload = message.get("requestPayload", message) if isinstance(message, dict) else {}
    if isinstance(payload, str):  # some producers nest the event as a JSON string
        try:
            payload = json.loads(payload)
        except ValueError:
            return []
    keys = []
    for record in payload.get("Records", []) if isinstance(payload, dict) else []:
        s3 = record.get("s3", {})
        if s3.get("bucket", {}).get("name") == upload_bucket and "key" in s3.get("object", {}):
            keys.append(urllib.parse.unquote_plus(s3["object"]["key"]))
    return keys


def expected_variant_keys(template: str, source_key: str) -> dict[str, str]:
    return {name: output_key(template, source_key, name, ext) for name, ext in VARIANTS}


class VariantListing:
    """LastModified of the processed objects under the common prefix of the expected keys."""

    def __init__(self, stack: Stack, expected: Iterable[str]) -> None:
        self.stack = stack
        # S3 prefixes are string prefixes, not path components
        self.prefix = os.path.commonprefix(list(expected))  # noqa: RUF071

    def snapshot(self) -> dict[str, datetime]:
        found: dict[str, datetime] = {}
        paginator = self.stack.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.stack.processed_bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                found[item["Key"]] = item["LastModified"]
        return found


def classify(
    entry: Entry,
    eligible: bool,
    expected: dict[str, str],
    listing: dict[str, datetime],
    records: int,
) -> KeyResult:
    fresh = {
        name: listing[key]
        for name, key in expected.items()
        if key in listing
        and listing[key].timestamp() >= int(entry.uploaded_at) - _CLOCK_SLACK_SECONDS
    }
    if not eligible:
        outcome = Outcome.NOT_ELIGIBLE
    elif len(fresh) == len(expected):
        outcome = Outcome.PROCESSED
    elif fresh:
        outcome = Outcome.PARTIAL
    elif records:
        outcome = Outcome.FAILED
    else:
        outcome = Outcome.MISSING
    return KeyResult(
        entry=entry,
        outcome=outcome,
        variants_found=tuple(sorted(fresh)),
        failure_records=records,
        last_variant_at=max(fresh.values()) if fresh else None,
    )


def reconcile(
    stack: Stack,
    entries: list[Entry],
    wait_seconds: float = 0.0,
    verify: bool = False,
    consume: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> Accounting:
    """Classify every entry; with `wait_seconds`, poll until each eligible key has settled
    (processed or failed) or the time is up, so retries and late records are counted."""
    template = stack.output_key_template()
    rules = stack.notification_rules()
    expected = {entry.key: expected_variant_keys(template, entry.key) for entry in entries}
    listing = VariantListing(stack, (k for keys in expected.values() for k in keys.values()))
    records = FailureRecords(stack, consume=consume)
    keys = {entry.key for entry in entries}
    deadline = time.monotonic() + wait_seconds
    while True:
        polled = time.monotonic()
        snapshot = listing.snapshot()
        counts = records.poll(keys)
        poll_seconds = time.monotonic() - polled
        results = [
            classify(
                entry,
                any(rule.matches(entry.key) for rule in rules),
                expected[entry.key],
                snapshot,
                counts[entry.key],
            )
            for entry in entries
        ]
        settled = sum(_settled(r) for r in results)
        if on_progress:
            on_progress(settled, len(results))
        if settled == len(results) or time.monotonic() >= deadline:
            break
        # Listing costs the emulator time in proportion to the bucket: while a load run is
        # still being processed, stay under ~10 % of a core (see observe.Observer).
        time.sleep(max(1.0, 9 * poll_seconds))
    if verify:
        results = [_verified(stack, result, expected[result.entry.key]) for result in results]
    return Accounting(results, verified=verify)


def _settled(result: KeyResult) -> bool:
    """Nothing more will happen to it: done, or its retries are over (a record exists)."""
    return result.outcome in (Outcome.NOT_ELIGIBLE, Outcome.PROCESSED) or bool(
        result.failure_records
    )


def _verified(stack: Stack, result: KeyResult, expected: dict[str, str]) -> KeyResult:
    if result.outcome is not Outcome.PROCESSED:
        return result
    problems = verify_variants(stack, result.entry, expected)
    return dataclasses.replace(result, problems=tuple(problems))


def verify_variants(stack: Stack, entry: Entry, expected: dict[str, str]) -> list[str]:
    """Each variant decodes as its format, carries its source key, and keeps the upright
    aspect of the source (EXIF orientation applied); the thumbnail fits its box."""
    from PIL import Image

    env = stack.function_configuration().get("Environment", {}).get("Variables", {})
    max_dimension = int(env.get("MAX_DIMENSION", 4096))
    thumbnail = int(env.get("THUMBNAIL_SIZE", 300))
    formats = {"jpg": "JPEG", "webp": "WEBP", "png": "PNG"}
    problems = []
    for name, key in expected.items():
        response = stack.s3.get_object(Bucket=stack.processed_bucket, Key=key)
        data = response["Body"].read()
        meta = response.get("Metadata", {})
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except Exception as error:  # any decoder failure means a broken variant
            problems.append(f"{name}: does not decode ({error})")
            continue
        if image.format != formats[key.rsplit(".", 1)[-1]]:
            problems.append(f"{name}: is {image.format}")
        if urllib.parse.unquote(meta.get("source-key", "")) != entry.key:
            problems.append(f"{name}: source-key metadata {meta.get('source-key')!r}")
        if name == "thumbnail":
            if max(image.size) > thumbnail:
                problems.append(f"thumbnail: {image.size} exceeds {thumbnail}")
        elif entry.expect_size and image.size != fit_within(*entry.expect_size, max_dimension):
            want = fit_within(*entry.expect_size, max_dimension)
            problems.append(f"{name}: {image.size[0]}x{image.size[1]}, want {want[0]}x{want[1]}")
    return problems


def summary_json(accounting: Accounting) -> dict[str, Any]:
    return {"passed": accounting.passed, **accounting.counts}
