from __future__ import annotations

from typing import Any

import pytest
from image_processor.events import source_objects
from image_processor.keys import output_key, split_stem


@pytest.mark.parametrize(
    ("key", "stem"),
    [("cat.jpg", "cat"), ("a/b/c.d.jpeg", "a/b/c.d"), ("a.b/noext", "a.b/noext"),
     (".hidden", ".hidden"), ("déjà vu/ü+ß.png", "déjà vu/ü+ß")],
)  # fmt: skip
def test_stem(key: str, stem: str) -> None:
    assert split_stem(key) == stem


def test_output_keys_are_deterministic_per_variant() -> None:
    template = "{stem}/{variant}.{ext}"
    assert output_key(template, "in/a b.jpg", "thumbnail", "jpg") == "in/a b/thumbnail.jpg"
    assert output_key("{name}-{variant}.{ext}", "x/y.png", "webp", "webp") == "y-webp.webp"
    assert output_key("{key}/{variant}.{ext}", "x/y.png", "low", "jpg") == "x/y.png/low.jpg"


def record(key: str, bucket: str = "uploads", name: str = "ObjectCreated:Put") -> dict[str, Any]:
    return {"eventName": name, "s3": {"bucket": {"name": bucket},
            "object": {"key": key, "size": 12, "eTag": "abc", "versionId": "v1"}}}  # fmt: skip


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [("a+photo.jpg", "a photo.jpg"), ("a%20photo.jpg", "a photo.jpg"),
     ("one%2Btwo.jpg", "one+two.jpg"), ("nested/deep/%C3%BC%E2%82%AC.png", "nested/deep/ü€.png")],
)  # fmt: skip
def test_keys_are_url_decoded(encoded: str, decoded: str) -> None:
    (source,) = source_objects({"Records": [record(encoded)]}, "processed")
    assert (source.bucket, source.key, source.size) == ("uploads", decoded, 12)
    assert (source.etag, source.version_id) == ("abc", "v1")


def test_other_events_and_the_processed_bucket_are_ignored() -> None:
    event = {
        "Records": [
            record("a.jpg"),
            record("b.jpg", name="ObjectRemoved:Delete"),
            record("c.jpg", bucket="processed"),
            record("d.jpg", name="ObjectCreated:CompleteMultipartUpload"),
        ]
    }
    assert [s.key for s in source_objects(event, "processed")] == ["a.jpg", "d.jpg"]
