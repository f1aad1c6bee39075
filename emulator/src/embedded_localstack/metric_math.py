"""CloudWatch arithmetic without LocalStack: statistics, metric math, alarm decisions.

Pure and stdlib-only so it is unit-tested on the controller's Python 3.12 and imported by the
LocalStack plugin on 3.13. A time series is a ``dict`` of period start (unix seconds) to value;
a missing data point is an absent key, never ``None`` or NaN.
"""

from __future__ import annotations

import itertools
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

Series = dict[int, float]
# What an expression can evaluate to: a scalar, one time series or an array of them.
Value = float | Series | list[Series]


class MetricMathError(ValueError):
    """A malformed statistic or expression; CloudWatch answers these with ValidationError."""


# --- statistics ---------------------------------------------------------------------------

STANDARD_STATISTICS = ("SampleCount", "Sum", "Average", "Minimum", "Maximum")
_PERCENTILE = re.compile(r"^[pP](\d{1,3}(?:\.\d{1,10})?)$")


@dataclass(frozen=True)
class StatisticSet:
    """A pre-aggregated sample as sent with ``PutMetricData(StatisticValues=...)``."""

    sample_count: float
    total: float
    minimum: float
    maximum: float


def percentile_rank(statistic: str) -> float | None:
    """The NN of ``pNN``/``pNN.N``, or None when ``statistic`` is not a percentile."""
    match = _PERCENTILE.match(statistic)
    if not match:
        return None
    rank = float(match.group(1))
    if rank > 100:
        raise MetricMathError(f"The value {statistic} for the statistic is not supported.")
    return rank


def is_statistic(statistic: str) -> bool:
    return statistic in STANDARD_STATISTICS or _PERCENTILE.match(statistic) is not None


def percentile(values: Sequence[float], rank: float) -> float:
    """Nearest-rank percentile: the smallest observed value with ``rank`` % of samples at or
    below it, so pNN is always a value that was published (as CloudWatch reports them)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    position = math.ceil(rank / 100 * len(ordered))
    return ordered[max(position, 1) - 1]


def statistic(
    name: str, values: Sequence[float], statistic_sets: Sequence[StatisticSet] = ()
) -> float | None:
    """One period's statistic, or None when the period has no samples the statistic can use.

    Percentiles need individual values: pre-aggregated sets are ignored for them, as CloudWatch
    cannot derive percentiles from ``StatisticValues`` either.
    """
    rank = percentile_rank(name)
    if rank is not None:
        return percentile(values, rank) if values else None
    if name not in STANDARD_STATISTICS:
        raise MetricMathError(f"The value {name} for the statistic is not supported.")
    sample_count = len(values) + sum(s.sample_count for s in statistic_sets)
    if not sample_count:
        return None
    if name == "SampleCount":
        return float(sample_count)
    total = math.fsum(values) + math.fsum(s.total for s in statistic_sets)
    if name == "Sum":
        return total
    if name == "Average":
        return total / sample_count
    if name == "Minimum":
        return min([*values, *(s.minimum for s in statistic_sets)])
    return max([*values, *(s.maximum for s in statistic_sets)])


# --- metric math: tokens ------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
      | (?P<string>"[^"]*")
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>==|!=|<=|>=|&&|\|\||[-+*/^<>(),\[\]])
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"AND": "&&", "OR": "||", "NOT": "NOT"}
_FILL_MODES = ("REPEAT", "LINEAR")


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, name, op, end
    text: str
    position: int


def _tokenize(expression: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    stripped_length = len(expression.rstrip())
    while position < stripped_length:
        match = _TOKEN.match(expression, position)
        if not match or match.end() == position:
            raise MetricMathError(
                f"Unexpected character {expression[position:].lstrip()[:1]!r} "
                f"at position {position + 1}."
            )
        kind = match.lastgroup or "op"
        text = match.group(kind)
        if kind == "name" and text in _KEYWORDS:
            kind, text = "op", _KEYWORDS[text]
        tokens.append(_Token(kind, text, match.start(kind) + 1))
        position = match.end()
    tokens.append(_Token("end", "", position + 1))
    return tokens


# --- metric math: syntax tree -------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class Reference:
    """The Id of another query in the same request."""

    query_id: str


@dataclass(frozen=True)
class Keyword:
    """``REPEAT`` or ``LINEAR``, only meaningful as FILL's second argument."""

    name: str


@dataclass(frozen=True)
class Call:
    function: str
    arguments: tuple[Node, ...]


@dataclass(frozen=True)
class Unary:
    operator: str
    operand: Node


@dataclass(frozen=True)
class Binary:
    operator: str
    left: Node
    right: Node


@dataclass(frozen=True)
class ArrayLiteral:
    items: tuple[Node, ...]


Node = Number | Text | Reference | Keyword | Call | Unary | Binary | ArrayLiteral

# Lowest precedence first; each level is left-associative except ``^``.
_BINARY_LEVELS: tuple[tuple[str, ...], ...] = (
    ("||",),
    ("&&",),
    ("==", "!=", "<", "<=", ">", ">="),
    ("+", "-"),
    ("*", "/"),
)


class _Parser:
    def __init__(self, expression: str) -> None:
        self.tokens = _tokenize(expression)
        self.index = 0

    def parse(self) -> Node:
        if self.tokens[0].kind == "end":
            raise MetricMathError("The expression is empty.")
        node = self._binary(0)
        self._expect_end()
        return node

    def _peek(self) -> _Token:
        return self.tokens[self.index]

    def _next(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _fail(self, token: _Token) -> MetricMathError:
        if token.kind == "end":
            return MetricMathError("Unexpected end of expression.")
        return MetricMathError(f"Unexpected {token.text!r} at position {token.position}.")

    def _expect(self, text: str) -> None:
        token = self._next()
        if token.kind != "op" or token.text != text:
            raise self._fail(token)

    def _expect_end(self) -> None:
        if self._peek().kind != "end":
            raise self._fail(self._peek())

    def _binary(self, level: int) -> Node:
        if level == len(_BINARY_LEVELS):
            return self._unary()
        node = self._binary(level + 1)
        while self._peek().kind == "op" and self._peek().text in _BINARY_LEVELS[level]:
            symbol = self._next().text
            node = Binary(symbol, node, self._binary(level + 1))
        return node

    def _unary(self) -> Node:
        token = self._peek()
        if token.kind == "op" and token.text in ("-", "+", "NOT"):
            self._next()
            operand = self._binary(2) if token.text == "NOT" else self._unary()
            return operand if token.text == "+" else Unary(token.text, operand)
        return self._power()

    def _power(self) -> Node:
        base = self._primary()
        if self._peek().kind == "op" and self._peek().text == "^":
            self._next()
            return Binary("^", base, self._unary())
        return base

    def _primary(self) -> Node:
        token = self._next()
        if token.kind == "number":
            return Number(float(token.text))
        if token.kind == "string":
            return Text(token.text[1:-1])
        if token.kind == "name":
            if self._peek().kind == "op" and self._peek().text == "(":
                self._next()
                return Call(token.text, self._items(")"))
            if token.text in _FILL_MODES:
                return Keyword(token.text)
            if not token.text[0].islower():
                raise MetricMathError(
                    f"Unknown name {token.text!r} at position {token.position}: "
                    "query ids start with a lowercase letter."
                )
            return Reference(token.text)
        if token.kind == "op" and token.text == "(":
            node = self._binary(0)
            self._expect(")")
            return node
        if token.kind == "op" and token.text == "[":
            return ArrayLiteral(self._items("]"))
        raise self._fail(token)

    def _items(self, closing: str) -> tuple[Node, ...]:
        items: list[Node] = []
        if self._peek().kind == "op" and self._peek().text == closing:
            self._next()
            return ()
        while True:
            items.append(self._binary(0))
            token = self._next()
            if token.kind == "op" and token.text == closing:
                return tuple(items)
            if token.kind != "op" or token.text != ",":
                raise self._fail(token)


def parse(expression: str) -> Node:
    """The syntax tree of a metric math expression; MetricMathError if it is malformed."""
    node = _Parser(expression).parse()
    _check_calls(node)
    return node


def references(node: Node) -> set[str]:
    """The query ids an expression reads (METRICS() reads every MetricStat query)."""
    match node:
        case Reference(query_id):
            return {query_id}
        case Call(_, arguments) | ArrayLiteral(arguments):
            return set().union(*(references(argument) for argument in arguments))
        case Unary(_, operand):
            return references(operand)
        case Binary(_, left, right):
            return references(left) | references(right)
    return set()


# --- metric math: evaluation --------------------------------------------------------------

_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": lambda a, b: a / b if b else math.nan,  # x/0 has no data point in CloudWatch
    "^": lambda a, b: _power(a, b),
    "==": lambda a, b: float(a == b),
    "!=": lambda a, b: float(a != b),
    "<": lambda a, b: float(a < b),
    "<=": lambda a, b: float(a <= b),
    ">": lambda a, b: float(a > b),
    ">=": lambda a, b: float(a >= b),
    "&&": lambda a, b: float(bool(a) and bool(b)),
    "||": lambda a, b: float(bool(a) or bool(b)),
}


def _power(base: float, exponent: float) -> float:
    try:
        result = base**exponent
    except (OverflowError, ZeroDivisionError):
        return math.nan
    return result if isinstance(result, float | int) else math.nan  # complex: undefined


_ELEMENTWISE: dict[str, Callable[[float], float]] = {
    "ABS": abs,
    "CEIL": lambda value: float(math.ceil(value)),
    "FLOOR": lambda value: float(math.floor(value)),
}
_AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "SUM": math.fsum,
    "AVG": lambda values: math.fsum(values) / len(values),
    "MAX": max,
    "MIN": min,
}
# Function name -> (min arguments, max arguments).
_ARITY = {
    **{name: (1, 1) for name in (*_ELEMENTWISE, *_AGGREGATES)},
    "IF": (2, 3),
    "FILL": (2, 2),
    "METRICS": (0, 1),
}


def _check_calls(node: Node) -> None:
    match node:
        case Call(function, arguments):
            if function not in _ARITY:
                raise MetricMathError(f"Unknown function {function}.")
            low, high = _ARITY[function]
            if not low <= len(arguments) <= high:
                expected = str(low) if low == high else f"{low} to {high}"
                raise MetricMathError(
                    f"{function} takes {expected} arguments, {len(arguments)} given."
                )
            for argument in arguments:
                _check_calls(argument)
        case ArrayLiteral(items):
            for item in items:
                _check_calls(item)
        case Unary(_, operand):
            _check_calls(operand)
        case Binary(_, left, right):
            _check_calls(left)
            _check_calls(right)


def is_defined(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))


def _clean(series: Mapping[int, float]) -> Series:
    return {timestamp: value for timestamp, value in sorted(series.items()) if is_defined(value)}


@dataclass(frozen=True)
class Context:
    """What an expression can see: the other queries' results and the request's time grid."""

    results: Mapping[str, Value]
    metric_ids: Sequence[str]  # MetricStat queries in request order, for METRICS()
    grid: Sequence[int]  # every period start of the request, for FILL

    def lookup(self, query_id: str) -> Value:
        if query_id not in self.results:
            raise MetricMathError(f"Unrecognized query id {query_id!r} in the expression.")
        return self.results[query_id]


def evaluate(node: Node, context: Context) -> Value:
    match node:
        case Number(value):
            return value
        case Reference(query_id):
            return context.lookup(query_id)
        case Text() | Keyword():
            raise MetricMathError("Strings and REPEAT/LINEAR are only valid as arguments.")
        case ArrayLiteral(items):
            return [_as_series(evaluate(item, context), "an array item") for item in items]
        case Unary("-", operand):
            return _combine(evaluate(operand, context), -1.0, operator.mul)
        case Unary(_, operand):  # NOT
            return _combine(evaluate(operand, context), 0.0, lambda a, _: float(not a))
        case Binary(symbol, left, right):
            return _combine(evaluate(left, context), evaluate(right, context), _ARITHMETIC[symbol])
        case Call(function, arguments):
            return _call(function, arguments, context)
    raise MetricMathError(f"Cannot evaluate {node!r}.")


def _as_series(value: Value, what: str) -> Series:
    if not isinstance(value, dict):
        raise MetricMathError(f"Expected a single time series as {what}.")
    return value


def _combine(left: Value, right: Value, apply: Callable[[float, float], float]) -> Value:
    """A binary operation with CloudWatch's broadcasting: scalars apply to every point, two
    series meet only at the timestamps both have, arrays apply member by member."""
    if isinstance(left, list):
        return [_as_series(_combine(member, right, apply), "an array member") for member in left]
    if isinstance(right, list):
        return [_as_series(_combine(left, member, apply), "an array member") for member in right]
    if isinstance(left, dict) and isinstance(right, dict):
        return _clean({ts: apply(left[ts], right[ts]) for ts in left.keys() & right.keys()})
    if isinstance(left, dict):
        return _clean({ts: apply(value, right) for ts, value in left.items()})
    if isinstance(right, dict):
        return _clean({ts: apply(left, value) for ts, value in right.items()})
    return apply(left, right)


def _call(function: str, arguments: tuple[Node, ...], context: Context) -> Value:
    if function == "METRICS":
        return _metrics(arguments, context)
    if function == "FILL":
        return _fill(evaluate(arguments[0], context), arguments[1], context)
    values = [evaluate(argument, context) for argument in arguments]
    if function == "IF":
        return _if(*values)
    if function in _ELEMENTWISE:
        apply = _ELEMENTWISE[function]
        return _combine(values[0], 0.0, lambda value, _: apply(value))
    return _aggregate(_AGGREGATES[function], values[0])


def _metrics(arguments: tuple[Node, ...], context: Context) -> list[Series]:
    if arguments and not isinstance(arguments[0], Text):
        raise MetricMathError('METRICS takes an optional string, as in METRICS("errors").')
    wanted = arguments[0].value if arguments and isinstance(arguments[0], Text) else ""
    return [
        _as_series(context.lookup(query_id), "a metric")
        for query_id in context.metric_ids
        if wanted in query_id
    ]


def _aggregate(reduce: Callable[[list[float]], float], value: Value) -> Value:
    """Of an array: one series, point by point over the members that have the point.
    Of a series: one scalar over all its points (NaN, i.e. no value, when it is empty)."""
    if isinstance(value, list):
        timestamps = sorted(set().union(*(member.keys() for member in value)))
        return _clean(
            {ts: reduce([member[ts] for member in value if ts in member]) for ts in timestamps}
        )
    if isinstance(value, dict):
        return reduce(list(value.values())) if value else math.nan
    return value


def _if(condition: Value, when_true: Value, when_false: Value | None = None) -> Value:
    """IF(condition, a[, b]): per timestamp of the condition; without b, false drops the point."""
    if isinstance(condition, list) or isinstance(when_true, list) or isinstance(when_false, list):
        raise MetricMathError("IF does not take arrays of time series.")
    if not isinstance(condition, dict):
        chosen = when_true if condition else when_false
        return {} if chosen is None else chosen

    def pick(branch: Value | None, timestamp: int) -> float:
        if branch is None:
            return math.nan
        if isinstance(branch, dict):
            return branch.get(timestamp, math.nan)
        return float(branch)  # a scalar branch

    return _clean(
        {
            timestamp: pick(when_true if value else when_false, timestamp)
            for timestamp, value in condition.items()
        }
    )


def _fill(value: Value, filler: Node, context: Context) -> Value:
    if isinstance(value, list):
        return [_as_series(_fill(member, filler, context), "a filled member") for member in value]
    series = _as_series(value, "FILL's first argument")
    if isinstance(filler, Keyword):
        return (
            _fill_repeat(series, context.grid)
            if filler.name == "REPEAT"
            else _fill_linear(series, context.grid)
        )
    fill_with = evaluate(filler, context)
    if isinstance(fill_with, list):
        raise MetricMathError("FILL takes a scalar, a time series, REPEAT or LINEAR.")
    filled: Series = {}
    for timestamp in sorted({*context.grid, *series}):
        if timestamp in series:
            filled[timestamp] = series[timestamp]
        elif isinstance(fill_with, dict):
            if timestamp in fill_with:
                filled[timestamp] = fill_with[timestamp]
        else:
            filled[timestamp] = fill_with
    return _clean(filled)


def _fill_repeat(series: Series, grid: Sequence[int]) -> Series:
    """Each gap takes the last value before it; leading gaps stay empty."""
    filled: Series = {}
    last: float | None = None
    for timestamp in sorted({*grid, *series}):
        last = series.get(timestamp, last)
        if last is not None:
            filled[timestamp] = last
    return filled


def _fill_linear(series: Series, grid: Sequence[int]) -> Series:
    """Each gap between two points lies on the line joining them; edge gaps stay empty."""
    known = sorted(series)
    filled = dict(series)
    for before, after in itertools.pairwise(known):
        slope = (series[after] - series[before]) / (after - before)
        for timestamp in grid:
            if before < timestamp < after:
                filled[timestamp] = series[before] + slope * (timestamp - before)
    return dict(sorted(filled.items()))


@dataclass(frozen=True)
class Query:
    """One MetricDataQuery reduced to what evaluation needs."""

    query_id: str
    expression: str | None = None  # None for a MetricStat query


def evaluate_queries(
    queries: Sequence[Query], metric_results: Mapping[str, Series], grid: Sequence[int]
) -> dict[str, Value]:
    """Every query's value: MetricStat results as given, expressions in dependency order.

    Raises MetricMathError naming the query for malformed expressions, unknown ids and cycles.
    """
    by_id = {query.query_id: query for query in queries}
    if len(by_id) != len(queries):
        raise MetricMathError("The Id of each query must be unique.")
    metric_ids = [query.query_id for query in queries if query.expression is None]
    results: dict[str, Value] = {query_id: metric_results[query_id] for query_id in metric_ids}
    trees: dict[str, Node] = {}
    for query in queries:
        if query.expression is not None:
            try:
                trees[query.query_id] = parse(query.expression)
            except MetricMathError as error:
                raise MetricMathError(f"Error in expression '{query.query_id}': {error}") from None

    in_progress: set[str] = set()

    def resolve(query_id: str) -> None:
        if query_id in results:
            return
        if query_id not in trees:
            return  # an unknown id fails in Context.lookup with the expression's name
        if query_id in in_progress:
            raise MetricMathError(f"Circular reference through expression '{query_id}'.")
        in_progress.add(query_id)
        for dependency in sorted(references(trees[query_id])):
            resolve(dependency)
        context = Context(results, metric_ids, grid)
        try:
            results[query_id] = evaluate(trees[query_id], context)
        except MetricMathError as error:
            raise MetricMathError(f"Error in expression '{query_id}': {error}") from None
        in_progress.discard(query_id)

    for query_id in trees:
        resolve(query_id)
    return results


def time_grid(start: int, end: int, period: int) -> list[int]:
    """The period starts of [start, end), the buckets every statistic is computed in."""
    return list(range(start, end, period)) if period > 0 else []


# --- alarm decisions ----------------------------------------------------------------------

COMPARISON_OPERATORS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
TREAT_MISSING_DATA = ("missing", "ignore", "breaching", "notBreaching")


@dataclass(frozen=True)
class AlarmDecision:
    """The state an evaluation leads to (None: keep the current one) and why."""

    state: str | None
    # (period start, value) of the data points the decision counted, oldest first.
    evaluated: tuple[tuple[int, float], ...]
    breaching: int
    missing_as: str | None = None  # set when only missing data decided


def decide_alarm_state(
    points: Sequence[tuple[int, float | None]],
    breaches: Callable[[float], bool],
    evaluation_periods: int,
    datapoints_to_alarm: int,
    treat_missing_data: str = "missing",
) -> AlarmDecision:
    """CloudWatch's M-out-of-N rule over ``points``, oldest first, which span the evaluation
    range (more periods than N, so alarms on sparse data can look back).

    - breaching / notBreaching: the last N periods count, missing ones as that treatment says.
    - missing / ignore: the most recent N existing points count; none at all is
      INSUFFICIENT_DATA (missing) or no change (ignore). With fewer than M points, the
      "premature alarm" rule applies: if the oldest existing point is M periods old and every
      point breaches, the alarm fires (missing) or holds (ignore).
    """
    if treat_missing_data not in TREAT_MISSING_DATA:
        raise MetricMathError(f"Unsupported TreatMissingData {treat_missing_data!r}.")
    window = list(points[-evaluation_periods:])
    if treat_missing_data in ("breaching", "notBreaching"):
        missing_breaches = treat_missing_data == "breaching"
        breaching = sum(
            missing_breaches if value is None else breaches(value) for _, value in window
        )
        present = tuple((ts, value) for ts, value in window if value is not None)
        state = "ALARM" if breaching >= datapoints_to_alarm else "OK"
        return AlarmDecision(state, present, breaching, treat_missing_data if not present else None)

    existing = [(ts, value) for ts, value in points if value is not None]
    if not existing:
        state = "INSUFFICIENT_DATA" if treat_missing_data == "missing" else None
        return AlarmDecision(state, (), 0, treat_missing_data)

    recent = tuple(existing[-evaluation_periods:])
    breaching = sum(breaches(value) for _, value in recent)
    if breaching >= datapoints_to_alarm:
        return AlarmDecision("ALARM", recent, breaching)

    # Premature alarm: every existing point lies in the last M periods, the one exactly M
    # periods old among them, and all of them breach.
    older, last_m = points[:-datapoints_to_alarm], points[-datapoints_to_alarm:]
    oldest_of_last_m = last_m[0][1] if len(last_m) == datapoints_to_alarm else None
    if (
        all(value is None for _, value in older)
        and oldest_of_last_m is not None
        and all(breaches(value) for _, value in last_m if value is not None)
    ):
        state = "ALARM" if treat_missing_data == "missing" else None
        return AlarmDecision(state, recent, breaching, treat_missing_data)
    return AlarmDecision("OK", recent, breaching)


def format_points(points: Iterable[tuple[int, float]], render_time: Callable[[int], str]) -> str:
    return ", ".join(f"{value} ({render_time(ts)})" for ts, value in points)
