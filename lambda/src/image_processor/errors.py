"""Errors the function raises on purpose, and how each maps to the `error_category` of a log line.

The categories are the contract with the log alerts (docs/contracts.md): `image` for a bad input,
`s3_access` for `AccessDenied`, `timeout` for a deadline too close, `unexpected` for the rest.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCategory(StrEnum):
    IMAGE = "image"
    S3_ACCESS = "s3_access"
    TIMEOUT = "timeout"
    UNEXPECTED = "unexpected"


class ConfigurationError(ValueError):
    """An environment variable has a value the function cannot work with."""


class ImageError(Exception):
    """The input itself is the problem: retrying will not help."""


class UnsupportedImageFormat(ImageError):
    """Not one of the accepted formats (or not an image at all)."""


class ImageTooLarge(ImageError):
    """Over the configured byte or pixel limit (the pixel limit catches decompression bombs)."""


class OutputKeyTooLong(ImageError):
    """A variant's key would be over S3's 1024-byte limit: the source key is too long for it."""


class CorruptImage(ImageError):
    """An accepted format whose data cannot be decoded (truncated, empty, damaged)."""


class DeadlineTooClose(Exception):
    """Too little invocation time is left to finish another image safely."""
