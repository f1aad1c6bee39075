"""Output keys: a pure function of the source key, so a retry overwrites instead of duplicating.

Placeholders of `OUTPUT_KEY_TEMPLATE`: `{key}` the whole source key, `{stem}` the key without
its last extension, `{name}` the file name without extension, `{variant}`, `{ext}` the
variant's extension. The default `{stem}/{variant}.{ext}` maps `photos/cat.jpg` to
`photos/cat/compressed.jpg`, `photos/cat/thumbnail.jpg`...
"""

from __future__ import annotations

import posixpath


def split_stem(source_key: str) -> str:
    """`a/b.c.jpg` -> `a/b.c`; a name without extension (or a dot file) is its own stem."""
    directory, name = posixpath.split(source_key)
    base, dot, _ = name.rpartition(".")
    stem_name = base if dot and base else name
    return posixpath.join(directory, stem_name) if directory else stem_name


def output_key(template: str, source_key: str, variant: str, extension: str) -> str:
    stem = split_stem(source_key)
    return template.format(
        key=source_key,
        stem=stem,
        name=posixpath.basename(stem),
        variant=variant,
        ext=extension,
    )
