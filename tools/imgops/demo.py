"""`make demo` after the deployment: good images through, a bad one to the dead-letter queue,
the error alarm to the inbox, and the dashboard rendered. Each wait is bounded and, when it runs
out, says what to look at."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.markup import escape

from .alerts import Alert, collect_alerts, peek_queue
from .dashboard import render_deployed
from .failures import FailureRecord, parse_failure_message
from .report import console, print_alerts, print_failure, print_variants
from .stack import Stack, ToolError
from .upload import CLOCK_SLACK, upload_and_wait, upload_files

IMAGES_DIR = Path(__file__).resolve().parents[2] / "tests" / "images"
INVALID_IMAGE = "invalid_image.jpg"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
POLL_SECONDS = 2.0


@dataclass(frozen=True)
class DemoSettings:
    images_dir: Path = IMAGES_DIR
    variant_timeout: timedelta = timedelta(seconds=90)
    # Async invocations are retried (twice, 60 s then 120 s later) before the failure record.
    failure_timeout: timedelta = timedelta(minutes=5)
    alarm_timeout: timedelta = timedelta(minutes=5)
    since: timedelta = timedelta(hours=1)
    out_dir: Path = Path("outputs")


def sample_images(images_dir: Path) -> list[Path]:
    return sorted(
        path
        for path in images_dir.iterdir()
        if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("invalid")
    )


def find_error_alarm(cloudwatch: Any, alarm_names: tuple[str, ...]) -> str | None:
    """The alarm on AWS/Lambda Errors among the stack's alarms (its name is the role's business)."""
    for start in range(0, len(alarm_names), 100):
        answer = cloudwatch.describe_alarms(AlarmNames=list(alarm_names[start : start + 100]))
        for alarm in answer.get("MetricAlarms", []):
            if (alarm.get("Namespace"), alarm.get("MetricName")) == ("AWS/Lambda", "Errors"):
                return str(alarm["AlarmName"])
    return None


def wait_until[T](what: str, timeout: timedelta, probe: Callable[[], T | None]) -> T:
    deadline = time.monotonic() + timeout.total_seconds()
    with console.status(f"waiting for {what} (up to {timeout.total_seconds():.0f} s)"):
        while (found := probe()) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(what)
            time.sleep(POLL_SECONDS)
    return found


def run_demo(stack: Stack, settings: DemoSettings) -> None:
    images = sample_images(settings.images_dir) if settings.images_dir.is_dir() else []
    invalid = settings.images_dir / INVALID_IMAGE
    if not images or not invalid.is_file():
        raise ToolError(
            f"the demo needs sample images and {INVALID_IMAGE} in {settings.images_dir}; "
            "they are part of the repository: restore them with `git checkout -- tests/images`"
        )

    console.rule(f"1. {len(images)} sample image(s) → s3://{stack.upload_bucket}")
    results = upload_and_wait(stack, images, settings.variant_timeout)
    print_variants(results)
    if not all(result.complete for result in results):
        raise ToolError(
            f"variants missing after {settings.variant_timeout.total_seconds():.0f} s: look for "
            f"errors with `make logs`; on LocalStack the function only runs with the emulator's "
            "executor (python3 emulator/manage.py up)"
        )

    console.rule(f"2. {INVALID_IMAGE}: the failure goes to the dead-letter queue")
    bad_upload_at = datetime.now(UTC) - CLOCK_SLACK
    (bad,) = upload_files(stack.client("s3"), stack.upload_bucket, [invalid])
    try:
        record = wait_until(
            "the failure record",
            settings.failure_timeout,
            lambda: _failure_for(stack, bad.key, bad_upload_at),
        )
    except TimeoutError:
        raise ToolError(
            f"no failure record for {bad.key} in {stack.dead_letter_queue_url} after "
            f"{settings.failure_timeout.total_seconds():.0f} s: check the function's OnFailure "
            "destination and retry settings (roles/lambda_function), and `make logs --level ERROR`"
        ) from None
    print_failure(record)

    console.rule("3. the error alarm and its alert")
    alarm_name = find_error_alarm(stack.client("cloudwatch"), stack.alarm_names)
    if alarm_name is None:
        raise ToolError(
            "none of the alarms in the outputs watches AWS/Lambda Errors; "
            "re-run the deployment (roles/cloudwatch_alarms)"
        )
    try:
        wait_until(
            f"{alarm_name} to be ALARM", settings.alarm_timeout, lambda: _firing(stack, alarm_name)
        )
        console.print(f"[bold red]ALARM[/bold red] {escape(alarm_name)}")
        if stack.alerts_inbox_queue_url or stack.is_emulated:
            alert = wait_until(
                "the alert in the inbox",
                settings.alarm_timeout,
                lambda: _alert_for(stack, alarm_name, bad_upload_at),
            )
            print_alerts([alert])
        else:
            console.print("the alert goes to the email subscriptions of the critical topic")
    except TimeoutError as timeout:
        raise ToolError(
            f"gave up waiting for {timeout}: see `make alerts` and the alarm's history "
            f"(aws cloudwatch describe-alarm-history --alarm-name {alarm_name}); an alarm "
            "already in ALARM before the demo sends no new alert until it has been OK again"
        ) from None

    console.rule("4. the dashboard")
    _, png_path, html_path = render_deployed(stack, settings.since, settings.out_dir)
    console.print(f"dashboard: {png_path}  and  {html_path}")
    console.rule("next")
    console.print(
        "make dashboard   render the dashboard again\n"
        "make alerts      every alert received so far\n"
        "make logs        follow the function's log lines\n"
        "make teardown    remove everything the deployment created"
    )


def _failure_for(stack: Stack, key: str, since: datetime) -> FailureRecord | None:
    for message in peek_queue(stack.client("sqs"), stack.dead_letter_queue_url):
        try:
            record = parse_failure_message(message)
        except ValueError:
            continue  # not a failure record: someone else's message, left where it is
        if record.key == key and (record.time is None or record.time >= since):
            return record
    return None


def _firing(stack: Stack, alarm_name: str) -> bool | None:
    alarms = stack.client("cloudwatch").describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"]
    return True if alarms and alarms[0]["StateValue"] == "ALARM" else None


def _alert_for(stack: Stack, alarm_name: str, since: datetime) -> Alert | None:
    alerts, _ = collect_alerts(stack)
    return next(
        (
            alert
            for alert in alerts
            if alert.alarm_name == alarm_name
            and alert.new_state == "ALARM"
            and (alert.time is None or alert.time >= since)
        ),
        None,
    )
