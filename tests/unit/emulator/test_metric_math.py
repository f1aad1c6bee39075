"""embedded_localstack.metric_math: statistics, metric math and alarm decisions (no LocalStack)."""

from __future__ import annotations

import math

import pytest
from embedded_localstack.metric_math import (
    COMPARISON_OPERATORS,
    MetricMathError,
    Query,
    StatisticSet,
    decide_alarm_state,
    evaluate_queries,
    percentile,
    percentile_rank,
    statistic,
    time_grid,
)

# --- statistics ---------------------------------------------------------------------------

ONE_TO_HUNDRED = [float(v) for v in range(1, 101)]


@pytest.mark.parametrize(
    ("values", "rank", "expected"),
    [
        # pNN is the smallest sample with NN % of the samples at or below it (nearest rank).
        (ONE_TO_HUNDRED, 95, 95.0),
        (ONE_TO_HUNDRED, 99, 99.0),
        (ONE_TO_HUNDRED, 99.9, 100.0),
        (ONE_TO_HUNDRED, 50, 50.0),
        (ONE_TO_HUNDRED, 0, 1.0),
        (ONE_TO_HUNDRED, 100, 100.0),
        ([4.0, 1.0, 3.0, 2.0], 50, 2.0),  # a published value, not an interpolated 2.5
        ([4.0, 1.0, 3.0, 2.0], 51, 3.0),
        ([7.0], 99.9, 7.0),
        ([100.0] * 18 + [2000.0] * 2, 95, 2000.0),  # 2 slow calls in 20 decide the p95
        ([100.0] * 19 + [2000.0], 95, 100.0),
    ],
)
def test_percentile_is_nearest_rank(values: list[float], rank: float, expected: float) -> None:
    assert percentile(values, rank) == expected


@pytest.mark.parametrize(
    ("name", "rank"), [("p95", 95.0), ("p99.9", 99.9), ("P50", 50.0), ("p0", 0.0), ("Sum", None)]
)
def test_percentile_rank_parses_extended_statistics(name: str, rank: float | None) -> None:
    assert percentile_rank(name) == rank


def test_percentile_above_100_is_rejected() -> None:
    with pytest.raises(MetricMathError):
        percentile_rank("p101")


def test_standard_statistics_combine_samples_and_statistic_sets() -> None:
    values = [1.0, 2.0, 3.0]
    sets = [StatisticSet(sample_count=2, total=30.0, minimum=10.0, maximum=20.0)]
    assert statistic("SampleCount", values, sets) == 5.0
    assert statistic("Sum", values, sets) == 36.0
    assert statistic("Average", values, sets) == 36.0 / 5
    assert statistic("Minimum", values, sets) == 1.0
    assert statistic("Maximum", values, sets) == 20.0
    # Percentiles cannot be derived from pre-aggregated sets.
    assert statistic("p50", values, sets) == 2.0
    assert statistic("p50", [], sets) is None


def test_a_period_without_samples_has_no_statistic() -> None:
    assert statistic("Sum", []) is None
    assert statistic("SampleCount", []) is None


def test_unknown_statistic_is_rejected() -> None:
    with pytest.raises(MetricMathError):
        statistic("Median", [1.0])


# --- metric math ----------------------------------------------------------------------------

GRID = time_grid(0, 40, 10)  # [0, 10, 20, 30]
ERRORS = {0: 1.0, 10: 0.0, 30: 2.0}  # no data point at 20
INVOCATIONS = {0: 10.0, 10: 0.0, 20: 5.0, 30: 4.0}


def run(expression: str) -> object:
    results = evaluate_queries(
        [Query("errors"), Query("invocations"), Query("result", expression)],
        {"errors": ERRORS, "invocations": INVOCATIONS},
        GRID,
    )
    return results["result"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # series / series meet where both have a point; x/0 has no point
        ("100*errors/invocations", {0: 10.0, 30: 50.0}),
        ("100 * (errors / invocations)", {0: 10.0, 30: 50.0}),
        ("errors + invocations", {0: 11.0, 10: 0.0, 30: 6.0}),
        ("invocations - errors * 2", {0: 8.0, 10: 0.0, 30: 0.0}),
        ("errors / 0", {}),
        ("-errors", {0: -1.0, 10: -0.0, 30: -2.0}),
        ("invocations ^ 2", {0: 100.0, 10: 0.0, 20: 25.0, 30: 16.0}),
        ("2 * 3 + 1", 7.0),
        ("2 * (3 + 1)", 8.0),
        ("1 / 0", math.nan),
        # comparisons and logic give 1/0
        ("invocations > 4", {0: 1.0, 10: 0.0, 20: 1.0, 30: 0.0}),
        ("invocations >= 4 AND errors > 0", {0: 1.0, 10: 0.0, 30: 1.0}),
        ("errors > 1 || invocations == 10", {0: 1.0, 10: 0.0, 30: 1.0}),
        ("NOT errors", {0: 0.0, 10: 1.0, 30: 0.0}),
        # IF follows the condition's timestamps; a missing branch value drops the point
        ("IF(invocations > 4, errors, -1)", {0: 1.0, 10: -1.0, 30: -1.0}),
        ("IF(invocations > 4, invocations)", {0: 10.0, 20: 5.0}),
        ("IF(invocations, 100*errors/invocations, 0)", {0: 10.0, 10: 0.0, 30: 50.0}),
        # FILL over the request's periods
        ("FILL(errors, 0)", {0: 1.0, 10: 0.0, 20: 0.0, 30: 2.0}),
        ("FILL(errors, REPEAT)", {0: 1.0, 10: 0.0, 20: 0.0, 30: 2.0}),
        ("FILL(errors, LINEAR)", {0: 1.0, 10: 0.0, 20: 1.0, 30: 2.0}),
        ("FILL(errors, invocations)", {0: 1.0, 10: 0.0, 20: 5.0, 30: 2.0}),
        ("100 * FILL(errors, 0) / invocations", {0: 10.0, 20: 0.0, 30: 50.0}),
        # of an array: one series; of a series: one scalar
        ("SUM(METRICS())", {0: 11.0, 10: 0.0, 20: 5.0, 30: 6.0}),
        ("SUM([errors, invocations])", {0: 11.0, 10: 0.0, 20: 5.0, 30: 6.0}),
        ("MAX(METRICS())", {0: 10.0, 10: 0.0, 20: 5.0, 30: 4.0}),
        ("MIN(METRICS())", {0: 1.0, 10: 0.0, 20: 5.0, 30: 2.0}),
        ("AVG(METRICS())", {0: 5.5, 10: 0.0, 20: 5.0, 30: 3.0}),
        ('SUM(METRICS("err"))', {0: 1.0, 10: 0.0, 30: 2.0}),
        ("SUM(errors)", 3.0),
        ("AVG(invocations)", 19.0 / 4),
        ("MAX(errors)", 2.0),
        ("MIN(invocations)", 0.0),
        ("errors - AVG(errors)", {0: 0.0, 10: -1.0, 30: 1.0}),
        ("SUM(FILL(METRICS(), 0))", {0: 11.0, 10: 0.0, 20: 5.0, 30: 6.0}),
        ("ABS(errors - 1)", {0: 0.0, 10: 1.0, 30: 1.0}),
    ],
)
def test_expressions(expression: str, expected: object) -> None:
    result = run(expression)
    if isinstance(expected, float) and math.isnan(expected):
        assert isinstance(result, float) and math.isnan(result)
    else:
        assert result == expected


def test_expressions_can_build_on_expressions_in_any_order() -> None:
    results = evaluate_queries(
        [
            Query("percent", "rate * 100"),
            Query("rate", "errors / invocations"),
            Query("errors"),
            Query("invocations"),
        ],
        {"errors": ERRORS, "invocations": INVOCATIONS},
        GRID,
    )
    assert results["percent"] == {0: 10.0, 30: 50.0}


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "empty"),
        ("100 *", "Unexpected end"),
        ("(errors", "Unexpected end"),
        ("errors +* invocations", "Unexpected '*' at position 9"),
        ("errors invocations", "Unexpected 'invocations'"),
        ("errors )", "Unexpected ')'"),
        ("errors % 2", "Unexpected character '%'"),
        ("NOPE(errors)", "Unknown function NOPE"),
        ("FILL(errors)", "FILL takes 2 arguments, 1 given"),
        ("IF(errors)", "IF takes 2 to 3 arguments"),
        ("SUM(errors, invocations)", "SUM takes 1 arguments, 2 given"),
        ("Errors * 2", "start with a lowercase letter"),
        ("m9 * 2", "Unrecognized query id 'm9'"),
        ("METRICS(errors)", "optional string"),
        ("REPEAT + 1", "only valid as arguments"),
        ("FILL(errors, METRICS())", "FILL takes a scalar"),
    ],
)
def test_malformed_expressions_name_the_query(expression: str, message: str) -> None:
    with pytest.raises(MetricMathError, match="Error in expression 'result'") as raised:
        run(expression)
    assert message in str(raised.value)


def test_circular_expressions_are_rejected() -> None:
    with pytest.raises(MetricMathError, match="Circular"):
        evaluate_queries([Query("a", "b + 1"), Query("b", "a + 1")], {}, GRID)


def test_duplicate_ids_are_rejected() -> None:
    with pytest.raises(MetricMathError, match="unique"):
        evaluate_queries([Query("a"), Query("a", "1")], {"a": {}}, GRID)


# --- alarm decisions ------------------------------------------------------------------------

GREATER, _ = COMPARISON_OPERATORS["GreaterThanThreshold"]


def breaches(value: float) -> bool:
    return GREATER(value, 10.0)


def points(*values: float | None) -> list[tuple[int, float | None]]:
    return [(index * 60, value) for index, value in enumerate(values)]


BAD, GOOD, MISSING = 20.0, 5.0, None  # breaching, not breaching, missing


@pytest.mark.parametrize(
    ("series", "n", "m", "treatment", "state"),
    [
        # all points present: M out of the last N
        (points(GOOD, GOOD, GOOD, BAD, BAD), 3, 3, "missing", "OK"),
        (points(GOOD, GOOD, BAD, BAD, BAD), 3, 3, "missing", "ALARM"),
        (points(GOOD, GOOD, GOOD, BAD, BAD), 3, 2, "missing", "ALARM"),
        (points(BAD, BAD, BAD, BAD, GOOD), 1, 1, "missing", "OK"),  # only the newest period counts
        # AWS's missing-data table (N = M = 3, evaluation range of 5)
        (points(GOOD, MISSING, BAD, MISSING, BAD), 3, 3, "missing", "OK"),
        (points(GOOD, MISSING, BAD, MISSING, BAD), 3, 3, "ignore", "OK"),
        (points(GOOD, MISSING, BAD, MISSING, BAD), 3, 3, "breaching", "ALARM"),
        (points(GOOD, MISSING, BAD, MISSING, BAD), 3, 3, "notBreaching", "OK"),
        (points(GOOD, MISSING, MISSING, MISSING, MISSING), 3, 3, "missing", "OK"),
        (points(GOOD, MISSING, MISSING, MISSING, MISSING), 3, 3, "breaching", "ALARM"),
        (points(*[MISSING] * 5), 3, 3, "missing", "INSUFFICIENT_DATA"),
        (points(*[MISSING] * 5), 3, 3, "ignore", None),
        (points(*[MISSING] * 5), 3, 3, "breaching", "ALARM"),
        (points(*[MISSING] * 5), 3, 3, "notBreaching", "OK"),
        # premature alarm: the oldest point of the last N is M periods old and breaches
        (points(MISSING, MISSING, BAD, MISSING, MISSING), 3, 3, "missing", "ALARM"),
        (points(MISSING, MISSING, BAD, MISSING, MISSING), 3, 3, "ignore", None),
        (points(MISSING, MISSING, MISSING, BAD, MISSING), 3, 3, "missing", "OK"),
        # sparse data: missing/ignore look back past N for existing points
        (points(BAD, MISSING, MISSING), 1, 1, "missing", "ALARM"),
        (points(BAD, MISSING, MISSING), 1, 1, "notBreaching", "OK"),
    ],
)
def test_alarm_decisions(
    series: list[tuple[int, float | None]], n: int, m: int, treatment: str, state: str | None
) -> None:
    assert decide_alarm_state(series, breaches, n, m, treatment).state == state


def test_decision_reports_the_points_it_counted() -> None:
    decision = decide_alarm_state(points(GOOD, BAD, MISSING, BAD), breaches, 2, 2, "missing")
    assert decision.state == "ALARM"
    assert decision.evaluated == ((60, BAD), (180, BAD))
    assert decision.breaching == 2


def test_unknown_missing_data_treatment_is_rejected() -> None:
    with pytest.raises(MetricMathError):
        decide_alarm_state(points(BAD), breaches, 1, 1, "sometimes")
