"""Command line: `python -m tools.imgops COMMAND ENV [options]` (see the package docstring)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from rich.markup import escape

from .alerts import collect_alerts
from .dashboard import render_deployed
from .demo import IMAGES_DIR, DemoSettings, run_demo
from .logs import LEVELS, at_least, format_line, poll_events
from .report import console, print_alerts, print_variants
from .stack import DEFAULT_OUTPUTS_DIR, Stack, ToolError, load_stack
from .times import parse_duration
from .upload import upload_and_wait
from .verify import GROUPS, Settings, load_expectations, print_results, run_verify


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.imgops", description=__doc__)
    parser.add_argument(
        "--outputs-dir",
        type=Path,
        default=DEFAULT_OUTPUTS_DIR,
        help="where <env>.json was written by the deployment (default: %(default)s)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(
        name: str, help_text: str, env_default: str | None = None
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if env_default is None:
            sub.add_argument("env", help="environment: dev, staging, prod")
        else:
            sub.add_argument("env", nargs="?", default=env_default, help="(default: %(default)s)")
        return sub

    dashboard = command("dashboard", "render the deployed dashboard to PNG and HTML")
    dashboard.add_argument("--since", type=parse_duration, default="1h", help="window, e.g. 3h")
    dashboard.add_argument("--out", type=Path, help="directory (default: the outputs directory)")

    alerts = command("alerts", "alerts received in the inbox (and LocalStack's SES mailbox)")
    alerts.add_argument("--drain", action="store_true", help="delete the inbox messages read")

    upload = command("upload", "upload images and show their variants")
    upload.add_argument("files", nargs="+", type=Path)
    upload.add_argument("--timeout", type=parse_duration, default="60s")
    upload.add_argument("--prefix", default="", help="key prefix in the upload bucket")

    logs = command("logs", "follow the function's log lines")
    logs.add_argument("--since", type=parse_duration, default="10m")
    logs.add_argument("--level", choices=LEVELS, type=str.upper, help="this level and above")
    logs.add_argument("--no-follow", dest="follow", action="store_false", help="print and exit")

    demo = command("demo", "upload samples and a bad image, show variants, failure, alert", "dev")
    demo.add_argument("--images", type=Path, default=IMAGES_DIR)
    demo.add_argument("--timeout", type=parse_duration, default="90s", help="for the variants")
    demo.add_argument(
        "--alarm-timeout",
        type=parse_duration,
        default="5m",
        help="for the failure record and for the alarm and its alert each",
    )

    verify = command("verify", "check the deployed stack's configuration and behaviour")
    verify.add_argument(
        "--expect",
        metavar="JSON",
        help="the expectations (JSON or @file; default: rendered from inventories/ENV)",
    )
    verify.add_argument(
        "--checks",
        type=_check_groups,
        default=GROUPS,
        help=f"comma-separated subset of {','.join(GROUPS)} (default: all)",
    )
    verify.add_argument("--images", type=Path, default=IMAGES_DIR)
    verify.add_argument("--variant-timeout", type=parse_duration, default="90s")
    verify.add_argument("--failure-timeout", type=parse_duration, default="5m")
    verify.add_argument("--alarm-timeout", type=parse_duration, default="3m")
    verify.add_argument("--metrics-timeout", type=parse_duration, default="60s")
    return parser


def _check_groups(text: str) -> tuple[str, ...]:
    groups = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [group for group in groups if group not in GROUPS]
    if unknown or not groups:
        raise argparse.ArgumentTypeError(f"unknown {unknown}; choose from {', '.join(GROUPS)}")
    return groups


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        stack = load_stack(args.env, args.outputs_dir)
        return COMMANDS[args.command](stack, args)
    except ToolError as error:
        console.print(f"[red]error:[/red] {escape(str(error))}")
        return 1
    except (ClientError, BotoCoreError) as error:
        console.print(
            f"[red]AWS error:[/red] {escape(str(error))}\n"
            "is the stack deployed and the endpoint in the outputs file reachable "
            "(on LocalStack: make localstack-up)?"
        )
        return 1
    except KeyboardInterrupt:
        return 130


def _dashboard(stack: Stack, args: argparse.Namespace) -> int:
    rendered, png_path, html_path = render_deployed(stack, args.since, args.out or args.outputs_dir)
    for panel in rendered.panels:
        detail = (
            panel.note
            or panel.log_path
            or ", ".join(f"{name}={state}" for name, state in panel.alarm_states.items())
        )
        console.print(
            f"  {panel.kind:<7} {escape(panel.title[:30]):<30} {escape(detail)}",
            no_wrap=True,
            overflow="ellipsis",
        )
    console.print(f"wrote {png_path} and {html_path}")
    return 0


def _alerts(stack: Stack, args: argparse.Namespace) -> int:
    alerts, notes = collect_alerts(stack, drain=args.drain)
    print_alerts(alerts, notes)
    return 0


def _upload(stack: Stack, args: argparse.Namespace) -> int:
    results = upload_and_wait(stack, args.files, args.timeout, args.prefix)
    print_variants(results)
    return 0 if all(result.complete for result in results) else 1


def _logs(stack: Stack, args: argparse.Namespace) -> int:
    start_ms = int((datetime.now(UTC) - args.since).timestamp() * 1000)
    console.print(f"[dim]{stack.log_group} (Ctrl-C to stop)[/dim]")
    for line in poll_events(stack.client("logs"), stack.log_group, start_ms, args.follow):
        if at_least(line.level, args.level):
            console.print(format_line(line))
    return 0


def _demo(stack: Stack, args: argparse.Namespace) -> int:
    settings = DemoSettings(
        images_dir=args.images,
        variant_timeout=args.timeout,
        failure_timeout=args.alarm_timeout,
        alarm_timeout=args.alarm_timeout,
        out_dir=args.outputs_dir,
    )
    run_demo(stack, settings)
    return 0


def _verify(stack: Stack, args: argparse.Namespace) -> int:
    expectations = load_expectations(args.expect, stack.environment)
    settings = Settings(
        groups=args.checks,
        images_dir=args.images,
        variant_timeout=args.variant_timeout,
        failure_timeout=args.failure_timeout,
        alarm_timeout=args.alarm_timeout,
        metrics_timeout=args.metrics_timeout,
    )
    results = run_verify(stack, expectations, settings)
    print_results(results)
    return 0 if all(item.ok for item in results) else 1


COMMANDS = {
    "dashboard": _dashboard,
    "alerts": _alerts,
    "upload": _upload,
    "logs": _logs,
    "demo": _demo,
    "verify": _verify,
}

if __name__ == "__main__":
    sys.exit(main())
