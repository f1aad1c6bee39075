"""CloudWatch Logs filter patterns as AWS evaluates them, patched into LocalStack 4.14.

LocalStack's community logs provider matches every event against every pattern and applies the
metric filters of all log groups to each PutLogEvents (START/END/REPORT lines included), with
metric values other than numeric literals turned into 1 and defaultValue and dimensions
ignored. Here, all through ``embedded_localstack.filter_pattern``:

- PutLogEvents: only the metric filters of that log group run; each event publishes its metric
  value (a literal or a ``$.field``/``$name`` selector, non-numeric -> nothing), the filter's
  unit and dimensions, or defaultValue when it does not match; datapoints carry the event's
  timestamp, as CloudWatch Logs does;
- FilterLogEvents and subscription filters: the same matcher (LocalStack's own extension point
  ``get_pattern_matcher``);
- TestMetricFilter (not implemented by LocalStack): matches with their extracted values;
- PutMetricFilter, PutSubscriptionFilter, FilterLogEvents: a malformed pattern or metric
  transformation is an InvalidParameterException; PutMetricFilter on a missing log group is a
  ResourceNotFoundException, and a second put of a filter name replaces it (moto kept both).
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from localstack.runtime import hooks

from embedded_localstack.filter_pattern import (
    Datapoint,
    FilterPatternError,
    LogEvent,
    MetricFilter,
    MetricFilterSet,
    compile_pattern,
)

LOG = logging.getLogger(__name__)

MAX_METRIC_DATA_PER_CALL = 1000  # PutMetricData accepts up to 1,000 MetricDatum entries


@hooks.on_infra_start(name="embedded_logs_fidelity")
def install() -> None:
    # Imported here: the hook module is loaded by every LocalStack start, services or not.
    from localstack.services.logs import provider as logs_provider
    from localstack.utils.patch import Patch
    from moto.logs.models import LogsBackend

    provider = logs_provider.LogsProvider
    Patch.function(provider.put_log_events, _put_log_events, pass_target=False).apply()
    Patch(provider, "test_metric_filter", _test_metric_filter).apply()
    Patch(logs_provider, "get_pattern_matcher", _get_pattern_matcher).apply()
    Patch.function(LogsBackend.put_metric_filter, _put_metric_filter).apply()
    Patch.function(LogsBackend.put_subscription_filter, _put_subscription_filter).apply()
    Patch.function(LogsBackend.filter_log_events, _filter_log_events).apply()


# ------------------------------------------------------------------------------- PutLogEvents


def _put_log_events(
    self: Any,
    context: Any,
    log_group_name: str,
    log_stream_name: str,
    log_events: Sequence[Mapping[str, Any]],
    sequence_token: str | None = None,
    entity: Any = None,
    **kwargs: Any,
) -> Any:
    from localstack.services.moto import call_moto
    from localstack.utils.bootstrap import is_api_enabled

    # Stored first, so a failing put (unknown group or stream) publishes nothing.
    response = call_moto(context)
    if is_api_enabled("cloudwatch") and log_events:
        _apply_metric_filters(context.account_id, context.region, log_group_name, log_events)
    return response


def _apply_metric_filters(
    account_id: str, region: str, log_group_name: str, log_events: Sequence[Mapping[str, Any]]
) -> None:
    from localstack.services.logs.models import get_moto_logs_backend

    backend = get_moto_logs_backend(account_id, region)
    metric_filters = [
        metric_filter
        for spec in backend.filters.get_matching_filters(log_group_name=log_group_name)
        if (metric_filter := _metric_filter(spec)) is not None
    ]
    if not metric_filters:
        return
    # The whole batch through the group's filters at once (each event read once for all their
    # literals, its JSON parsed once if at all): the datapoints, in order, of each event.
    points = _metric_filter_set(tuple(metric_filters)).datapoints(
        [log_event["message"] for log_event in log_events]
    )
    timestamped: list[tuple[int, Datapoint]] = [
        (log_events[index]["timestamp"], point) for index, point in points
    ]
    if timestamped:
        _publish(account_id, region, timestamped)


@lru_cache(maxsize=64)
def _metric_filter_set(metric_filters: tuple[MetricFilter, ...]) -> MetricFilterSet:
    # Keyed by the (cached, so identical) compiled filters: its plans carry over to the next put.
    return MetricFilterSet(metric_filters)


def _metric_filter(spec: Mapping[str, Any]) -> MetricFilter | None:
    transformations = json.dumps(spec.get("metricTransformations", []), sort_keys=True)
    try:
        return _compiled_metric_filter(spec.get("filterPattern") or "", transformations)
    except FilterPatternError as exc:  # stored before validation, e.g. restored state
        LOG.warning("Skipping metric filter %s: %s", spec.get("filterName"), exc)
        return None


@lru_cache(maxsize=256)
def _compiled_metric_filter(filter_pattern: str, transformations_json: str) -> MetricFilter:
    return MetricFilter(filter_pattern, json.loads(transformations_json))


def _publish(account_id: str, region: str, timestamped: Sequence[tuple[int, Datapoint]]) -> None:
    """One PutMetricData per namespace (and 1,000 entries); equal datapoints of the same second
    are folded into Values/Counts, which CloudWatch stores as the same samples."""
    from localstack.aws.connect import connect_to

    samples: dict[str, dict[tuple[Any, ...], Counter[float]]] = defaultdict(
        lambda: defaultdict(Counter)
    )
    for timestamp_ms, point in timestamped:
        key = (point.metric_name, point.unit, point.dimensions, timestamp_ms // 1000)
        samples[point.namespace][key][point.value] += 1
    client = connect_to(aws_access_key_id=account_id, region_name=region).cloudwatch
    for namespace, series in samples.items():
        metric_data = [_metric_datum(key, counts) for key, counts in series.items()]
        for start in range(0, len(metric_data), MAX_METRIC_DATA_PER_CALL):
            try:
                client.put_metric_data(
                    Namespace=namespace,
                    MetricData=metric_data[start : start + MAX_METRIC_DATA_PER_CALL],
                )
            except Exception:
                LOG.warning(
                    "Unable to publish log metric filter data to %s", namespace, exc_info=True
                )


def _metric_datum(key: tuple[Any, ...], counts: Counter[float]) -> dict[str, Any]:
    metric_name, unit, dimensions, second = key
    datum: dict[str, Any] = {
        "MetricName": metric_name,
        "Timestamp": datetime.fromtimestamp(second, tz=UTC),
        "Values": list(counts),
        "Counts": [float(count) for count in counts.values()],
    }
    if dimensions:
        datum["Dimensions"] = [{"Name": name, "Value": value} for name, value in dimensions]
    if unit:
        datum["Unit"] = unit
    return datum


# ------------------------------------------------------------ TestMetricFilter, FilterLogEvents


def _test_metric_filter(
    self: Any, context: Any, filter_pattern: str, log_event_messages: Sequence[str], **kwargs: Any
) -> dict[str, Any]:
    from localstack.aws.api.logs import InvalidParameterException

    try:
        compiled = compile_pattern(filter_pattern)
    except FilterPatternError as exc:
        raise InvalidParameterException(str(exc)) from None
    matches = []
    for number, message in enumerate(log_event_messages, start=1):
        extracted = compiled.evaluate(LogEvent(message))
        if extracted is not None:
            matches.append(
                {"eventNumber": number, "eventMessage": message, "extractedValues": dict(extracted)}
            )
    return {"matches": matches}


def _get_pattern_matcher(pattern: str) -> Callable[[str, Mapping[str, Any]], bool]:
    compiled = compile_pattern(pattern)
    return lambda _pattern, log_event: compiled.matches(log_event["message"])


def _filter_log_events(target: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
    filter_pattern = kwargs.get("filter_pattern", args[6] if len(args) > 6 else None)
    if filter_pattern:
        _validated(lambda: compile_pattern(filter_pattern))
    return target(self, *args, **kwargs)


# ------------------------------------------------------------------ filter definitions


def _put_metric_filter(
    target: Callable[..., Any],
    self: Any,
    filter_name: str,
    filter_pattern: str,
    log_group_name: str,
    metric_transformations: Sequence[Mapping[str, Any]],
) -> None:
    from moto.logs.exceptions import ResourceNotFoundException

    if log_group_name not in self.groups:
        raise ResourceNotFoundException()
    _validated(lambda: MetricFilter(filter_pattern or "", metric_transformations))
    self.filters.delete_filter(filter_name, log_group_name)
    target(self, filter_name, filter_pattern, log_group_name, metric_transformations)


def _put_subscription_filter(
    target: Callable[..., Any], self: Any, *args: Any, **kwargs: Any
) -> Any:
    filter_pattern = kwargs.get("filter_pattern", args[2] if len(args) > 2 else None)
    if filter_pattern:
        _validated(lambda: compile_pattern(filter_pattern))
    return target(self, *args, **kwargs)


def _validated(build: Callable[[], object]) -> None:
    from moto.logs.exceptions import InvalidParameterException

    try:
        build()
    except FilterPatternError as exc:
        raise InvalidParameterException(str(exc)) from None
