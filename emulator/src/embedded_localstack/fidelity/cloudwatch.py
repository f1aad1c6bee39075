"""CloudWatch metrics and alarms as AWS computes them, patched into LocalStack 4.14 (provider v2).

What LocalStack already does right and is kept: the SQLite metric store, PutMetricData,
``set_alarm_state`` (state history, SNS/Lambda actions, composite alarms), the scheduler thread.
What is replaced, all through ``embedded_localstack.metric_math``:

- metric reads (``CloudwatchDatabase.get_metric_data_stat``, behind GetMetricStatistics,
  GetMetricData and alarms): dimensions match exactly as a set, so ``FunctionName=img`` does not
  see ``img-processor`` and a query for [A] does not aggregate metrics published with [A, B];
  percentiles (pNN, pNN.N) are computed from the stored samples;
- ListMetrics: a dimension filter matches name and value exactly (metrics may carry more);
- GetMetricData: metric math expressions (LocalStack answered InternalError);
- GetMetricStatistics: ExtendedStatistics;
- PutMetricAlarm: math alarms and percentiles are validated like AWS (ValidationError);
- alarm evaluation: Statistic, ExtendedStatistic and metric-math alarms, every Period (at most
  every minute, like AWS) instead of every Period x EvaluationPeriods, with the M-out-of-N and
  missing-data rules of ``metric_math.decide_alarm_state``;
- the SNS message of a math alarm lists its ``Metrics`` in ``Trigger``, as AWS's does.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from localstack.runtime import hooks

from embedded_localstack import metric_math
from embedded_localstack.metric_math import MetricMathError, Series, StatisticSet

LOG = logging.getLogger(__name__)

# AWS evaluates alarms with periods of a minute or more once a minute.
MAX_EVALUATION_INTERVAL = 60
ALARM_QUERY_ID = "alarm_metric"


# Named like its entry point: plux keys hooks by name, and every fidelity module's hook is
# called ``install``, so an unnamed one would shadow (or be shadowed by) the others.
@hooks.on_infra_start(name="embedded_cloudwatch_fidelity")
def install() -> None:
    # Imported here: the hook module is loaded by every LocalStack start, services or not.
    from localstack.services.cloudwatch import alarm_scheduler, provider_v2
    from localstack.services.cloudwatch.cloudwatch_database_helper import CloudwatchDatabase
    from localstack.utils.patch import Patch

    from embedded_localstack.fidelity import lambda_throttles

    Patch.function(CloudwatchDatabase.get_metric_data_stat, _get_metric_data_stat).apply()
    Patch.function(CloudwatchDatabase.list_metrics, _list_metrics).apply()
    provider = provider_v2.CloudwatchProvider
    Patch.function(provider.get_metric_data, _get_metric_data).apply()
    Patch.function(provider.get_metric_statistics, _get_metric_statistics).apply()
    Patch.function(provider.put_metric_alarm, _put_metric_alarm).apply()
    Patch.function(
        provider_v2.create_message_response_update_state_sns, _sns_message_with_metrics
    ).apply()
    Patch.function(alarm_scheduler.AlarmScheduler.schedule_metric_alarm, _schedule_alarm).apply()
    Patch.function(alarm_scheduler.calculate_alarm_state, _evaluate_alarm).apply()
    lambda_throttles.install()
    LOG.debug("CloudWatch fidelity patches applied")


def _validation_error(message: str) -> Exception:
    from localstack.services.cloudwatch.provider_v2 import ValidationException

    return ValidationException(message)


# --- reading metrics ----------------------------------------------------------------------


def _unix(timestamp: datetime | int | float) -> int:
    return int(timestamp.timestamp()) if isinstance(timestamp, datetime) else int(timestamp)


def read_series(
    database: Any,
    account_id: str,
    region: str,
    metric_stat: Mapping[str, Any],
    start: int,
    end: int,
) -> Series:
    """One statistic per period of [start, end) for exactly the metric named (name, namespace,
    full dimension set, unit if given)."""
    metric = metric_stat["Metric"]
    period = int(metric_stat["Period"])
    stat = metric_stat["Stat"]
    dimensions = database._get_ordered_dimensions_with_separator(
        [dict(d) for d in metric.get("Dimensions") or []]
    )
    unit = metric_stat.get("Unit")
    # "IS" is SQLite's null-safe, case-sensitive equality: no dimensions matches only NULL.
    unit_filter = ""
    parameters: list[Any] = [
        account_id,
        region,
        metric.get("Namespace"),
        metric["MetricName"],
        dimensions,
        start,
        end,
    ]
    if unit:
        unit_filter = "AND unit IS ?"
        parameters.append(None if unit == "NULL_VALUE" else unit)
    where = f"""WHERE account_id = ? AND region = ? AND namespace = ? AND metric_name = ?
        AND dimensions IS ? AND timestamp >= ? AND timestamp < ? {unit_filter}"""

    values: dict[int, list[float]] = defaultdict(list)
    statistic_sets: dict[int, list[StatisticSet]] = defaultdict(list)

    def bucket(timestamp: float) -> int:
        return start + (int(timestamp) - start) // period * period

    with (
        database.DATABASE_LOCK,
        sqlite3.connect(database.METRICS_DB_READ_ONLY, uri=True) as connection,
    ):
        for timestamp, value in connection.execute(
            f"SELECT timestamp, value FROM {database.TABLE_SINGLE_METRICS} {where}", parameters
        ):
            values[bucket(timestamp)].append(float(value))
        for timestamp, count, total, minimum, maximum in connection.execute(
            "SELECT timestamp, sample_count, sum, min, max "
            f"FROM {database.TABLE_AGGREGATED_METRICS} {where}",
            parameters,
        ):
            statistic_sets[bucket(timestamp)].append(
                StatisticSet(float(count), float(total), float(minimum), float(maximum))
            )

    series: Series = {}
    for period_start in sorted(values.keys() | statistic_sets.keys()):
        result = metric_math.statistic(
            stat, values.get(period_start, []), statistic_sets.get(period_start, [])
        )
        if result is not None:
            series[period_start] = result
    return series


def _get_metric_data_stat(
    _original: Any,
    database: Any,
    account_id: str,
    region: str,
    query: Mapping[str, Any],
    start_time: datetime,
    end_time: datetime,
    scan_by: str | None,
) -> dict[str, list]:
    series = read_series(
        database, account_id, region, query["MetricStat"], _unix(start_time), _unix(end_time)
    )
    timestamps = sorted(series, reverse=scan_by in (None, "TimestampDescending"))
    return {"timestamps": timestamps, "values": [series[ts] for ts in timestamps]}


def _list_metrics(
    original: Any,
    database: Any,
    account_id: str,
    region: str,
    namespace: str | None,
    metric_name: str | None,
    dimensions: Sequence[Mapping[str, str]],
) -> dict:
    listed = original(database, account_id, region, namespace, metric_name, [])

    def matches(metric: Mapping[str, Any]) -> bool:
        present = {d["Name"]: d["Value"] for d in metric.get("dimensions") or []}
        return all(
            wanted["Name"] in present
            and (wanted.get("Value") is None or present[wanted["Name"]] == wanted["Value"])
            for wanted in dimensions
        )

    return {"metrics": [metric for metric in listed["metrics"] if matches(metric)]}


# --- GetMetricData with metric math -------------------------------------------------------


def _query_period(query: Mapping[str, Any], queries: Sequence[Mapping[str, Any]]) -> int:
    if "MetricStat" in query:
        return int(query["MetricStat"]["Period"])
    if query.get("Period"):
        return int(query["Period"])
    periods = [int(q["MetricStat"]["Period"]) for q in queries if "MetricStat" in q]
    return min(periods, default=60)


def _validate_queries(queries: Sequence[Mapping[str, Any]]) -> None:
    for query in queries:
        query_id = query.get("Id", "")
        if not query_id or not query_id[0].islower():
            raise _validation_error(
                f"The value {query_id} for parameter MetricDataQueries.member.Id is invalid: "
                "it must start with a lowercase letter."
            )
        if ("MetricStat" in query) == ("Expression" in query):
            raise _validation_error(
                f"Exactly one of MetricStat and Expression must be set in query {query_id}."
            )
        if "MetricStat" in query and not metric_math.is_statistic(query["MetricStat"]["Stat"]):
            raise _validation_error(
                f"The value {query['MetricStat']['Stat']} for the statistic of query "
                f"{query_id} is not supported."
            )


def evaluate_metric_data_queries(
    database: Any,
    account_id: str,
    region: str,
    queries: Sequence[Mapping[str, Any]],
    start: int,
    end: int,
) -> dict[str, metric_math.Value]:
    _validate_queries(queries)
    metric_results = {
        query["Id"]: read_series(database, account_id, region, query["MetricStat"], start, end)
        for query in queries
        if "MetricStat" in query
    }
    expression_period = min(
        (_query_period(q, queries) for q in queries if "Expression" in q), default=60
    )
    try:
        return metric_math.evaluate_queries(
            [metric_math.Query(q["Id"], q.get("Expression")) for q in queries],
            metric_results,
            metric_math.time_grid(start, end, expression_period),
        )
    except MetricMathError as error:
        raise _validation_error(str(error)) from None


def _as_series_list(value: metric_math.Value, grid: Sequence[int]) -> list[Series]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value]
    # A scalar result is drawn as a constant line over the request's periods.
    return [{ts: value for ts in grid}] if metric_math.is_defined(value) else [{}]


def _get_metric_data(
    _original: Any,
    provider: Any,
    context: Any,
    metric_data_queries: list[dict[str, Any]],
    start_time: datetime,
    end_time: datetime,
    next_token: str | None = None,
    scan_by: str | None = None,
    max_datapoints: int | None = None,
    label_options: Any = None,
    **_: Any,
) -> dict[str, Any]:
    from localstack.utils.collections import PaginatedList

    start, end = _unix(start_time), _unix(end_time)
    if start >= end:
        raise _validation_error("The parameter StartTime must be less than the parameter EndTime.")
    results = evaluate_metric_data_queries(
        provider.cloudwatch_database,
        context.account_id,
        context.region,
        metric_data_queries,
        start,
        end,
    )
    # LocalStack's labels: the metric name, plus Stat/Period when they differ between queries.
    metric_stats = [q["MetricStat"] for q in metric_data_queries if "MetricStat" in q]
    differing = [key for key in ("Stat", "Period") if len({m[key] for m in metric_stats}) > 1]
    descending = scan_by in (None, "TimestampDescending")
    output: list[dict[str, Any]] = []
    next_page: str | None = None
    for query in metric_data_queries:
        if query.get("ReturnData") is False:
            continue
        if "MetricStat" in query:
            label = query.get("Label") or query["MetricStat"]["Metric"]["MetricName"]
            label = " ".join([label, *(str(query["MetricStat"][key]) for key in differing)])
        else:
            label = query.get("Label") or query["Id"]
        grid = metric_math.time_grid(start, end, _query_period(query, metric_data_queries))
        for series in _as_series_list(results[query["Id"]], grid):
            points = [
                {"Timestamp": datetime.fromtimestamp(ts, tz=UTC), "Value": float(value)}
                for ts, value in sorted(series.items(), reverse=descending)
            ]
            page, page_token = PaginatedList(points).get_page(
                lambda point: str(point["Timestamp"]),
                next_token=next_token,
                page_size=max_datapoints or 100_800,
            )
            next_page = next_page or page_token
            output.append(
                {
                    "Id": query["Id"],
                    "Label": label,
                    "StatusCode": "Complete",
                    "Timestamps": [point["Timestamp"] for point in page],
                    "Values": [point["Value"] for point in page],
                }
            )
    return {"MetricDataResults": output, "NextToken": next_page, "Messages": []}


def _get_metric_statistics(
    original: Any,
    provider: Any,
    context: Any,
    namespace: str,
    metric_name: str,
    start_time: datetime,
    end_time: datetime,
    period: int,
    dimensions: list[dict[str, str]] | None = None,
    statistics: list[str] | None = None,
    extended_statistics: list[str] | None = None,
    unit: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    if not statistics and not extended_statistics:
        raise _validation_error("Either Statistics or ExtendedStatistics must be specified.")
    for name in extended_statistics or []:
        if metric_math.percentile_rank(name) is None:
            raise _validation_error(f"The value {name} for ExtendedStatistics is not supported.")
    answer = original(
        provider,
        context,
        namespace,
        metric_name,
        start_time,
        end_time,
        period,
        dimensions,
        statistics or [],
        None,
        unit,
        **kwargs,
    )
    if not extended_statistics:
        return answer
    by_timestamp = {_unix(dp["Timestamp"]): dp for dp in answer["Datapoints"]}
    metric = {"MetricName": metric_name, "Namespace": namespace, "Dimensions": dimensions or []}
    for name in extended_statistics:
        series = read_series(
            provider.cloudwatch_database,
            context.account_id,
            context.region,
            {"Metric": metric, "Period": period, "Stat": name, "Unit": unit},
            _unix(start_time),
            _unix(end_time),
        )
        for timestamp, value in series.items():
            datapoint = by_timestamp.setdefault(
                timestamp, {"Timestamp": timestamp, "Unit": unit or "None"}
            )
            datapoint.setdefault("ExtendedStatistics", {})[name] = value
    answer["Datapoints"] = list(by_timestamp.values())
    return answer


# --- alarms -------------------------------------------------------------------------------


def alarm_queries(alarm: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The GetMetricData queries an alarm evaluates: its ``Metrics``, or its single metric."""
    if alarm.get("Metrics"):
        return [dict(query) for query in alarm["Metrics"]]
    metric: dict[str, Any] = {"MetricName": alarm["MetricName"]}
    for key in ("Namespace", "Dimensions"):
        if alarm.get(key):
            metric[key] = alarm[key]
    metric_stat: dict[str, Any] = {
        "Metric": metric,
        "Period": alarm["Period"],
        "Stat": alarm.get("Statistic") or alarm.get("ExtendedStatistic"),
    }
    if alarm.get("Unit"):
        metric_stat["Unit"] = alarm["Unit"]
    return [{"Id": ALARM_QUERY_ID, "MetricStat": metric_stat, "ReturnData": True}]


def _returned_query(queries: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    returned = [q for q in queries if q.get("ReturnData", True)]
    if len(returned) != 1:
        raise _validation_error(
            "Exactly one element of the metrics list should return data "
            f"(ReturnData is true or unset on {len(returned)})."
        )
    return returned[0]


def alarm_period(alarm: Mapping[str, Any]) -> int:
    if alarm.get("Period"):
        return int(alarm["Period"])
    queries = alarm_queries(alarm)
    return _query_period(_returned_query(queries), queries)


def validate_alarm(alarm: Mapping[str, Any]) -> None:
    """PutMetricAlarm's checks that LocalStack skips for percentiles and math alarms."""
    has_metric, has_metrics = bool(alarm.get("MetricName")), bool(alarm.get("Metrics"))
    if has_metric == has_metrics:
        raise _validation_error("Exactly one of MetricName and Metrics must be specified.")
    if has_metric and bool(alarm.get("Statistic")) == bool(alarm.get("ExtendedStatistic")):
        raise _validation_error("Exactly one of Statistic and ExtendedStatistic must be specified.")
    if alarm.get("ExtendedStatistic"):
        try:
            rank = metric_math.percentile_rank(alarm["ExtendedStatistic"])
        except MetricMathError as error:
            raise _validation_error(str(error)) from None
        if rank is None:
            raise _validation_error(
                f"The value {alarm['ExtendedStatistic']} for parameter ExtendedStatistic "
                "is not supported."
            )
    if has_metrics:
        queries = alarm_queries(alarm)
        returned = _returned_query(queries)
        _validate_queries(queries)
        now = int(time.time())
        try:
            # Evaluating on empty data checks syntax, arity and references in one go.
            value = metric_math.evaluate_queries(
                [metric_math.Query(q["Id"], q.get("Expression")) for q in queries],
                {q["Id"]: {} for q in queries if "MetricStat" in q},
                [now],
            )[returned["Id"]]
        except MetricMathError as error:
            raise _validation_error(str(error)) from None
        if not isinstance(value, dict):
            raise _validation_error(
                f"The expression of {returned['Id']} must return a single time series."
            )


def _put_metric_alarm(original: Any, provider: Any, context: Any, request: Any) -> None:
    validate_alarm(request)
    return original(provider, context, request)


def _schedule_alarm(_original: Any, scheduler: Any, alarm_arn: str) -> None:
    """LocalStack's scheduling, at AWS's rate, for every alarm kind we can evaluate."""
    from localstack.services.cloudwatch import alarm_scheduler

    alarm = alarm_scheduler.get_metric_alarm_details_for_alarm_arn(alarm_arn)
    scheduler.delete_scheduler_for_alarm(alarm_arn)
    if not alarm:
        LOG.warning("Scheduling alarm failed: could not find alarm %s", alarm_arn)
        return
    if alarm.get("ComparisonOperator") not in metric_math.COMPARISON_OPERATORS:
        LOG.warning(
            "Alarm %s: ComparisonOperator %s is not evaluated (anomaly detection bands are not "
            "supported).",
            alarm["AlarmName"],
            alarm.get("ComparisonOperator"),
        )
        return

    def on_error(error: Exception) -> None:
        LOG.error("Evaluating alarm %s failed: %s", alarm_arn, error, exc_info=error)

    scheduler.scheduled_alarms[alarm_arn] = scheduler.scheduler.schedule(
        func=alarm_scheduler.calculate_alarm_state,
        period=min(alarm_period(alarm), MAX_EVALUATION_INTERVAL),
        fixed_rate=True,
        args=[alarm_arn],
        on_error=on_error,
    )


def _render_time(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%d/%m/%y %H:%M:%S")


def state_reason(
    decision: metric_math.AlarmDecision,
    alarm: Mapping[str, Any],
    breaches: Any,
) -> str:
    """AWS's wording, e.g. ``Threshold Crossed: 1 datapoint [42.0 (03/12/26 10:00:00)] was
    greater than the threshold (10.0).``"""
    evaluation_periods = alarm["EvaluationPeriods"]
    if decision.missing_as:
        if decision.state == "INSUFFICIENT_DATA":
            return (
                f"Insufficient Data: {evaluation_periods} datapoint"
                f"{'s were' if evaluation_periods > 1 else ' was'} unknown."
            )
        if not decision.evaluated:
            treated = "NonBreaching" if decision.missing_as == "notBreaching" else "Breaching"
            plural = evaluation_periods > 1
            return (
                f"Threshold Crossed: no datapoints were received for {evaluation_periods} "
                f"period{'s' if plural else ''} and {evaluation_periods} missing datapoint"
                f"{'s were' if plural else ' was'} treated as [{treated}]."
            )
    _, phrase = metric_math.COMPARISON_OPERATORS[alarm["ComparisonOperator"]]
    alarming = decision.state == "ALARM"
    shown = [(ts, value) for ts, value in decision.evaluated if breaches(value) == alarming]
    listed = metric_math.format_points(shown, _render_time)
    count = len(shown)
    total = len(decision.evaluated)
    subject = (
        f"{count} datapoint{'s' if count > 1 else ''}"
        if count == total
        else f"{count} out of the last {total} datapoints"
    )
    verb = "were" if count > 1 else "was"
    negation = "" if alarming else "not "
    datapoints_to_alarm = alarm.get("DatapointsToAlarm") or evaluation_periods
    minimum = (
        f" (minimum {datapoints_to_alarm} datapoint{'s' if datapoints_to_alarm > 1 else ''} "
        f"for {alarm['StateValue']} -> {decision.state} transition)"
        if total > 1
        else ""
    )
    return (
        f"Threshold Crossed: {subject} [{listed}] {verb} {negation}{phrase} the threshold "
        f"({float(alarm['Threshold'])}){minimum}."
    )


def _evaluate_alarm(_original: Any, alarm_arn: str) -> None:
    """One evaluation: read the evaluation range, decide, and let LocalStack's
    ``set_alarm_state`` record history and run the actions when the state changes."""
    from localstack.services.cloudwatch import alarm_scheduler

    alarm = alarm_scheduler.get_metric_alarm_details_for_alarm_arn(alarm_arn)
    if not alarm:
        return
    client = alarm_scheduler.get_cloudwatch_client_for_region_of_alarm(alarm_arn)
    period = alarm_period(alarm)
    evaluation_periods = int(alarm["EvaluationPeriods"])
    datapoints_to_alarm = int(alarm.get("DatapointsToAlarm") or evaluation_periods)
    # AWS reads more periods than N so that sparse data can still decide.
    range_periods = evaluation_periods + max(evaluation_periods // 3, 2)
    now = int(time.time())
    start = now - range_periods * period
    queries = alarm_queries(alarm)
    returned = _returned_query(queries)
    answer = client.get_metric_data(
        MetricDataQueries=queries,
        StartTime=datetime.fromtimestamp(start, tz=UTC),
        EndTime=datetime.fromtimestamp(now, tz=UTC),
        ScanBy="TimestampAscending",
    )
    result = next(r for r in answer["MetricDataResults"] if r["Id"] == returned["Id"])
    values = {
        _unix(ts): value for ts, value in zip(result["Timestamps"], result["Values"], strict=True)
    }
    points = [(ts, values.get(ts)) for ts in metric_math.time_grid(start, now, period)]

    compare, _ = metric_math.COMPARISON_OPERATORS[alarm["ComparisonOperator"]]
    threshold = float(alarm["Threshold"])

    def breaches(value: float) -> bool:
        return compare(value, threshold)

    decision = metric_math.decide_alarm_state(
        points,
        breaches,
        evaluation_periods,
        datapoints_to_alarm,
        alarm.get("TreatMissingData") or "missing",
    )
    if decision.state is None or decision.state == alarm["StateValue"]:
        return
    reason_data: dict[str, Any] = {
        "version": "1.0",
        "queryDate": datetime.fromtimestamp(now, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "period": period,
        "recentDatapoints": [value for _, value in decision.evaluated],
        "threshold": threshold,
        "evaluatedDatapoints": [
            {
                "timestamp": datetime.fromtimestamp(ts, tz=UTC).strftime(
                    "%Y-%m-%dT%H:%M:%S.000+0000"
                ),
                "value": value,
            }
            for ts, value in reversed(decision.evaluated)
        ],
    }
    statistic = alarm.get("Statistic") or alarm.get("ExtendedStatistic")
    if statistic:
        reason_data["statistic"] = statistic
    if alarm.get("Unit"):
        reason_data["unit"] = alarm["Unit"]
    client.set_alarm_state(
        AlarmName=alarm["AlarmName"],
        StateValue=decision.state,
        StateReason=state_reason(decision, alarm, breaches),
        StateReasonData=json.dumps(reason_data),
    )


def _sns_trigger_metrics(queries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``Trigger.Metrics`` as AWS writes it: the alarm's queries, dimensions in lowercase."""
    metrics = []
    for query in queries:
        entry: dict[str, Any] = {"Id": query["Id"], "ReturnData": query.get("ReturnData", True)}
        for key in ("Expression", "Label"):
            if key in query:
                entry[key] = query[key]
        if "MetricStat" in query:
            stat = query["MetricStat"]
            metric = stat["Metric"]
            entry["MetricStat"] = {
                "Metric": {
                    "Dimensions": [
                        {"value": d["Value"], "name": d["Name"]}
                        for d in metric.get("Dimensions") or []
                    ],
                    "MetricName": metric["MetricName"],
                    "Namespace": metric.get("Namespace"),
                },
                "Period": int(stat["Period"]),
                "Stat": stat["Stat"],
            }
            if "Unit" in stat:
                entry["MetricStat"]["Unit"] = stat["Unit"]
        metrics.append(entry)
    return metrics


def _sns_message_with_metrics(original: Any, alarm: Any, old_state: str) -> str:
    message = original(alarm, old_state)
    if not alarm.alarm.get("Metrics"):
        return message
    from localstack.utils.json import CustomEncoder

    body = json.loads(message)
    trigger = body["Trigger"]
    for single_metric_key in (
        "MetricName",
        "Namespace",
        "Dimensions",
        "StatisticType",
        "Statistic",
        "ExtendedStatistic",
    ):
        trigger.pop(single_metric_key, None)
    trigger["Period"] = alarm_period(alarm.alarm)
    trigger["Metrics"] = _sns_trigger_metrics(alarm.alarm["Metrics"])
    return json.dumps(body, cls=CustomEncoder)
