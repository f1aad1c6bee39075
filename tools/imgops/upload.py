"""Upload images and wait for their variants: a processed object belongs to an upload when its
`source-key` and `source-etag` metadata (written by the function, see lambda/) match it, so the
tool does not depend on the key template and never mistakes an older run's variants for new ones."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from tqdm import tqdm

from .stack import Stack, ToolError

VARIANT_COUNT = 5
VARIANT_NAMES = ("compressed", "low", "png", "thumbnail", "webp")
POLL_SECONDS = 0.5
CLOCK_SLACK = timedelta(seconds=2)


@dataclass(frozen=True)
class Uploaded:
    path: Path
    key: str
    etag: str
    size: int
    finished_at: float  # time.monotonic() when the upload completed


@dataclass(frozen=True)
class VariantObject:
    key: str
    variant: str
    content_type: str
    size: int
    width: int | None
    height: int | None
    seconds_after_upload: float

    @property
    def format(self) -> str:
        return self.content_type.rpartition("/")[2].upper() or "?"

    @property
    def dimensions(self) -> str:
        return f"{self.width}x{self.height}" if self.width and self.height else "?"


@dataclass
class UploadResult:
    uploaded: Uploaded
    variants: list[VariantObject] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return len(self.variants) >= VARIANT_COUNT


def variant_name(key: str) -> str:
    """The variant a key holds: its file stem under the default template (`{stem}/{variant}.{ext}`),
    else the first known variant name among the key's parts."""
    path = PurePosixPath(key)
    if path.stem in VARIANT_NAMES:
        return path.stem
    tokens = set(key.replace(".", "/").replace("_", "/").replace("-", "/").split("/"))
    return next((name for name in VARIANT_NAMES if name in tokens), path.stem)


def upload_files(s3: Any, bucket: str, paths: Sequence[Path], prefix: str = "") -> list[Uploaded]:
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise ToolError(f"no such file: {', '.join(missing)}")
    uploaded: list[Uploaded] = []
    total = sum(path.stat().st_size for path in paths)
    with tqdm(total=total, unit="B", unit_scale=True, desc="upload", leave=True) as progress:
        for path in paths:
            key = prefix + path.name
            progress.set_postfix_str(key)
            s3.upload_file(str(path), bucket, key, Callback=progress.update)
            head = s3.head_object(Bucket=bucket, Key=key)
            uploaded.append(
                Uploaded(path, key, head["ETag"].strip('"'), path.stat().st_size, time.monotonic())
            )
    return uploaded


def wait_for_variants(
    s3: Any,
    processed_bucket: str,
    uploads: Sequence[Uploaded],
    timeout: timedelta,
    not_before: datetime,
) -> list[UploadResult]:
    """Poll until every upload has its variants or `timeout` passes. Identical bytes uploaded
    again have the same ETag, so objects written before `not_before` are an earlier run's."""
    results = {upload.key: UploadResult(upload) for upload in uploads}
    inspected: set[tuple[str, str]] = set()  # (key, etag) of processed objects already looked at
    deadline = time.monotonic() + timeout.total_seconds()
    while True:
        for summary in _list_objects(s3, processed_bucket):
            identity = (summary["Key"], summary["ETag"])
            if identity in inspected or summary["LastModified"] < not_before:
                continue
            inspected.add(identity)
            head = s3.head_object(Bucket=processed_bucket, Key=summary["Key"])
            metadata = head.get("Metadata", {})
            source = urllib.parse.unquote(metadata.get("source-key", ""))
            result = results.get(source)
            if result is None or metadata.get("source-etag") != result.uploaded.etag:
                continue
            result.variants.append(_variant(summary["Key"], head, result.uploaded))
        if all(r.complete for r in results.values()) or time.monotonic() > deadline:
            return list(results.values())
        time.sleep(POLL_SECONDS)


def upload_and_wait(
    stack: Stack, paths: Sequence[Path], timeout: timedelta, prefix: str = ""
) -> list[UploadResult]:
    s3 = stack.client("s3")
    # LastModified has one-second resolution: allow for that and a little clock skew.
    started = datetime.now(UTC) - CLOCK_SLACK
    uploads = upload_files(s3, stack.upload_bucket, paths, prefix)
    return wait_for_variants(s3, stack.processed_bucket, uploads, timeout, started)


def _list_objects(s3: Any, bucket: str) -> list[dict[str, Any]]:
    paginator = s3.get_paginator("list_objects_v2")
    return [obj for page in paginator.paginate(Bucket=bucket) for obj in page.get("Contents", [])]


def _variant(key: str, head: dict[str, Any], upload: Uploaded) -> VariantObject:
    metadata = head.get("Metadata", {})
    return VariantObject(
        key=key,
        variant=variant_name(key),
        content_type=str(head.get("ContentType", "")),
        size=int(head.get("ContentLength", 0)),
        width=_int_or_none(metadata.get("width")),
        height=_int_or_none(metadata.get("height")),
        seconds_after_upload=time.monotonic() - upload.finished_at,
    )


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None
