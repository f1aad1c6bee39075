"""Logs Insights queries, with a local fallback for emulators that do not run them.

The fallback understands the subset dashboards here use — `SOURCE`, `fields`, `filter` (comparisons,
`like`, `and`/`or`), `sort`, `limit` — and evaluates it over FilterLogEvents results in Python.
LocalStack's own filter patterns are not evaluated (every event matches), so no pattern is sent.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

DEFAULT_FIELDS = ("@timestamp", "@message")
DEFAULT_LIMIT = 1000  # Logs Insights' own default
FALLBACK_EVENT_CAP = 20_000
QUERY_TIMEOUT_SECONDS = 30.0

Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]


class UnsupportedQuery(ValueError):
    """The query uses something the local evaluator does not implement."""


@dataclass(frozen=True)
class Condition:
    field: str
    operator: str  # one of = != < <= > >= like "not like" in "not in"
    value: str | float | re.Pattern[str] | tuple[str | float, ...]

    def __call__(self, record: Record) -> bool:
        actual = record.get(self.field)
        if actual is None:
            return self.operator in ("!=", "not like", "not in")
        if isinstance(self.value, tuple):
            found = any(_compare(actual, "=", option) for option in self.value)
            return found if self.operator == "in" else not found
        if isinstance(self.value, re.Pattern):
            found = self.value.search(str(actual)) is not None
            return found if self.operator in ("like", "=") else not found
        if self.operator in ("like", "not like"):
            found = str(self.value) in str(actual)
            return found if self.operator == "like" else not found
        return _compare(actual, self.operator, self.value)


@dataclass(frozen=True)
class InsightsQuery:
    log_groups: tuple[str, ...]
    fields: tuple[str, ...] = DEFAULT_FIELDS
    # Disjunctive normal form: the record matches if every condition of any one group holds.
    filters: tuple[tuple[tuple[Condition, ...], ...], ...] = ()
    sort_field: str = "@timestamp"
    sort_descending: bool = True
    limit: int = DEFAULT_LIMIT
    body: str = field(default="", compare=False)  # the query without SOURCE, for StartQuery

    def matches(self, record: Record) -> bool:
        return all(any(all(c(record) for c in group) for group in dnf) for dnf in self.filters)


@dataclass(frozen=True)
class LogTable:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    path: str  # how the rows were obtained, shown to the operator


def parse_query(query: str, default_log_groups: Iterable[str] = ()) -> InsightsQuery:
    log_groups: list[str] = []
    fields: tuple[str, ...] = DEFAULT_FIELDS
    filters: list[tuple[tuple[Condition, ...], ...]] = []
    sort_field, sort_descending, limit = "@timestamp", True, DEFAULT_LIMIT
    body_stages: list[str] = []
    for stage in _split_stages(query):
        command, _, rest = stage.partition(" ")
        command, rest = command.lower(), rest.strip()
        if command == "source":
            log_groups.extend(_unquote(token) for token in _tokenize(rest))
            continue
        body_stages.append(stage)
        if command == "fields":
            fields = tuple(name.strip() for name in rest.split(",") if name.strip())
        elif command == "filter":
            filters.append(_parse_filter(rest))
        elif command == "sort":
            parts = rest.split()
            if not parts:
                raise UnsupportedQuery("`sort` needs a field")
            sort_field = parts[0]
            sort_descending = len(parts) < 2 or parts[1].lower() != "asc"
        elif command == "limit":
            if not rest.isdigit():
                raise UnsupportedQuery(f"`limit {rest}` is not a number")
            limit = int(rest)
        else:
            raise UnsupportedQuery(f"`{command}` is not evaluated by the local fallback")
    return InsightsQuery(
        log_groups=tuple(log_groups) or tuple(default_log_groups),
        fields=fields,
        filters=tuple(filters),
        sort_field=sort_field,
        sort_descending=sort_descending,
        limit=limit,
        body=" | ".join(body_stages),
    )


def record_from_event(event: Mapping[str, Any], log_group: str) -> dict[str, Any]:
    """The fields a query can name: Insights' @-fields plus the JSON fields of the message."""
    message = str(event.get("message", "")).rstrip("\n")
    record: dict[str, Any] = {
        "@timestamp": int(event.get("timestamp", 0)),
        "@message": message,
        "@logStream": event.get("logStreamName", ""),
        "@log": log_group,
    }
    try:
        parsed = json.loads(message)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        record.update(_flatten(parsed))
    return record


def evaluate(query: InsightsQuery, records: Iterable[Record]) -> list[Record]:
    matching = [record for record in records if query.matches(record)]
    present = [r for r in matching if r.get(query.sort_field) is not None]
    absent = [r for r in matching if r.get(query.sort_field) is None]
    present.sort(key=lambda r: _sort_key(r[query.sort_field]), reverse=query.sort_descending)
    return (present + absent)[: query.limit]


def table_from_records(query: InsightsQuery, records: Iterable[Record], path: str) -> LogTable:
    rows = tuple(tuple(_cell(name, r.get(name)) for name in query.fields) for r in records)
    return LogTable(columns=query.fields, rows=rows, path=path)


def run_query(
    logs: Any,
    query_text: str,
    start_ms: int,
    end_ms: int,
    default_log_groups: Iterable[str] = (),
    prefer_fallback: bool = False,
) -> LogTable:
    """Run on Logs Insights, or over FilterLogEvents when Insights fails or is known to be
    unfaithful (`prefer_fallback`: LocalStack 4.14 answers StartQuery but ignores `filter`)."""
    query = parse_query(query_text, default_log_groups)
    if not query.log_groups:
        raise UnsupportedQuery("the query names no log group (SOURCE '...')")
    if prefer_fallback:
        reason = "the emulator's Logs Insights ignores filter"
    else:
        try:
            return LogTable(
                query.fields, _start_and_wait(logs, query, start_ms, end_ms), "Logs Insights"
            )
        except (ClientError, BotoCoreError, TimeoutError) as error:
            reason = f"StartQuery failed: {_short_error(error)}"
    records = [
        record_from_event(event, group)
        for group in query.log_groups
        for event in _filter_log_events(logs, group, start_ms, end_ms)
    ]
    return table_from_records(
        query, evaluate(query, records), f"FilterLogEvents fallback ({reason})"
    )


def _start_and_wait(
    logs: Any, query: InsightsQuery, start_ms: int, end_ms: int
) -> tuple[tuple[str, ...], ...]:
    query_id = logs.start_query(
        logGroupNames=list(query.log_groups),
        startTime=start_ms // 1000,
        endTime=end_ms // 1000 + 1,
        queryString=query.body or "fields @timestamp, @message",
        limit=min(query.limit, 10_000),
    )["queryId"]
    deadline = time.monotonic() + QUERY_TIMEOUT_SECONDS
    while True:
        answer = logs.get_query_results(queryId=query_id)
        if answer["status"] in ("Complete", "Failed", "Cancelled", "Timeout"):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"query still {answer['status']} after {QUERY_TIMEOUT_SECONDS}s")
        time.sleep(0.5)
    if answer["status"] != "Complete":
        raise TimeoutError(f"query ended {answer['status']}")
    return tuple(
        tuple(next((c["value"] for c in row if c["field"] == name), "") for name in query.fields)
        for row in answer["results"]
    )


def _filter_log_events(logs: Any, group: str, start_ms: int, end_ms: int) -> Iterable[dict]:
    paginator = logs.get_paginator("filter_log_events")
    seen = 0
    for page in paginator.paginate(logGroupName=group, startTime=start_ms, endTime=end_ms):
        for event in page.get("events", []):
            yield event
            seen += 1
            if seen >= FALLBACK_EVENT_CAP:
                return


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<regex>/(?:[^/\\]|\\.)*/i?)
      | (?P<operator><=|>=|!=|=~|==|=|<|>)
      | (?P<paren>[()])
      | (?P<list>\[[^\]]*\])
      | (?P<word>[^\s'"=<>!()]+)
    )""",
    re.VERBOSE,
)


def _tokenize(text: str) -> list[str]:
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match:
            raise UnsupportedQuery(f"cannot read {text[position:]!r}")
        tokens.append(match.group(match.lastgroup or "word"))
        position = match.end()
    return tokens


def _split_stages(query: str) -> list[str]:
    """Split on `|` outside quotes and regex literals."""
    stages: list[str] = []
    current: list[str] = []
    quote = ""
    for char in query:
        if quote:
            if char == quote and (not current or current[-1] != "\\"):
                quote = ""
            current.append(char)
            continue
        if char in "'\"`" or (char == "/" and _ends_with_regex_operator(current)):
            quote = char
        elif char == "|":
            stages.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    stages.append("".join(current).strip())
    return [stage for stage in stages if stage]


def _ends_with_regex_operator(text: list[str]) -> bool:
    words = "".join(text).split()
    return bool(words) and (words[-1].lower() == "like" or words[-1].endswith("=~"))


def _parse_filter(text: str) -> tuple[tuple[Condition, ...], ...]:
    tokens = _tokenize(text)
    if "(" in tokens or ")" in tokens:
        raise UnsupportedQuery("parentheses in `filter` are not evaluated by the local fallback")
    groups: list[tuple[Condition, ...]] = []
    conditions: list[Condition] = []
    position = 0
    while position < len(tokens):
        condition, position = _parse_condition(tokens, position)
        conditions.append(condition)
        if position < len(tokens):
            joiner = tokens[position].lower()
            if joiner == "or":
                groups.append(tuple(conditions))
                conditions = []
            elif joiner != "and":
                raise UnsupportedQuery(f"expected `and`/`or`, found {tokens[position]!r}")
            position += 1
    groups.append(tuple(conditions))
    return tuple(groups)


def _parse_condition(tokens: list[str], position: int) -> tuple[Condition, int]:
    try:
        name = tokens[position]
        operator = tokens[position + 1].lower()
        if operator == "not" and tokens[position + 2].lower() in ("like", "in"):
            operator, position = f"not {tokens[position + 2].lower()}", position + 1
        raw = tokens[position + 2]
    except IndexError:
        raise UnsupportedQuery(
            f"incomplete condition in `filter` near {tokens[position:]}"
        ) from None
    operator = {"==": "=", "=~": "like"}.get(operator, operator)
    if operator in ("in", "not in"):
        return Condition(name, operator, _literal_list(raw)), position + 3
    if operator not in ("=", "!=", "<", "<=", ">", ">=", "like", "not like"):
        raise UnsupportedQuery(f"operator {operator!r} is not evaluated by the local fallback")
    return Condition(name, operator, _literal(raw)), position + 3


def _literal_list(raw: str) -> tuple[str | float, ...]:
    """`["ERROR", "CRITICAL"]` (the right side of `in`) as literals."""
    if not (raw.startswith("[") and raw.endswith("]")):
        raise UnsupportedQuery(f"`in` needs a [list], found {raw!r}")
    items = [token for token in _tokenize(raw[1:-1].replace(",", " , ")) if token != ","]
    literals = [_literal(item) for item in items]
    if not literals or any(isinstance(item, re.Pattern) for item in literals):
        raise UnsupportedQuery(f"`in` needs a list of strings or numbers, found {raw!r}")
    return tuple(literals)  # type: ignore[arg-type]


def _literal(raw: str) -> str | float | re.Pattern[str]:
    if raw.startswith("/"):
        flags = re.IGNORECASE if raw.endswith("/i") else 0
        return re.compile(raw[1 : raw.rindex("/")], flags)
    if raw[0] in "'\"":
        return _unquote(raw)
    try:
        return float(raw)
    except ValueError:
        return raw  # a bare word, e.g. `level = ERROR`


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"`":
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    return token


def _compare(actual: Any, operator: str, expected: str | float) -> bool:
    if isinstance(expected, float):
        try:
            left: Any = float(actual)
        except (TypeError, ValueError):
            return operator == "!="
        right: Any = expected
    else:
        left, right = str(actual), expected
    return {
        "=": left == right,
        "!=": left != right,
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }[operator]


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _sort_key(value: Any) -> tuple[int, float | str]:
    try:
        return 0, float(value)
    except (TypeError, ValueError):
        return 1, str(value)


def _cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name == "@timestamp" and isinstance(value, int):
        return (
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(value / 1000)) + f".{value % 1000:03d}"
        )
    return value if isinstance(value, str) else json.dumps(value)


def _short_error(error: Exception) -> str:
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code", "ClientError")
    return str(error) or type(error).__name__
