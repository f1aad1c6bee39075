"""JSON in, JSON out: the steps of playbooks/upload.yml and playbooks/fire_drill.yml that no
Ansible module does (upload and wait for variants, PutMetricData, PutLogEvents, SetAlarmState,
alarm history and alert polling). Each command prints one JSON object on stdout; an operator
error prints its message on stderr and exits 1.

    python -m tools.imgops.playbook_cli [--outputs-dir DIR] ENV COMMAND [options]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from . import drill
from .stack import DEFAULT_OUTPUTS_DIR, Stack, ToolError, load_stack
from .upload import (
    CLOCK_SLACK,
    VARIANT_COUNT,
    VARIANT_NAMES,
    Uploaded,
    upload_files,
    wait_for_variants,
)

VARIANT_HEADERS = ["image", "variant", "format", "size", "dimensions", "after upload"]


def _upload(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    paths = [Path(p) for p in json.loads(args.files)]
    uploads = upload_files(stack.client("s3"), stack.upload_bucket, paths, args.prefix)
    return {
        "started_at": args.started_at,
        "uploads": [
            {
                "path": str(u.path),
                "key": u.key,
                "etag": u.etag,
                "size": u.size,
                "uploaded_at": time.time() - (time.monotonic() - u.finished_at),
            }
            for u in uploads
        ],
    }


def _variants(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    given = json.loads(args.uploaded)
    uploads = [
        Uploaded(
            Path(u["path"]),
            u["key"],
            u["etag"],
            int(u["size"]),
            time.monotonic() - (time.time() - float(u["uploaded_at"])),
        )
        for u in given["uploads"]
    ]
    not_before = datetime.fromtimestamp(float(given["started_at"]), UTC) - CLOCK_SLACK
    results = wait_for_variants(
        stack.client("s3"),
        stack.processed_bucket,
        uploads,
        timedelta(seconds=args.timeout),
        not_before,
    )
    rows, images, incomplete = [], [], []
    for result in results:
        key = result.uploaded.key
        variants = sorted(result.variants, key=lambda v: v.variant)
        for variant in variants:
            rows.append(
                [
                    key,
                    variant.variant,
                    variant.format,
                    f"{variant.size:,} B",
                    variant.dimensions,
                    f"{variant.seconds_after_upload:.1f} s",
                ]
            )
        names = {v.variant for v in variants}
        missing = sorted(set(VARIANT_NAMES) - names)
        if not result.complete:
            incomplete.append(
                f"{key}: {len(variants)} of {VARIANT_COUNT} variants after "
                f"{args.timeout:.0f} s, missing {missing}"
            )
        images.append(
            {
                "key": key,
                "size": result.uploaded.size,
                "complete": result.complete,
                "variants": [
                    {
                        "variant": v.variant,
                        "key": v.key,
                        "format": v.format,
                        "size": v.size,
                        "width": v.width,
                        "height": v.height,
                        "seconds_after_upload": round(v.seconds_after_upload, 1),
                    }
                    for v in variants
                ],
            }
        )
    return {
        "complete": not incomplete,
        "incomplete": incomplete,
        "images": images,
        "table": drill.format_table(VARIANT_HEADERS, rows),
    }


def _drill_plan(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    catalog = drill.load_catalog(Path(args.catalog))
    return drill.plan(stack, json.loads(args.names), args.force, catalog, args.name_prefix)


def _state() -> dict[str, Any]:
    """The drill's state so far, as JSON on stdin: plan, signals, watch."""
    try:
        state = json.load(sys.stdin)
    except ValueError as error:
        raise ToolError(f"stdin is not the drill's JSON state: {error}") from None
    if not isinstance(state, dict) or "plan" not in state:
        raise ToolError("stdin must be a JSON object with the drill's plan")
    return state


def _drill_reset(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    return {"reset": drill.reset(stack, _state()["plan"]["steps"])}


def _drill_signal(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    return drill.signal(stack, _state()["plan"]["steps"], args.method, args.key_prefix)


def _drill_watch(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    state = _state()
    return drill.watch(
        stack, state["plan"]["steps"], state["signals"], args.alarm_timeout, args.alert_timeout
    )


def _drill_recover(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    state = _state()
    plan, watched = state["plan"], state["watch"]
    keys = state.get("real_keys") or []
    recovered = drill.recover(stack, plan["steps"], watched, args.ok_timeout, keys)
    return drill.summarize(plan, state["signals"], watched, recovered)


COMMANDS = {
    "upload": _upload,
    "variants": _variants,
    "drill-plan": _drill_plan,
    "drill-reset": _drill_reset,
    "drill-signal": _drill_signal,
    "drill-watch": _drill_watch,
    "drill-recover": _drill_recover,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.imgops.playbook_cli", description=__doc__
    )
    parser.add_argument("--outputs-dir", type=Path, default=DEFAULT_OUTPUTS_DIR)
    parser.add_argument("env")
    commands = parser.add_subparsers(dest="command", required=True)

    upload = commands.add_parser("upload", help="upload files; their keys, ETags, upload times")
    upload.add_argument("--files", required=True, help="JSON list of paths")
    upload.add_argument("--prefix", default="")
    upload.add_argument("--started-at", type=float, default=time.time())

    variants = commands.add_parser("variants", help="wait (bounded) for the uploads' variants")
    variants.add_argument("--uploaded", required=True, help="JSON answer of `upload`")
    variants.add_argument("--timeout", type=float, default=90.0)

    plan = commands.add_parser("drill-plan", help="method per alarm (probes the target if needed)")
    plan.add_argument("--names", required=True, help="JSON list of the enabled alarm names")
    plan.add_argument("--name-prefix", required=True)
    plan.add_argument("--force", choices=["auto", "true", "false"], default="auto")
    plan.add_argument("--catalog", default=str(drill.CATALOG_FILE))

    # The drill's state (plan, signals, watch) comes as one JSON object on stdin.
    commands.add_parser("drill-reset", help="set alarms already in ALARM to OK")
    sig = commands.add_parser("drill-signal", help="produce the signals of one method")
    sig.add_argument("--method", required=True, choices=["real", "datapoint", "log", "forced"])
    sig.add_argument("--key-prefix", default="", help="upload key prefix (the notification's)")
    watch = commands.add_parser("drill-watch", help="wait for ALARM and the alert of each alarm")
    watch.add_argument("--alarm-timeout", type=float, default=120.0)
    watch.add_argument("--alert-timeout", type=float, default=60.0)
    recover = commands.add_parser("drill-recover", help="back to OK; prints the summary")
    recover.add_argument("--ok-timeout", type=float, default=120.0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        stack = load_stack(args.env, args.outputs_dir)
        answer = COMMANDS[args.command](stack, args)
    except ToolError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as error:
        print(
            f"AWS error: {error} (is the stack deployed and its endpoint reachable?)",
            file=sys.stderr,
        )
        return 1
    json.dump(answer, sys.stdout, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
