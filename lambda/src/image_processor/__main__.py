"""Local CLI: `python -m image_processor process IMAGE --out DIR` writes the five variants."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .config import ProcessingSettings
from .errors import ImageError
from .processing import process_image

LOCAL_KEY_TEMPLATE = "{name}/{variant}.{ext}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m image_processor")
    commands = parser.add_subparsers(dest="command", required=True)
    process = commands.add_parser("process", help="write the variants of one image")
    process.add_argument("image", type=Path)
    process.add_argument("--out", type=Path, required=True, help="directory for the variants")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        source, variants = process_image(
            args.image.read_bytes(), ProcessingSettings(), args.image.name, LOCAL_KEY_TEMPLATE
        )
    except ImageError as error:
        print(f"{args.image}: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    elapsed_ms = (time.perf_counter() - started) * 1000
    print(
        f"{args.image} {source.format} {source.mode} {source.width}x{source.height} "
        f"{elapsed_ms:.0f} ms"
    )
    print(f"{'variant':<11} {'size':>11} {'bytes':>10}  path")
    for variant in sorted(variants, key=lambda item: item.name):
        path = args.out / variant.key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(variant.data)
        size = f"{variant.width}x{variant.height}"
        print(f"{variant.name:<11} {size:>11} {len(variant.data):>10}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
