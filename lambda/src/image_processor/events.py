"""S3 event records -> the objects to process (pure)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SourceObject:
    bucket: str
    key: str
    size: int | None
    etag: str | None
    version_id: str | None


def source_objects(event: Mapping[str, Any], processed_bucket: str) -> list[SourceObject]:
    """The created objects of an S3 event, minus those in the processed bucket (no loops).

    Keys arrive URL-encoded (`+` for spaces on AWS, `%20` on LocalStack); both decode here.
    """
    objects = []
    for record in event.get("Records", []):
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        s3 = record.get("s3", {})
        bucket = s3.get("bucket", {}).get("name", "")
        if not bucket or bucket == processed_bucket:
            continue
        obj = s3.get("object", {})
        size = obj.get("size")
        objects.append(
            SourceObject(
                bucket=bucket,
                key=urllib.parse.unquote_plus(obj["key"]),
                size=int(size) if size is not None else None,
                etag=obj.get("eTag") or None,
                version_id=obj.get("versionId") or None,
            )
        )
    return objects
