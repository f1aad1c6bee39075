"""Uploading with a manifest entry per object (the upload time is when S3 acknowledged it)."""

from __future__ import annotations

import time

from .manifest import Entry, Expect, ManifestWriter
from .stack import Stack


def upload(
    stack: Stack,
    key: str,
    data: bytes,
    writer: ManifestWriter | None = None,
    expect: Expect = Expect.EITHER,
    case: str = "",
    expect_size: tuple[int, int] | None = None,
) -> Entry:
    response = stack.s3.put_object(Bucket=stack.upload_bucket, Key=key, Body=data)
    entry = Entry(
        key=key,
        size=len(data),
        uploaded_at=time.time(),
        etag=str(response.get("ETag", "")).strip('"'),
        expect=expect,
        case=case,
        expect_size=expect_size,
    )
    if writer:
        writer.add(entry)
    return entry


def run_prefix(label: str) -> str:
    """A fresh prefix per run, so earlier runs' objects never count for this one."""
    return f"{label}-{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 1_000_000:06d}/"
