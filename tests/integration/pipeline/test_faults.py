"""Faults during an invocation: each upload still ends as five variants or one failure record."""

from __future__ import annotations

import hashlib
import io
import json
import random

import pytest
from PIL import Image

from bench.load import image_pool
from bench.pipeline.accounting import Outcome, expected_variant_keys
from bench.pipeline.manifest import Expect
from bench.pipeline.stack import Stack
from bench.pipeline.uploads import run_prefix, upload
from tests.integration.pipeline.support import (
    HELD_AFTER_UPDATE_SECONDS,
    account,
    function_settings,
    kill_busy_worker,
)

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def twelve_megapixels() -> bytes:
    return image_pool([12])[12][0]


def test_failures_reach_the_queue_from_what_s3_invokes(pipeline_stack: Stack) -> None:
    """The OnFailure destination is configured per qualifier: it must cover exactly what the
    bucket notification invokes, or failures after retries go nowhere."""
    for qualifier in pipeline_stack.notified_qualifiers():
        assert pipeline_stack.failure_destination_arn(qualifier), (
            f"the notification invokes {pipeline_stack.function_name}:{qualifier}, which has no "
            "event invoke config (retries, OnFailure): failures there are lost"
        )


def test_worker_killed_mid_invocation_is_retried(
    pipeline_stack: Stack, twelve_megapixels: bytes
) -> None:
    entry = upload(pipeline_stack, run_prefix("test-kill") + "photo.jpg", twelve_megapixels)
    kill_busy_worker(pipeline_stack)
    accounting = account(pipeline_stack, [entry])
    print(accounting.table())
    assert accounting.counts["processed"] == 1
    assert accounting.counts["failed"] + accounting.counts["partial"] == 0
    assert accounting.counts["duplicate_records"] == 0


@pytest.fixture(scope="module")
def twelve_megapixels_of_noise() -> bytes:
    """Noise is the encoders' worst case: ~6 s on 2 idle cores, against ~3.5 s for a photo."""
    noise = random.Random(3).randbytes(4000 * 3000 * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (4000, 3000), noise).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


@pytest.mark.slow  # up to HELD_AFTER_UPDATE_SECONDS more
@pytest.mark.parametrize(
    ("limit", "settings", "image"),
    [
        # 4 s: the handler only starts an image with >= 3 s left; this one needs ~6 s or more
        ("timeout", {"Timeout": 4}, "twelve_megapixels_of_noise"),
        ("memory", {"MemorySize": 128}, "twelve_megapixels"),
    ],
)
def test_a_limit_ends_as_one_failure_record(
    pipeline_stack: Stack,
    request: pytest.FixtureRequest,
    limit: str,
    settings: dict[str, int],
    image: str,
) -> None:
    with function_settings(pipeline_stack, **settings):
        entry = upload(
            pipeline_stack,
            run_prefix(f"test-{limit}") + "image.jpg",
            request.getfixturevalue(image),
            expect=Expect.FAILURE,
        )
        accounting = account(pipeline_stack, [entry], extra_wait=HELD_AFTER_UPDATE_SECONDS)
    print(accounting.table())
    result = accounting.results[0]
    assert result.failure_records == 1
    assert result.outcome is Outcome.FAILED, result


def test_same_event_twice_gives_the_same_five_objects(pipeline_stack: Stack) -> None:
    data = image_pool([1])[1][0]
    entry = upload(pipeline_stack, run_prefix("test-twice") + "same event.jpg", data)
    first = account(pipeline_stack, [entry])
    assert first.counts["processed"] == 1
    expected = expected_variant_keys(pipeline_stack.output_key_template(), entry.key)
    before = _contents(pipeline_stack, entry.key.rsplit("/", 1)[0] + "/")
    event = _s3_event(pipeline_stack, entry.key, entry.size)
    for _ in range(2):  # delivered again, twice, synchronously so both have finished
        response = pipeline_stack.lambda_.invoke(
            FunctionName=pipeline_stack.function_name, Payload=json.dumps(event)
        )
        assert "FunctionError" not in response, response["Payload"].read()
    after = _contents(pipeline_stack, entry.key.rsplit("/", 1)[0] + "/")
    assert sorted(after) == sorted(expected.values())  # five objects, not ten or fifteen
    assert after == before  # and byte for byte the same ones
    again = account(pipeline_stack, [entry])
    assert again.counts["processed"] == 1
    assert again.counts["duplicate_records"] == 0


def _contents(stack: Stack, prefix: str) -> dict[str, str]:
    """Size and SHA-256 of each object's bytes under `prefix` (the content itself, not the
    ETag the store reports for it; the size tells a failure's reader what kind of change)."""
    listing = stack.s3.list_objects_v2(Bucket=stack.processed_bucket, Prefix=prefix)
    found = {}
    for item in listing.get("Contents", []):
        data = stack.s3.get_object(Bucket=stack.processed_bucket, Key=item["Key"])["Body"].read()
        found[item["Key"]] = f"{len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}"
    return found


def _s3_event(stack: Stack, key: str, size: int) -> dict:
    from urllib.parse import quote_plus

    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": stack.upload_bucket},
                    "object": {"key": quote_plus(key, safe="/"), "size": size},
                },
            }
        ]
    }
