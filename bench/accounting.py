"""Reconcile a run manifest against the processed bucket and the dead-letter queue.

    .venvs/controller/bin/python bench/accounting.py MANIFEST [--outputs outputs/dev.json]
        [--wait 120] [--verify] [--consume] [--json]

Prints the accounting table (bench/pipeline/accounting.py says what each line means); exits 0
only when nothing is missing and nothing is partial. The endpoint is AWS_ENDPOINT_URL
(default http://127.0.0.1:4566).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lambda" / "src"), str(ROOT)]

from bench.pipeline.accounting import reconcile, summary_json  # noqa: E402
from bench.pipeline.manifest import read_manifest  # noqa: E402
from bench.pipeline.stack import Stack  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--outputs", type=Path, default=ROOT / "outputs" / "dev.json")
    parser.add_argument("--endpoint", help="overrides AWS_ENDPOINT_URL")
    parser.add_argument("--wait", type=float, default=0.0, help="seconds to let keys settle")
    parser.add_argument("--verify", action="store_true", help="download and check every variant")
    parser.add_argument("--consume", action="store_true", help="delete the matched records")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON too")
    args = parser.parse_args()
    stack = Stack.from_file(args.outputs, args.endpoint)
    accounting = reconcile(
        stack, read_manifest(args.manifest), args.wait, verify=args.verify, consume=args.consume
    )
    print(accounting.table())
    if args.json:
        print(json.dumps(summary_json(accounting)))
    return 0 if accounting.passed else 1


if __name__ == "__main__":
    sys.exit(main())
