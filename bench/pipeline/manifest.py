"""The run manifest: one JSON line per uploaded object, written by the load and corpus tools."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any


class Expect(StrEnum):
    VARIANTS = "variants"  # must end as five variants
    FAILURE = "failure"  # must end as exactly one failure record
    EITHER = "either"  # one of the two; never partial, never missing


@dataclass(frozen=True)
class Entry:
    key: str
    size: int
    uploaded_at: float  # epoch seconds when S3 acknowledged the PUT
    etag: str = ""
    expect: Expect = Expect.EITHER
    case: str = ""
    # upright size (EXIF orientation applied) the variants must keep the aspect of
    expect_size: tuple[int, int] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> Entry:
        data: dict[str, Any] = json.loads(line)
        size = data.pop("expect_size", None)
        return cls(
            **data | {"expect": Expect(data.get("expect", Expect.EITHER))},
            expect_size=tuple(size) if size else None,
        )


class ManifestWriter:
    """Appends and flushes each entry as it is uploaded, so a crashed run keeps its record."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: IO[str] = path.open("a", encoding="utf-8")

    def add(self, entry: Entry) -> None:
        self._file.write(entry.to_json() + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def read_manifest(path: Path) -> list[Entry]:
    return [Entry.from_json(line) for line in path.read_text("utf-8").splitlines() if line]


def write_manifest(path: Path, entries: Iterable[Entry]) -> None:
    with ManifestWriter(path) as writer:
        for entry in entries:
            writer.add(entry)
