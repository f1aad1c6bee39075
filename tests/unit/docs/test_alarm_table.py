"""The README's alarm table is rendered from the alarm catalog, the one definition of every
alarm: this test fails, printing the table to paste, when the two drift apart."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
CATALOG = REPO / "roles" / "cloudwatch_alarms" / "files" / "alarm_catalog.yml"
START, END = "<!-- alarm-table:start -->", "<!-- alarm-table:end -->"
SIGNALS = {
    "lambda": "AWS/Lambda",
    "custom": "custom metric",
    "log": "log metric filter",
    "math": "metric math",
}


def render_alarm_table(alarms: list[dict]) -> str:
    rows = [
        "| alarm | signal | threshold variable | severity | runbook |",
        "| --- | --- | --- | --- | --- |",
    ]
    for alarm in alarms:
        metric = alarm.get("metric_name") or alarm.get("expression", "")
        signal = f"{SIGNALS[alarm['signal']]}: `{metric}`"
        if alarm.get("enabled_by"):
            signal += f" (off unless `{alarm['enabled_by']}`)"
        runbook = " ".join(alarm["runbook"].split())
        rows.append(
            f"| `<name>-{alarm['id']}` | {signal} | `{alarm['threshold']}` "
            f"| {alarm['severity']} | {runbook} |"
        )
    return "\n".join(rows)


def test_readme_alarm_table_matches_the_catalog() -> None:
    expected = render_alarm_table(yaml.safe_load(CATALOG.read_text())["alarms"])
    readme = (REPO / "README.md").read_text()
    assert START in readme and END in readme, f"README.md needs {START} … {END}"
    current = readme.split(START, 1)[1].split(END, 1)[0].strip()
    assert current == expected, f"paste this between the markers in README.md:\n{expected}"
