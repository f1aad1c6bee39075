"""Minimal ICC v2 profiles built from first principles, and the colour maths to check them.

Tests need a Display-P3 and a CMYK profile that no package here ships; building them from
primaries (and, for CMYK, the colours of the 16 ink corners) also gives an independent
reference: the expected sRGB values are computed here, not by LittleCMS.
"""

from __future__ import annotations

import struct
from itertools import product

import numpy as np

D50 = np.array([0.9642, 1.0, 0.8249])
D65 = np.array([0.95047, 1.0, 1.08883])
_BRADFORD = np.array(
    [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]
)
SRGB_PRIMARIES = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
P3_PRIMARIES = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))


def rgb_to_xyz_matrix(primaries: tuple[tuple[float, float], ...], white: np.ndarray) -> np.ndarray:
    columns = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in primaries]).T
    return columns * np.linalg.solve(columns, white)


def adapt(source_white: np.ndarray, target_white: np.ndarray) -> np.ndarray:
    """Bradford chromatic adaptation matrix."""
    cone_ratio = (_BRADFORD @ target_white) / (_BRADFORD @ source_white)
    return np.linalg.inv(_BRADFORD) @ np.diag(cone_ratio) @ _BRADFORD


def srgb_decode(encoded: np.ndarray) -> np.ndarray:
    return np.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0, 1)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)


def xyz_d50_to_srgb8(xyz: np.ndarray) -> np.ndarray:
    to_linear = np.linalg.inv(rgb_to_xyz_matrix(SRGB_PRIMARIES, D65)) @ adapt(D50, D65)
    return np.round(srgb_encode(xyz @ to_linear.T) * 255)


def p3_to_srgb8(p3: np.ndarray) -> np.ndarray:
    """8-bit Display-P3 (sRGB curve) -> 8-bit sRGB, out-of-gamut colours clipped."""
    p3_to_xyz_d50 = adapt(D65, D50) @ rgb_to_xyz_matrix(P3_PRIMARIES, D65)
    return xyz_d50_to_srgb8(srgb_decode(p3 / 255) @ p3_to_xyz_d50.T)


def cmyk_corner_xyz(cmyk: tuple[float, float, float, float]) -> np.ndarray:
    """The toy printer: each ink absorbs one sRGB primary, black absorbs all (linear light)."""
    cyan, magenta, yellow, black = cmyk
    linear = np.array([1 - cyan, 1 - magenta, 1 - yellow]) * (1 - black)
    return adapt(D65, D50) @ rgb_to_xyz_matrix(SRGB_PRIMARIES, D65) @ linear


def cmyk_to_srgb8(cmyk: np.ndarray) -> np.ndarray:
    """Expected sRGB of 8-bit CMYK patches with at most one ink (where every CLUT interpolation
    LittleCMS might use reduces to the same linear one along a cube edge)."""
    fractions = cmyk / 255
    corners = [cmyk_corner_xyz(tuple(float(ink > 0) for ink in patch)) for patch in fractions]
    paper = cmyk_corner_xyz((0, 0, 0, 0))
    weights = fractions.max(axis=1, keepdims=True)
    return xyz_d50_to_srgb8(paper + weights * (np.array(corners) - paper))


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz_tag(xyz: np.ndarray) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


def _desc_tag(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    return (b"desc\0\0\0\0" + struct.pack(">I", len(ascii_text)) + ascii_text
            + b"\0" * 8 + b"\0\0\0" + b"\0" * 67)  # fmt: skip


def _srgb_curve_tag() -> bytes:
    params = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)
    return b"para\0\0\0\0" + struct.pack(">HH", 3, 0) + b"".join(_s15(p) for p in params)


def _profile(device_class: bytes, space: bytes, tags: dict[bytes, bytes]) -> bytes:
    table, data = [], b""
    offset = 128 + 4 + 12 * len(tags)
    for signature, body in tags.items():
        body += b"\0" * (-len(body) % 4)
        table.append(struct.pack(">4sII", signature, offset + len(data), len(body)))
        data += body
    size = offset + len(data)
    header = (struct.pack(">I4sI4s4s4s", size, b"\0" * 4, 0x02100000, device_class, space,
                          b"XYZ ") + b"\0" * 12 + b"acsp" + b"\0" * 24
              + struct.pack(">I", 0) + b"".join(_s15(v) for v in D50))  # fmt: skip
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + b"".join(table) + data


def display_p3_profile() -> bytes:
    matrix = adapt(D65, D50) @ rgb_to_xyz_matrix(P3_PRIMARIES, D65)
    curve = _srgb_curve_tag()
    return _profile(b"mntr", b"RGB ", {
        b"desc": _desc_tag("Display P3 (test)"), b"wtpt": _xyz_tag(D50),
        b"rXYZ": _xyz_tag(matrix[:, 0]), b"gXYZ": _xyz_tag(matrix[:, 1]),
        b"bXYZ": _xyz_tag(matrix[:, 2]), b"rTRC": curve, b"gTRC": curve, b"bTRC": curve,
    })  # fmt: skip


def toy_cmyk_profile() -> bytes:
    """An input-only CMYK profile: a 2-point CLUT (lut16 A2B0) over the 16 ink corners."""
    identity = b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    ramp = struct.pack(">HH", 0, 65535)
    clut = b"".join(
        struct.pack(">3H", *(min(65535, round(v * 32768)) for v in cmyk_corner_xyz(corner)))
        for corner in product((0, 1), repeat=4)
    )
    lut = (b"mft2\0\0\0\0" + struct.pack(">BBBB", 4, 3, 2, 0) + identity
           + struct.pack(">HH", 2, 2) + ramp * 4 + clut + ramp * 3)  # fmt: skip
    return _profile(b"prtr", b"CMYK", {
        b"desc": _desc_tag("Toy CMYK (test)"), b"wtpt": _xyz_tag(D50), b"A2B0": lut,
    })  # fmt: skip
