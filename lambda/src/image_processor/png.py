"""PNG encoding in row bands on several threads, one standard PNG out.

Pillow's PNG encoder is one serial stream (adaptive row filtering, then deflate): for 12 MP it
was the long pole, ~1.0-1.5 s on one CPU while the other had finished every other variant.
A PNG's pixels are one zlib stream of filtered rows, and each row's filter depends only on
that row and the one above it. So each band is filtered by Pillow at level 0 (filtering,
no compression) with the row above it included and then dropped, which gives exactly the
bytes a whole-image encode filters; each band is then deflated on its own with a sync flush,
the way pigz does, and the segments concatenate into one valid deflate stream. Python's zlib
releases the GIL, so the bands run in parallel; at level 1 it is also faster than Pillow's
bundled zlib-ng at the same size (bench/processing.py --encoder-table).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image

from .pillow_io import save_to_bytes

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The working modes (processing.normalise) as PNG colour types, 8 bits per sample.
_COLOR_TYPES = {"L": 0, "RGB": 2, "LA": 4, "RGBA": 6}
_BYTES_PER_PIXEL = {"L": 1, "RGB": 3, "LA": 2, "RGBA": 4}
_ADLER_BASE = 65521


@dataclass(frozen=True)
class Segment:
    """One band's share of the zlib stream: raw deflate data and the Adler-32 of its input."""

    deflated: bytes
    adler32: int
    length: int


def deflate_band(
    image: Image.Image, top: int, bottom: int, level: int, strategy: int, final: bool
) -> Segment:
    """Filter rows top..bottom-1 as a whole-image encode would, and deflate them."""
    if image.mode not in _COLOR_TYPES:
        raise ValueError(f"PNG bands take modes {sorted(_COLOR_TYPES)}, not {image.mode}")
    context = 1 if top else 0  # the row above the band, so its first row filters as in place
    band = image.crop((0, top - context, image.width, bottom))
    stored_png = save_to_bytes(band, "PNG", compress_level=0)
    del band
    inflater = zlib.decompressobj()
    filtered = b"".join(inflater.decompress(data) for data in _idat_payloads(stored_png))
    del stored_png
    row_bytes = 1 + image.width * _BYTES_PER_PIXEL[image.mode]  # filter type byte + samples
    rows = memoryview(filtered)[context * row_bytes :]
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, 9, strategy)
    deflated = compressor.compress(rows) + compressor.flush(
        zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH
    )
    return Segment(deflated, zlib.adler32(rows), len(rows))


def assemble(image: Image.Image, segments: list[Segment], icc_profile: bytes | None) -> bytes:
    """The PNG file: header chunks, the zlib stream (its header, one IDAT chunk per segment,
    its Adler-32 trailer: chunk boundaries are free in PNG), IEND; joined once."""
    width, height = image.size
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPES[image.mode], 0, 0, 0)
    checksum = 1
    for segment in segments:
        checksum = adler32_combine(checksum, segment.adler32, segment.length)
    # zlib header: deflate with a 32 KiB window, "fastest" flag (as level 1 writes), no dictionary
    idat = [b"\x78\x01", *(segment.deflated for segment in segments), struct.pack(">I", checksum)]
    chunks = [(b"IHDR", header)]
    if icc_profile:
        chunks.append((b"iCCP", b"ICC Profile\0\0" + zlib.compress(icc_profile)))
    chunks += [(b"IDAT", data) for data in idat]
    chunks.append((b"IEND", b""))
    pieces = [PNG_SIGNATURE]
    for kind, data in chunks:
        crc = zlib.crc32(data, zlib.crc32(kind))
        pieces += [struct.pack(">I", len(data)), kind, data, struct.pack(">I", crc)]
    return b"".join(pieces)


def adler32_combine(first: int, second: int, second_length: int) -> int:
    """Adler-32 of A+B from those of A and B (zlib's adler32_combine, which Python lacks)."""
    remainder = second_length % _ADLER_BASE
    low = (first & 0xFFFF) + (second & 0xFFFF) + _ADLER_BASE - 1
    high = (remainder * (first & 0xFFFF)) % _ADLER_BASE
    high += (first >> 16) + (second >> 16) + _ADLER_BASE - remainder
    return (low % _ADLER_BASE) | ((high % _ADLER_BASE) << 16)


def _idat_payloads(png: bytes) -> Iterator[memoryview]:
    """The IDAT payloads of a PNG Pillow just wrote, as views (no copies)."""
    data = memoryview(png)
    position = len(PNG_SIGNATURE)
    while position < len(data):
        (length,) = struct.unpack_from(">I", data, position)
        if data[position + 4 : position + 8] == b"IDAT":
            yield data[position + 8 : position + 8 + length]
        position += 12 + length
