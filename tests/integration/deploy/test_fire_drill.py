"""playbooks/fire_drill.yml against a deployed dev stack: every enabled alarm of the catalog
reaches ALARM from its signal, its alert arrives in the alerts inbox, and it is back to OK.
The test deploys a stack of its own names into a private outputs directory (the shared
outputs/dev.json and Molecule's `dev` stack are left alone) and tears it down afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
CATALOG = REPO / "roles" / "cloudwatch_alarms" / "files" / "alarm_catalog.yml"
# A stack of its own names (never Molecule's `dev` stack nor the shared outputs/dev.json)
PROJECT = "imgproc-drill"
STACK_VARS = {"project_name": PROJECT, "bucket_name_suffix": "-drill"}
PREFIX = f"{PROJECT}-dev"


@pytest.fixture(scope="module")
def outputs_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fire-drill-outputs")


@pytest.fixture(scope="module")
def deployed(outputs_dir, playbook):
    extra = json.dumps({**STACK_VARS, "image_processor_outputs_dir": str(outputs_dir)})
    run = playbook("site.yml", "-e", extra)
    assert run.returncode == 0, run.output[-4000:]
    yield extra
    playbook("teardown.yml", "-e", extra)


@pytest.fixture(scope="module")
def drill(deployed, outputs_dir, playbook) -> tuple[object, dict]:
    run = playbook("fire_drill.yml", "-e", deployed)
    summary_file = outputs_dir / "dev-fire-drill.json"
    assert summary_file.is_file(), run.output[-6000:]
    return run, json.loads(summary_file.read_text())


def _enabled_ids() -> set[str]:
    catalog = yaml.safe_load(CATALOG.read_text())["alarms"]
    return {entry["id"] for entry in catalog if "enabled_by" not in entry}  # dev: all flags off


def test_fire_drill_passes(drill):
    run, summary = drill
    assert run.returncode == 0 and summary["ok"], (
        "\n".join(summary["failures"]) or run.output[-6000:]
    )


def test_every_enabled_alarm_reached_alarm_and_its_alert_arrived(drill):
    _, summary = drill
    by_id = {alarm["id"]: alarm for alarm in summary["alarms"]}
    assert set(by_id) == _enabled_ids()
    for alarm_id, alarm in by_id.items():
        assert alarm["alarm"] == f"{PREFIX}-{alarm_id}"
        assert alarm["reached_alarm"] and alarm["alarm_seconds"] is not None, alarm
        assert alarm["alert_delivered"] is True and alarm["alert_channel"] == "inbox", alarm
        assert alarm["alert_seconds"] >= alarm["alarm_seconds"] - 3, alarm
        assert alarm["back_to_ok"], alarm


def test_the_embedded_emulator_needs_no_forced_state(drill):
    """The embedded LocalStack evaluates p95 and metric-math alarms: every signal is real."""
    _, summary = drill
    assert summary["fidelity"] is True, summary["probe"]
    methods = {alarm["id"]: alarm["method"] for alarm in summary["alarms"]}
    assert "forced" not in methods.values(), methods
    assert methods["errors"] == methods["error-rate"] == methods["image-failures"] == "real"
    assert methods["duration-p95"] == "datapoint" and methods["timeouts"] == "log"


def test_every_alarm_is_ok_after_the_drill(drill, aws):
    _, summary = drill
    names = [alarm["alarm"] for alarm in summary["alarms"]]
    alarms = aws("cloudwatch").describe_alarms(AlarmNames=names)["MetricAlarms"]
    firing = [a["AlarmName"] for a in alarms if a["StateValue"] == "ALARM"]
    assert not firing, firing
