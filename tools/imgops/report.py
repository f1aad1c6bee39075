"""How results look in the terminal (rich tables), shared by the commands and the demo."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .alerts import Alert
from .failures import FailureRecord
from .upload import VARIANT_COUNT, UploadResult

console = Console(highlight=False)
STATE_STYLES = {"ALARM": "bold red", "OK": "green", "INSUFFICIENT_DATA": "dim"}


def print_variants(results: Sequence[UploadResult]) -> None:
    for result in results:
        upload = result.uploaded
        table = Table(title=f"{upload.key} ({upload.size:,} bytes)", title_justify="left")
        for column, justify in (
            ("variant", "left"),
            ("format", "left"),
            ("size", "right"),
            ("dimensions", "right"),
            ("after upload", "right"),
        ):
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        for variant in sorted(result.variants, key=lambda v: v.variant):
            table.add_row(
                variant.variant,
                variant.format,
                f"{variant.size:,} B",
                variant.dimensions,
                f"{variant.seconds_after_upload:.1f} s",
            )
        console.print(table)
        if not result.complete:
            console.print(
                f"[red]only {len(result.variants)} of {VARIANT_COUNT} variants of "
                f"{escape(upload.key)} arrived[/red]"
            )


def print_alerts(alerts: Iterable[Alert], notes: Iterable[str] = ()) -> None:
    table = Table(title="alerts, newest first", title_justify="left")
    for column in ("time (UTC)", "via", "alarm", "state", "reason"):
        table.add_column(column, overflow="fold")
    for alert in alerts:
        style = STATE_STYLES.get(alert.new_state or "", "")
        table.add_row(
            alert.time.strftime("%Y-%m-%d %H:%M:%S") if alert.time else "?",
            alert.channel,
            escape(alert.alarm_name or alert.subject or "(not an alarm)"),
            f"{alert.old_state} → [{style}]{alert.new_state}[/{style}]" if alert.new_state else "",
            escape(alert.reason),
        )
    console.print(table if table.row_count else "[dim]no alerts yet[/dim]")
    for note in notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}")


def print_failure(record: FailureRecord) -> None:
    table = Table(
        title="failure record (dead-letter queue)", title_justify="left", show_header=False
    )
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in (
        ("image key", record.key or "?"),
        ("condition", record.condition),
        ("error type", record.error_type),
        ("error message", record.error_message),
        ("attempts", "?" if record.attempts is None else str(record.attempts)),
        ("time (UTC)", record.time.strftime("%Y-%m-%d %H:%M:%S") if record.time else "?"),
    ):
        table.add_row(name, escape(value))
    console.print(table)
