"""Builds the deployment packages, byte-for-byte reproducibly (contract in docs/contracts.md).

    python lambda/build.py --out build/lambda [--arch x86_64|arm64] [--bundle-pillow]

writes `function.zip` (the handler and `image_processor/`) and `pillow-layer.zip` (Pillow
under `python/`, for the Lambda python3.12 platform), or with `--bundle-pillow` one zip with
Pillow inside (Docker LocalStack community ignores layers). Prints one JSON object. A run whose
inputs (sources, requirements, options, this script) match the last one's changes nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "src"
REQUIREMENTS = HERE / "requirements.txt"
# Lambda python3.12 runs on Amazon Linux 2023 (glibc 2.34); Pillow 13 ships manylinux_2_28 wheels.
PLATFORMS = {"x86_64": "manylinux_2_28_x86_64", "arm64": "manylinux_2_28_aarch64"}
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can store: no build time leaks in


def source_files(root: Path) -> list[Path]:
    return sorted(
        path for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )  # fmt: skip


def deterministic_zip(entries: Iterable[tuple[str, bytes]]) -> bytes:
    """Sorted entries, fixed timestamps and permissions: same inputs, same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.external_attr = 0o100644 << 16
            info.create_system = 3  # Unix, so the permissions above are read
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data, compresslevel=9)
    return buffer.getvalue()


def tree_entries(root: Path, prefix: str = "") -> list[tuple[str, bytes]]:
    return [(prefix + path.relative_to(root).as_posix(), path.read_bytes())
            for path in source_files(root)]  # fmt: skip


def install_pillow(target: Path, arch: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-compile", "--target", str(target), "--platform", PLATFORMS[arch],
         "--python-version", "3.12", "--implementation", "cp", "--only-binary=:all:",
         "-r", str(REQUIREMENTS)],
        check=True, stdout=sys.stderr,
    )  # fmt: skip


def inputs_digest(arch: str, bundle_pillow: bool) -> str:
    digest = hashlib.sha256(f"{arch}|{bundle_pillow}".encode())
    for path in [Path(__file__).resolve(), REQUIREMENTS, *source_files(SOURCE)]:
        digest.update(path.relative_to(HERE).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(out: Path, arch: str, bundle_pillow: bool) -> dict[str, object]:
    out.mkdir(parents=True, exist_ok=True)
    function_zip = out / "function.zip"
    layer_zip = None if bundle_pillow else out / "pillow-layer.zip"
    stamp = out / f".inputs-{arch}{'-bundled' if bundle_pillow else ''}.json"
    digest = inputs_digest(arch, bundle_pillow)
    outputs = [path for path in (function_zip, layer_zip) if path is not None]
    if stamp.exists() and all(path.exists() for path in outputs):
        recorded = json.loads(stamp.read_text())
        current = {path.name: sha256(path) for path in outputs}
        if recorded == {"inputs": digest, "outputs": current}:
            return report(function_zip, layer_zip, changed=False)

    function_entries = tree_entries(SOURCE)
    with tempfile.TemporaryDirectory() as scratch:
        pillow = Path(scratch) / "python"
        install_pillow(pillow, arch)
        if bundle_pillow:
            function_entries += tree_entries(pillow)
        else:
            assert layer_zip is not None
            layer_zip.write_bytes(deterministic_zip(tree_entries(pillow, prefix="python/")))
    function_zip.write_bytes(deterministic_zip(function_entries))
    stamp.write_text(json.dumps(
        {"inputs": digest, "outputs": {path.name: sha256(path) for path in outputs}}
    ))  # fmt: skip
    return report(function_zip, layer_zip, changed=True)


def report(function_zip: Path, layer_zip: Path | None, changed: bool) -> dict[str, object]:
    return {
        "function_zip": str(function_zip),
        "function_sha256": sha256(function_zip),
        "layer_zip": str(layer_zip) if layer_zip else None,
        "layer_sha256": sha256(layer_zip) if layer_zip else None,
        "changed": changed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("build/lambda"))
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="x86_64")
    parser.add_argument("--bundle-pillow", action="store_true",
                        help="put Pillow into function.zip instead of a layer")  # fmt: skip
    args = parser.parse_args()
    print(json.dumps(build(args.out, args.arch, args.bundle_pillow)))


if __name__ == "__main__":
    main()
