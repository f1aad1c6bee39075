"""The fire drill (playbooks/fire_drill.yml): for every enabled alarm of the catalog, produce its
signal the way production would, wait for ALARM and for the alert, return the alarm to OK.

Methods, per alarm (the catalog's `drill`, adapted to what the target can do):
  real       upload tests/images/invalid_image.jpg: Lambda Errors, the error rate and the image
             failure log filter all come from a real failed invocation
  datapoint  PutMetricData into the alarm's own namespace, metric and dimensions
  log        PutLogEvents of the catalog's `drill_message` into the function's log group, so the
             metric filter publishes the metric
  forced     SetAlarmState, only where the target cannot evaluate the alarm (a LocalStack without
             the embedded fidelity, for percentile and metric-math alarms), cannot take the
             signal (AWS/ namespaces are reserved on AWS), or when asked to
Values and counts come from the DEPLOYED alarm (threshold, comparison, statistic, periods), so the
drill fires what is deployed, not what an inventory says. Pure decisions are separate functions.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import ClientError

from .alerts import Alert, parse_sns_envelope, peek_queue, read_ses_mailbox
from .failures import parse_failure_message
from .stack import Stack, ToolError
from .times import parse_timestamp
from .upload import upload_files

REPO = Path(__file__).resolve().parents[2]
CATALOG_FILE = REPO / "roles" / "cloudwatch_alarms" / "files" / "alarm_catalog.yml"
INVALID_IMAGE = REPO / "tests" / "images" / "invalid_image.jpg"
CATALOG_METHODS = {"invalid_upload": "real", "datapoint": "datapoint", "log_event": "log"}
POLL_SECONDS = 2.0
SLACK_SECONDS = 3.0  # history/message timestamps vs our clock (second resolution, skew)
PERCENTILE_SAMPLES = 20  # samples per datapoint for pNN alarms: outweighs real traffic's
DRILL_REASON = "Fire drill (playbooks/fire_drill.yml)"


# ---- pure decisions ------------------------------------------------------------------------


def load_catalog(path: Path = CATALOG_FILE) -> list[dict[str, Any]]:
    return list(yaml.safe_load(path.read_text())["alarms"])


def breach_count(comparison: str, threshold: float) -> int:
    """Events (or failures) per period that make a Sum breach the threshold."""
    if comparison == "GreaterThanThreshold":
        return math.floor(threshold) + 1
    if comparison == "GreaterThanOrEqualToThreshold":
        return max(1, math.ceil(threshold))
    raise ValueError(f"a count cannot breach a {comparison} threshold")


def breach_value(comparison: str, threshold: float) -> float:
    margin = max(1.0, abs(threshold) * 0.1)
    if comparison == "GreaterThanOrEqualToThreshold":
        return threshold if threshold > 0 else 1.0
    if comparison == "GreaterThanThreshold":
        return threshold + margin
    if comparison == "LessThanOrEqualToThreshold":
        return threshold
    if comparison == "LessThanThreshold":
        if threshold <= 0:
            raise ValueError(f"no value is below {threshold}")
        return max(0.0, threshold - margin)
    raise ValueError(f"unknown comparison {comparison}")


def ok_value(comparison: str, threshold: float) -> float:
    margin = max(1.0, abs(threshold) * 0.1)
    if comparison.startswith("Greater"):
        if threshold <= 0 and comparison == "GreaterThanOrEqualToThreshold":
            raise ValueError(f"every value is >= {threshold}")
        return max(0.0, threshold - margin) if threshold > 0 else 0.0
    return threshold + margin


def choose_method(
    entry: Mapping[str, Any],
    alarm: Mapping[str, Any],
    *,
    emulated: bool,
    fidelity: bool | None,
    force: str,
) -> tuple[str, str]:
    """(method, why) for one alarm. `force`: auto | true | false (fire_drill_force_set_state);
    `fidelity`: the target evaluates percentile and metric-math alarms (None: not probed)."""
    method = CATALOG_METHODS.get(str(entry.get("drill")))
    namespace = str(alarm.get("Namespace") or "")
    if force == "true":
        return "forced", "fire_drill_force_set_state: true"
    if method is None:
        return "forced", f"no drill recipe for drill: {entry.get('drill')!r}"
    if method == "datapoint" and alarm.get("Metrics"):
        return "forced", "no datapoint recipe for a metric-math alarm"
    if method == "datapoint" and not emulated and namespace.startswith("AWS/"):
        return "forced", f"{namespace} is reserved on AWS: PutMetricData cannot publish into it"
    if emulated and force == "auto":
        if not entry.get("evaluable_on_localstack", True):
            return "forced", "catalog: evaluable_on_localstack: false"
        if entry.get("needs_embedded_fidelity") and not fidelity:
            return (
                "forced",
                "this LocalStack stores percentile/metric-math alarms, never evaluates them",
            )
    return method, str(entry.get("drill"))


def needs_probe(catalog: Iterable[Mapping[str, Any]], emulated: bool, force: str) -> bool:
    return emulated and force == "auto" and any(e.get("needs_embedded_fidelity") for e in catalog)


def history_transition(
    items: Iterable[Mapping[str, Any]], state: str, since: datetime
) -> datetime | None:
    """The first StateUpdate into `state` at or after `since` (history items, any order)."""
    times = sorted(
        at
        for item in items
        if item.get("HistoryItemType", "StateUpdate") == "StateUpdate"
        and _new_state(item) == state
        and (at := transition_time(item)) >= since - timedelta(seconds=SLACK_SECONDS)
    )
    return times[0] if times else None


def transition_time(item: Mapping[str, Any]) -> datetime:
    """When an evaluation changed the state: its queryDate. LocalStack 4.14 stamps a history
    item with the time of the PREVIOUS transition; the queryDate of the evaluation is right
    on both. SetAlarmState items carry no queryDate: their Timestamp it is."""
    try:
        data = json.loads(item.get("HistoryData") or "{}")
        query_date = parse_timestamp(data["newState"]["stateReasonData"]["queryDate"])
    except (ValueError, KeyError, TypeError):
        query_date = None
    stamped = _aware(item["Timestamp"])
    return max(stamped, query_date) if query_date else stamped


def current_transition(alarm: Mapping[str, Any], state: str, since: datetime) -> datetime | None:
    """The alarm is in `state` since a time at or after `since` (catches SetAlarmState)."""
    updated = alarm.get("StateUpdatedTimestamp")
    if alarm.get("StateValue") != state or updated is None:
        return None
    updated = _aware(updated)
    return updated if updated >= since - timedelta(seconds=SLACK_SECONDS) else None


def first_alert(
    alerts: Iterable[tuple[Alert, datetime]], alarm_name: str, since: datetime
) -> tuple[Alert, datetime] | None:
    """The earliest (alert, delivered at) announcing `alarm_name` → ALARM since `since`."""
    matching = [
        (alert, delivered)
        for alert, delivered in alerts
        if alert.alarm_name == alarm_name
        and alert.new_state == "ALARM"
        and (alert.time is None or alert.time >= since - timedelta(seconds=SLACK_SECONDS))
    ]
    return min(matching, key=lambda pair: pair[1]) if matching else None


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A plain monospace table, one string per line (Ansible prints lists line by line)."""
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=False)]

    def render(cells: Sequence[str]) -> str:
        return " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()

    return [render(headers), "-+-".join("-" * w for w in widths), *(render(r) for r in rows)]


# ---- the phases --------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    emulated: bool
    channel: str  # inbox | email (LocalStack SES) | none (real AWS: people's email)

    @classmethod
    def of(cls, stack: Stack) -> Target:
        if stack.alerts_inbox_queue_url:
            return cls(stack.is_emulated, "inbox")
        return cls(stack.is_emulated, "email" if stack.is_emulated else "none")


def probe_fidelity(stack: Stack, name_prefix: str, timeout: float = 40.0) -> tuple[bool, str]:
    """Does the target evaluate percentile alarms? A p95 alarm on a scratch metric with breaching
    datapoints reaches ALARM within a couple of periods where it does; Docker LocalStack
    (community) leaves it INSUFFICIENT_DATA."""
    cloudwatch = stack.client("cloudwatch")
    name = f"{name_prefix}-fire-drill-probe-{uuid.uuid4().hex[:8]}"
    metric = {"Namespace": f"{stack.metrics_namespace}/FireDrillProbe", "MetricName": name}
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        AlarmDescription="Fire drill probe: deleted by the drill",
        **metric,
        ExtendedStatistic="p95",
        Period=10,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    started = time.monotonic()
    try:
        state = "INSUFFICIENT_DATA"
        while time.monotonic() - started < timeout:
            cloudwatch.put_metric_data(
                Namespace=metric["Namespace"],
                MetricData=[{"MetricName": name, "Value": 100.0, "Timestamp": datetime.now(UTC)}],
            )
            time.sleep(POLL_SECONDS)
            state = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]
            if state == "ALARM":
                waited = time.monotonic() - started
                return True, f"yes (a p95 probe alarm reached ALARM in {waited:.0f} s)"
        return False, f"no (a p95 probe alarm stayed {state} for {timeout:.0f} s)"
    finally:
        cloudwatch.delete_alarms(AlarmNames=[name])


def plan(
    stack: Stack,
    names: Sequence[str],
    force: str,
    catalog: Sequence[Mapping[str, Any]],
    name_prefix: str,
) -> dict[str, Any]:
    """One step per enabled alarm: the deployed definition and the method."""
    target = Target.of(stack)
    by_name = {f"{name_prefix}-{entry['id']}": entry for entry in catalog}
    deployed = _describe(stack.client("cloudwatch"), list(names))
    fidelity: bool | None = None
    probe = "not needed"
    wanted = [by_name[n] for n in names if n in by_name]
    if needs_probe(wanted, target.emulated, force):
        fidelity, probe = probe_fidelity(stack, name_prefix)
    steps = []
    for name in names:
        entry, alarm = by_name.get(name), deployed.get(name)
        step: dict[str, Any] = {"alarm": name, "id": entry["id"] if entry else None}
        if entry is None:
            steps.append({**step, "method": "none", "error": f"{name} is not in the catalog"})
            continue
        if alarm is None:
            error = f"{name} does not exist: deploy (playbooks/site.yml) first"
            steps.append({**step, "method": "none", "error": error})
            continue
        method, why = choose_method(
            entry, alarm, emulated=target.emulated, fidelity=fidelity, force=force
        )
        steps.append({**step, "method": method, "why": why, **_definition(alarm, entry)})
    where = "LocalStack" if target.emulated else "AWS"
    heading = f"target {where}, alerts via {target.channel}, p95/math evaluation: {probe}"
    rows = [[s["id"] or s["alarm"], s["method"], s.get("why") or s.get("error", "")] for s in steps]
    return {
        "table": [heading, *format_table(["alarm", "method", "why"], rows)],
        "environment": stack.environment,
        "emulated": target.emulated,
        "channel": target.channel,
        "fidelity": fidelity,
        "probe": probe,
        "steps": steps,
    }


def reset(stack: Stack, steps: Sequence[Mapping[str, Any]]) -> list[str]:
    """Alarms already in ALARM would send nothing new: set them OK so the drill's transition
    (and its alert) happens. Their next evaluation restores ALARM if the condition persists."""
    cloudwatch = stack.client("cloudwatch")
    names = [s["alarm"] for s in steps if s["method"] != "none"]
    firing = [n for n, a in _describe(cloudwatch, names).items() if a["StateValue"] == "ALARM"]
    for name in firing:
        cloudwatch.set_alarm_state(
            AlarmName=name, StateValue="OK", StateReason=f"{DRILL_REASON}: reset before the drill"
        )
    return firing


def signal(
    stack: Stack,
    steps: Sequence[Mapping[str, Any]],
    method: str,
    key_prefix: str = "",
    image: Path = INVALID_IMAGE,
) -> dict[str, Any]:
    """Produce the signal of every step of `method`; {alarm: epoch seconds of the signal}."""
    mine = [s for s in steps if s["method"] == method]
    if not mine:
        return {"signals": {}, "detail": []}
    if method == "real":
        return _signal_real(stack, mine, key_prefix, image)
    produce = {"datapoint": _signal_datapoints, "log": _signal_log_events, "forced": _signal_forced}
    return produce[method](stack, mine)


def watch(
    stack: Stack,
    steps: Sequence[Mapping[str, Any]],
    signals: Mapping[str, float],
    alarm_timeout: float,
    alert_timeout: float,
) -> dict[str, dict[str, Any]]:
    """Poll each alarm's history for ALARM after its signal and the alerts for its message."""
    cloudwatch = stack.client("cloudwatch")
    target = Target.of(stack)
    results: dict[str, dict[str, Any]] = {}
    pending = {s["alarm"]: s for s in steps if s["alarm"] in signals}
    for step in steps:
        if step["alarm"] not in signals:
            results[step["alarm"]] = {"error": step.get("error") or "no signal was produced"}
    for name in pending:
        results[name] = {}
    emulated, poll = stack.is_emulated, poll_seconds(steps)
    started = time.monotonic()
    while pending:
        now = time.time()
        unseen = [n for n in pending if "alarm_at" not in results[n]]
        current = _describe(cloudwatch, unseen) if unseen else {}
        for name in unseen:
            since = _dt(signals[name])
            at = history_transition(_history(cloudwatch, name, since, emulated), "ALARM", since)
            at = at or current_transition(current.get(name, {}), "ALARM", since)
            if at is not None:
                results[name]["alarm_at"] = at.timestamp()
            elif now - signals[name] > alarm_timeout:
                results[name]["error"] = _not_firing_reason(stack, pending[name], alarm_timeout)
                pending.pop(name)
        awaiting_alert = [n for n in pending if "alarm_at" in results[n]]
        if target.channel == "none":
            for name in awaiting_alert:
                results[name]["alert"] = "check your email"
                pending.pop(name)
        elif awaiting_alert:
            alerts = _alerts(stack, target)
            for name in awaiting_alert:
                found = first_alert(alerts, name, _dt(signals[name]))
                if found is not None:
                    alert, delivered = found
                    results[name]["alert_at"] = delivered.timestamp()
                    results[name]["alert_channel"] = alert.channel
                    pending.pop(name)
                elif now - results[name]["alarm_at"] > alert_timeout:
                    results[name]["error"] = (
                        f"ALARM reached but no ALARM message for {name} in the {target.channel} "
                        f"within {alert_timeout:.0f} s: check the alarm's actions and the "
                        "topic's subscriptions (python -m tools.imgops alerts)"
                    )
                    pending.pop(name)
        if pending:
            if time.monotonic() - started > alarm_timeout + alert_timeout + 60:
                for name in pending:
                    results[name].setdefault("error", "the drill's overall deadline passed")
                break
            time.sleep(poll)
    return results


def poll_seconds(steps: Sequence[Mapping[str, Any]]) -> float:
    """2 s on 10 s periods, 10 s on AWS's minutes (DescribeAlarmHistory has a low TPS quota)."""
    period = min((int(s.get("period") or 60) for s in steps if s.get("period")), default=60)
    return min(max(POLL_SECONDS, period / 6), 10.0)


def recover(
    stack: Stack,
    steps: Sequence[Mapping[str, Any]],
    watched: Mapping[str, Mapping[str, Any]],
    ok_timeout: float,
    real_keys: Sequence[str] = (),
) -> dict[str, dict[str, Any]]:
    """Back to OK: forced alarms by SetAlarmState; datapoint alarms get OK-side datapoints; log
    signals have stopped; a real failure stops when its last retry has failed (its failure
    record reaches the dead-letter queue, and is removed from it: it was ours). Whatever is not
    OK after `ok_timeout` is set OK."""
    cloudwatch = stack.client("cloudwatch")
    results: dict[str, dict[str, Any]] = {}
    waiting: dict[str, Mapping[str, Any]] = {}
    started = time.time()
    stopped_at = started
    if real_keys and any(s["method"] == "real" for s in steps):
        stopped_at = _wait_for_failure_records(stack, real_keys, ok_timeout) or time.time()
    for step in steps:
        name = step["alarm"]
        if "alarm_at" not in watched.get(name, {}):
            continue
        if step["method"] == "forced":
            _set_state(cloudwatch, name, "OK", "back to OK")
            results[name] = {"ok_at": time.time(), "ok_how": "set_alarm_state"}
            continue
        if step["method"] == "datapoint":
            _put_values(stack, step, [ok_value(step["comparison"], step["threshold"])], [0])
        results[name] = {"ok_how": "ok datapoint" if step["method"] == "datapoint" else "stopped"}
        waiting[name] = step
    while waiting:
        current = _describe(cloudwatch, list(waiting))
        for name in list(waiting):
            step, alarm_at = waiting[name], float(watched[name]["alarm_at"])
            floor = _dt(max(alarm_at, stopped_at) if step["method"] == "real" else alarm_at)
            history = _history(cloudwatch, name, _dt(alarm_at), stack.is_emulated)
            state = current.get(name, {})
            at = history_transition(history, "OK", floor) or current_transition(state, "OK", floor)
            quiet = time.time() > floor.timestamp() + 2 * int(step["period"]) + SLACK_SECONDS
            if at is None and quiet and state.get("StateValue") == "OK":
                # The last retries did not fire it again: OK since its first OK after ALARM.
                at = history_transition(history, "OK", _dt(alarm_at)) or floor
            if at is not None:
                results[name]["ok_at"] = at.timestamp()
                waiting.pop(name)
        if waiting and time.time() - started > ok_timeout:
            for name in waiting:
                _set_state(cloudwatch, name, "OK", f"not OK {ok_timeout:.0f} s after the drill")
                results[name] = {
                    "ok_at": time.time(),
                    "ok_how": f"set_alarm_state after {ok_timeout:.0f} s",
                }
            break
        if waiting:
            time.sleep(poll_seconds(steps))
    return results


def _wait_for_failure_records(stack: Stack, keys: Sequence[str], timeout: float) -> float | None:
    """Epoch seconds when the last of `keys` had its failure record; the records are deleted."""
    sqs, wanted, last = stack.client("sqs"), set(keys), None
    deadline = time.time() + timeout
    while wanted and time.time() < deadline:
        ours = []
        for message in peek_queue(sqs, stack.dead_letter_queue_url):
            try:
                record = parse_failure_message(message)
            except (ValueError, KeyError):
                continue
            if record.key in keys:
                ours.append(message)
                wanted.discard(record.key)
                at = record.time.timestamp() if record.time else time.time()
                last = max(last or at, at)
        for message in ours:
            with contextlib.suppress(ClientError):
                sqs.delete_message(
                    QueueUrl=stack.dead_letter_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        if wanted:
            time.sleep(POLL_SECONDS)
    return last


def summarize(
    drill_plan: Mapping[str, Any],
    signals: Mapping[str, float],
    watched: Mapping[str, Mapping[str, Any]],
    recovered: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    rows, alarms = [], []
    for step in drill_plan["steps"]:
        name = step["alarm"]
        seen, ok = watched.get(name, {}), recovered.get(name, {})
        at = signals.get(name)
        alarm_s = _seconds(at, seen.get("alarm_at"))
        alert_s = _seconds(at, seen.get("alert_at"))
        ok_s = _seconds(seen.get("alarm_at"), ok.get("ok_at"))
        alerted = None if seen.get("alert") == "check your email" else alert_s is not None
        item = {
            "alarm": name,
            "id": step.get("id"),
            "method": step["method"],
            "why": step.get("why"),
            "reached_alarm": alarm_s is not None,
            "alarm_seconds": alarm_s,
            "alert_delivered": alerted,
            "alert_seconds": alert_s,
            "alert_channel": seen.get("alert_channel") or seen.get("alert"),
            "back_to_ok": "ok_at" in ok,
            "ok_seconds_after_alarm": ok_s,
            "ok_how": ok.get("ok_how"),
            "error": seen.get("error") or step.get("error"),
        }
        alarms.append(item)
        rows.append(
            [
                step.get("id") or name,
                step["method"],
                f"{alarm_s:.1f} s" if alarm_s is not None else "NO",
                _alert_cell(item),
                f"{ok_s:.0f} s, {item['ok_how']}" if ok_s is not None else "-",
            ]
        )
    failures = [
        f"{a['alarm']} ({a['method']}): {a['error'] or 'did not complete'}"
        for a in alarms
        if not a["reached_alarm"] or a["alert_delivered"] is False
    ]
    headers = ["alarm", "method", "ALARM after", "alert after", "back to OK after ALARM"]
    return {
        "environment": drill_plan["environment"],
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "emulated": drill_plan["emulated"],
        "alert_channel": drill_plan["channel"],
        "fidelity": drill_plan["fidelity"],
        "probe": drill_plan["probe"],
        "ok": not failures,
        "failures": failures,
        "alarms": alarms,
        "table": format_table(headers, rows),
    }


# ---- signals -----------------------------------------------------------------------------


def _signal_real(
    stack: Stack, steps: Sequence[Mapping[str, Any]], key_prefix: str, image: Path
) -> dict[str, Any]:
    """Enough invalid uploads per period for the most demanding count threshold, repeated for
    DatapointsToAlarm periods (one upload on dev: threshold 1, 1 of 1)."""
    if not image.is_file():
        raise ToolError(f"{image} is missing: git checkout -- tests/images")
    per_round = max(
        breach_count(s["comparison"], s["threshold"]) if s.get("statistic") == "Sum" else 1
        for s in steps
    )
    rounds = max(int(s.get("datapoints_to_alarm") or 1) for s in steps)
    period = max(int(s.get("period") or 60) for s in steps)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    first: float | None = None
    keys: list[str] = []
    for round_no in range(rounds):
        if round_no:
            time.sleep(period)
        for copy in range(per_round):
            prefix = f"{key_prefix}fire-drill/{stamp}-{round_no + 1}-{copy + 1}/"
            (uploaded,) = upload_files(stack.client("s3"), stack.upload_bucket, [image], prefix)
            first = first or time.time()
            keys.append(uploaded.key)
    assert first is not None
    return {"signals": {s["alarm"]: first for s in steps}, "detail": keys, "uploaded_keys": keys}


def _signal_datapoints(stack: Stack, steps: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    signals, detail = {}, []
    for step in steps:
        value = breach_value(step["comparison"], step["threshold"])
        signals[step["alarm"]] = time.time()
        periods = int(step.get("evaluation_periods") or 1)
        _put_values(stack, step, [value] * periods, range(periods))
        detail.append(f"{step['namespace']}/{step['metric']} = {value:g} x {periods} period(s)")
    return {"signals": signals, "detail": detail}


def _signal_log_events(stack: Stack, steps: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    logs = stack.client("logs")
    stream = f"fire-drill/{datetime.now(UTC):%Y/%m/%d}/{uuid.uuid4().hex}"
    logs.create_log_stream(logGroupName=stack.log_group, logStreamName=stream)
    events: list[dict[str, Any]] = []
    now_ms = int(time.time() * 1000)
    for step in steps:
        if not step.get("message"):
            raise ToolError(f"catalog entry {step['id']} has drill: log_event but no drill_message")
        count = breach_count(step["comparison"], step["threshold"])
        for back in range(int(step.get("evaluation_periods") or 1)):
            at = now_ms - back * int(step["period"]) * 1000
            events += [{"timestamp": at, "message": step["message"]}] * count
    events.sort(key=lambda event: event["timestamp"])
    sent = time.time()
    logs.put_log_events(logGroupName=stack.log_group, logStreamName=stream, logEvents=events)
    return {
        "signals": {s["alarm"]: sent for s in steps},
        "detail": [f"{len(events)} event(s) in {stack.log_group}:{stream}"],
    }


def _signal_forced(stack: Stack, steps: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    cloudwatch = stack.client("cloudwatch")
    signals = {}
    for step in steps:
        signals[step["alarm"]] = time.time()
        _set_state(cloudwatch, step["alarm"], "ALARM", f"forced ({step['why']})")
    return {"signals": signals, "detail": [s["alarm"] for s in steps]}


def _put_values(
    stack: Stack, step: Mapping[str, Any], values: Sequence[float], periods_back: Iterable[int]
) -> None:
    now = datetime.now(UTC)
    samples = PERCENTILE_SAMPLES if step.get("extended_statistic") else 1
    data = [
        {
            "MetricName": step["metric"],
            "Dimensions": step["dimensions"],
            "Timestamp": now - timedelta(seconds=back * int(step["period"])),
            "Values": [value],
            "Counts": [float(samples)],
        }
        for value, back in zip(values, periods_back, strict=False)
    ]
    stack.client("cloudwatch").put_metric_data(Namespace=step["namespace"], MetricData=data)


# ---- helpers -----------------------------------------------------------------------------


def _definition(alarm: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "title": entry.get("title"),
        "severity": entry.get("severity"),
        "namespace": alarm.get("Namespace"),
        "metric": alarm.get("MetricName"),
        "dimensions": alarm.get("Dimensions") or [],
        "statistic": alarm.get("Statistic"),
        "extended_statistic": alarm.get("ExtendedStatistic"),
        "comparison": alarm["ComparisonOperator"],
        "threshold": float(alarm["Threshold"]),
        "period": int(alarm.get("Period") or _math_period(alarm)),
        "evaluation_periods": int(alarm.get("EvaluationPeriods") or 1),
        "datapoints_to_alarm": int(
            alarm.get("DatapointsToAlarm") or alarm.get("EvaluationPeriods") or 1
        ),
        "message": entry.get("drill_message"),
    }


def _math_period(alarm: Mapping[str, Any]) -> int:
    periods = [q["MetricStat"]["Period"] for q in alarm.get("Metrics") or [] if q.get("MetricStat")]
    return int(max(periods)) if periods else 60


def _describe(cloudwatch: Any, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(names), 100):
        answer = cloudwatch.describe_alarms(AlarmNames=list(names[start : start + 100]))
        found.update((a["AlarmName"], a) for a in answer.get("MetricAlarms", []))
    return found


def _history(
    cloudwatch: Any, name: str, since: datetime, emulated: bool = True
) -> list[dict[str, Any]]:
    """StateUpdate items of one alarm, newest first; `since` is applied here (LocalStack 4.14
    fails on StartDate: naive vs aware datetimes, so it is only sent to AWS)."""
    query: dict[str, Any] = {"AlarmName": name, "HistoryItemType": "StateUpdate"}
    if not emulated:  # AWS keeps 30 days of history: ask for the drill's minutes only
        query["StartDate"] = since - timedelta(seconds=SLACK_SECONDS + 60)
    pages = cloudwatch.get_paginator("describe_alarm_history").paginate(**query)
    floor = since - timedelta(seconds=SLACK_SECONDS)
    items = (item for page in pages for item in page.get("AlarmHistoryItems", []))
    return [item for item in items if transition_time(item) >= floor]


def _alerts(stack: Stack, target: Target) -> list[tuple[Alert, datetime]]:
    """Every alert with the time it was delivered (SQS SentTimestamp, the mail's timestamp)."""
    found: list[tuple[Alert, datetime]] = []
    now = datetime.now(UTC)
    if stack.alerts_inbox_queue_url:
        for message in peek_queue(stack.client("sqs"), stack.alerts_inbox_queue_url):
            sent = message.get("Attributes", {}).get("SentTimestamp")
            at = datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else now
            found.append((parse_sns_envelope(message["Body"]), at))
    if stack.endpoint_url and target.channel in ("email", "inbox"):
        try:
            found += [(mail, mail.time or now) for mail in read_ses_mailbox(stack.endpoint_url)]
        except ToolError:
            if target.channel == "email":
                raise
    return found


def _not_firing_reason(stack: Stack, step: Mapping[str, Any], waited: float) -> str:
    name = step["alarm"]
    alarm = _describe(stack.client("cloudwatch"), [name]).get(name, {})
    why = (
        f"not ALARM {waited:.0f} s after its {step['method']} signal: "
        f"{alarm.get('StateValue', 'gone')} ({alarm.get('StateReason', '')})"
    )
    if step["method"] == "log":
        filters = stack.client("logs").describe_metric_filters(logGroupName=stack.log_group)
        publishing = [
            f
            for f in filters.get("metricFilters", [])
            for t in f.get("metricTransformations", [])
            if (t.get("metricNamespace"), t.get("metricName"))
            == (step["namespace"], step["metric"])
        ]
        if not publishing:
            why += (
                f"; no metric filter on {stack.log_group} publishes "
                f"{step['namespace']}/{step['metric']} (roles/log_alerts)"
            )
    if step["method"] == "real":
        why += "; look at the function's ERROR lines: python -m tools.imgops logs ENV --level ERROR"
    return why


def _set_state(cloudwatch: Any, name: str, state: str, why: str) -> None:
    try:
        cloudwatch.set_alarm_state(
            AlarmName=name, StateValue=state, StateReason=f"{DRILL_REASON}: {why}"
        )
    except ClientError as error:
        raise ToolError(f"set_alarm_state {state} on {name} failed: {error}") from None


def _new_state(item: Mapping[str, Any]) -> str | None:
    summary = str(item.get("HistorySummary", ""))
    data = item.get("HistoryData")
    if data:
        try:
            return str(json.loads(data)["newState"]["stateValue"])
        except (ValueError, KeyError, TypeError):
            pass
    return summary.rpartition(" to ")[2] or None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _seconds(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(max(0.0, end - start), 1)


def _alert_cell(item: Mapping[str, Any]) -> str:
    if item["alert_delivered"] is None:
        return "check your email" if item["reached_alarm"] else "-"
    if item["alert_delivered"]:
        return f"{item['alert_seconds']:.1f} s {item['alert_channel']}"
    return "NO"
