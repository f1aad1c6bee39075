"""The filter-pattern engine against the examples of the AWS page "Filter pattern syntax for
metric filters, subscription filters, filter log events, and Live Tail"
(docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html; also
awsdocs/amazon-cloudwatch-logs-user-guide doc_source/FilterAndPatternSyntax.md). Each case names
the section it comes from; "edge" cases are ours."""

from __future__ import annotations

import json

import pytest
from embedded_localstack.filter_pattern import (
    FilterPatternError,
    LogEvent,
    MetricFilter,
    MetricFilterSet,
    compile_pattern,
)

TERMS = "Matching terms in unstructured log events"
OR = "OR pattern matching"
JSON_EX = "JSON metric filter examples"
COMPOUND = "JSON compound conditions"
NUMERIC = "Numeric comparisons"
SPECIAL = "JSON special considerations"
DELIMITED = "Space-delimited log events"
REGEX = "Supported regular expressions (regex) syntax"
EDGE = "edge"

# The example documents of the JSON sections, verbatim.
TRAIL_EVENT = json.dumps(
    {
        "eventType": "UpdateTrail",
        "sourceIPAddress": "111.111.111.111",
        "arrayKey": ["value", "another value"],
        "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
        "SomeObject": None,
        "ThisFlag": True,
    }
)
USERS_EVENT = json.dumps(
    {
        "user": {"id": 1, "email": "John.Stiles@example.com"},
        "users": [
            {"id": 2, "email": "John.Doe@example.com"},
            {"id": 3, "email": "Jane.Doe@example.com"},
        ],
        "actions": ["GET", "PUT", "DELETE"],
        "coordinates": [[0, 1, 2], [4, 5, 6], [7, 8, 9]],
    }
)
APACHE_200 = '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534'
APACHE_500 = '127.0.0.1 - frank [10/Oct/2000:13:35:22 -0700] "GET /apache_pb.gif HTTP/1.0" 500 5324'
APACHE_404 = '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534'
LAMBDA_START = "START RequestId: 8f5a1c2e-1 Version: $LATEST"
LAMBDA_REPORT = "REPORT RequestId: 8f5a1c2e-1\tDuration: 102.25 ms\tBilled Duration: 103 ms"

CASES: list[tuple[str, str, str, bool]] = [
    # --- unstructured terms: case sensitive, all terms must appear, substrings count
    (TERMS, "ERROR", "[ERROR] A fatal exception has occurred", True),
    (TERMS, "ERROR", "Exiting with ERRORCODE: -1", True),
    (TERMS, '"ERROR"', "Exiting with ERRORCODE: -1", True),
    (TERMS, "ERROR", "[error] lower case", False),
    (TERMS, '"ERROR" - "Exiting"', "Exiting with ERRORCODE: -1", False),
    (TERMS, '"ERROR" - "Exiting"', "[ERROR] A fatal exception has occurred", True),
    (TERMS, "ERROR Exception", "[ERROR] Caught IllegalArgumentException", True),
    (TERMS, "ERROR Exception", "[ERROR] Unhandled Exception", True),
    (TERMS, "ERROR Exception", "[ERROR] Unhandled failure", False),
    (TERMS, "Failed to process the request", "[WARN] Failed to process the request", True),
    (TERMS, "Failed to process the request", "[ERROR] Unable to continue: the request", False),
    (TERMS, '"INTERNAL SERVER ERROR"', "[ERROR 500] INTERNAL SERVER ERROR", True),
    (TERMS, '"INTERNAL SERVER ERROR"', "INTERNAL ERROR SERVER", False),
    (TERMS, "ERROR -ARGUMENTS", "[ERROR 400] BAD REQUEST", True),
    (TERMS, "ERROR -ARGUMENTS", "[ERROR 419] MISSING ARGUMENTS", False),
    (TERMS, '" "', "anything at all", True),
    (TERMS, '" "', "no-space", True),
    (TERMS, "", "the empty pattern matches everything", True),
    # --- OR pattern matching, the three example events
    (OR, "ERROR", "ERROR WARN message", True),
    (OR, "ERROR", "WARN message", False),
    (OR, "?ERROR ?WARN", "ERROR message", True),
    (OR, "?ERROR ?WARN", "WARN message", True),
    (OR, "?ERROR ?WARN", "INFO message", False),
    (OR, "ERROR WARN", "ERROR WARN message", True),
    (OR, "ERROR WARN", "ERROR message", False),
    (OR, "ERROR -WARN", "ERROR message", True),
    (OR, "ERROR -WARN", "ERROR WARN message", False),
    (OR, "[w1=ERROR, w2]", "ERROR message", True),
    (OR, "[w1=ERROR, w2]", "WARN message", False),
    (OR, "[w1=ERROR || w1=WARN, w2]", "WARN message", True),
    (OR, "[w1=ERROR || w1=WARN, w2]", "INFO message", False),
    (OR, "[w1!=ERROR && w1!=WARN, w2]", "INFO message", True),
    (OR, "[w1!=ERROR && w1!=WARN, w2]", "WARN message", False),
    (OR, "{$.foo = bar}", '{"foo": "bar"}', True),
    (OR, "{$.foo = baz }", '{"foo": "bar"}', False),
    (OR, "{$.foo = bar || $.foo = baz }", '{"foo": "baz"}', True),
    # --- JSON metric filter examples, against the documented event
    (JSON_EX, '{ $.eventType = "UpdateTrail" }', TRAIL_EVENT, True),
    (JSON_EX, '{ $.eventType = "updatetrail" }', TRAIL_EVENT, False),
    (JSON_EX, "{ $.sourceIPAddress != 123.123.* }", TRAIL_EVENT, True),
    (JSON_EX, "{ $.sourceIPAddress != 111.111.* }", TRAIL_EVENT, False),
    (JSON_EX, '{ $.arrayKey[0] = "value" }', TRAIL_EVENT, True),
    (JSON_EX, '{ $.arrayKey[1] = "value" }', TRAIL_EVENT, False),
    (JSON_EX, "{ $.objectList[1].id = 2 }", TRAIL_EVENT, True),
    (JSON_EX, "{ $.objectList[2].id = 2 }", TRAIL_EVENT, False),
    (JSON_EX, "{ $.SomeObject IS NULL }", TRAIL_EVENT, True),
    (JSON_EX, "{ $.eventType IS NULL }", TRAIL_EVENT, False),
    (JSON_EX, "{ $.SomeOtherObject NOT EXISTS }", TRAIL_EVENT, True),
    (JSON_EX, "{ $.SomeObject NOT EXISTS }", TRAIL_EVENT, False),
    (JSON_EX, "{ $.ThisFlag IS TRUE }", TRAIL_EVENT, True),
    (JSON_EX, "{ $.ThisFlag IS FALSE }", TRAIL_EVENT, False),
    (JSON_EX, "{ $.eventType = *Trail }", TRAIL_EVENT, True),
    (JSON_EX, "{ $.eventType = Update* }", TRAIL_EVENT, True),
    (JSON_EX, "{ $.eventType = Up*Trail }", TRAIL_EVENT, False),
    (JSON_EX, "{ $.eventType = * }", TRAIL_EVENT, True),
    (JSON_EX, "{ $.missing = * }", TRAIL_EVENT, False),
    # --- JSON compound conditions, against the documented event
    (
        COMPOUND,
        '{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }',
        USERS_EVENT,
        True,
    ),
    (
        COMPOUND,
        '{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }',
        USERS_EVENT,
        False,
    ),
    (
        COMPOUND,
        '{ $.user.email = "John.Stiles@example.com" || '
        "$.coordinates[0][1] = nonmatch && $.actions[2] = nomatch }",
        USERS_EVENT,
        True,
    ),
    (
        COMPOUND,
        '{ ($.user.email = "John.Stiles@example.com" || '
        "$.coordinates[0][1] = nonmatch) && $.actions[2] = nomatch }",
        USERS_EVENT,
        False,
    ),
    (COMPOUND, "{ $.coordinates[2][0] = 7 }", USERS_EVENT, True),
    # --- JSON special considerations: selectors on arrays/objects never match
    (SPECIAL, "{ $.users = 1 }", '{"users": [1, 2, 3]}', False),
    (SPECIAL, "{ $.users != 1 }", '{"users": [1, 2, 3]}', False),
    (SPECIAL, "{ $.user != 1 }", USERS_EVENT, False),
    # --- numeric comparisons
    (NUMERIC, "{ $.latency >= 500 }", '{"latency": 500}', True),
    (NUMERIC, "{ $.latency >= 500 }", '{"latency": 499.9}', False),
    (NUMERIC, "{ $.numbers[0] < 10e3 }", '{"numbers": [9999]}', True),
    (NUMERIC, "{ $.numbers[0] < 10e-3 }", '{"numbers": [0.01]}', False),
    (
        NUMERIC,
        "{ $.processes[4].averageRuntime <= 55.5 }",
        '{"processes": [0,0,0,0,{"averageRuntime": 55.5}]}',
        True,
    ),
    (NUMERIC, "{ $.errorCode = 400 }", '{"errorCode": 400.0}', True),
    (NUMERIC, "{ $.errorCode != 500 }", '{"errorCode": 400}', True),
    (NUMERIC, "{ $.errorCode != 500 }", '{"errorCode": 500}', False),
    (NUMERIC, "{ $.latency > +1000 }", '{"latency": 1001}', True),
    (NUMERIC, "{ $.latency > 1000 }", '{"latency": "2000"}', False),
    (NUMERIC, "{ $.latency > 0 }", '{"latency": true}', False),
    # --- space-delimited, the documented Apache lines
    (DELIMITED, "[ip, user, username, timestamp, request, status_code, bytes]", APACHE_200, True),
    (DELIMITED, "[ip, user, username, timestamp, request, status_code]", APACHE_200, False),
    (DELIMITED, "[..., status_code, bytes]", APACHE_200, True),
    (DELIMITED, "[ip, user, ..., status_code, bytes]", APACHE_200, True),
    (DELIMITED, "[ip, user, ...]", APACHE_200, True),
    (
        DELIMITED,
        "[ip, user, username, timestamp, request, status_code, bytes > 1000]",
        APACHE_200,
        True,
    ),
    (
        DELIMITED,
        "[ip, user, username, timestamp, request, status_code, bytes > 5000]",
        APACHE_200,
        False,
    ),
    (
        DELIMITED,
        "[ip, user, username, timestamp, request, status_code = 200, bytes]",
        APACHE_500,
        False,
    ),
    (
        DELIMITED,
        "[ip, user, username, timestamp, request, status_code = 4*, bytes]",
        APACHE_404,
        True,
    ),
    (
        DELIMITED,
        "[ip, user, username, timestamp, request, status_code = 4*, bytes]",
        APACHE_500,
        False,
    ),
    (
        DELIMITED,
        "[ip, user, username, timestamp, request = *html*, status_code = 4*, bytes]",
        APACHE_404,
        True,
    ),
    (
        DELIMITED,
        "[ip, user, username, timestamp, request = *html*, status_code = 4*, bytes]",
        APACHE_200,
        False,
    ),
    (
        DELIMITED,
        "[ip, user, username, timestamp, request, status_code = 4* && status_code != 403, bytes]",
        APACHE_404,
        True,
    ),
    (DELIMITED, "[..., request=*.html*, status_code=4*,]", APACHE_404, True),
    (
        DELIMITED,
        '[ip, user, username, timestamp = "10/Oct/2000:13:25:15 -0700", ...]',
        APACHE_404,
        True,
    ),
    # --- regex
    (REGEX, "%AUTHORIZED%", "[ERROR 401] UNAUTHORIZED REQUEST", True),
    (REGEX, "%AUTHORIZED%", "[SUCCESS 200] AUTHORIZED REQUEST", True),
    (REGEX, "%^\\[SUCCESS%", "[ERROR 401] UNAUTHORIZED REQUEST", False),
    (REGEX, "%colou?r%", "the color red", True),
    (REGEX, "{ $.eventType = %^Update% }", TRAIL_EVENT, True),
    (REGEX, "[..., status_code = %^5[0-9]+$%, bytes]", APACHE_500, True),
    (REGEX, "[..., status_code = %^5[0-9]+$%, bytes]", APACHE_200, False),
    # --- edge cases: not-JSON events, malformed JSON, unicode, Lambda platform lines
    (EDGE, '{ $.level = "ERROR" }', LAMBDA_START, False),
    (EDGE, '{ $.level = "ERROR" }', LAMBDA_REPORT, False),
    (EDGE, '{ $.level = "ERROR" }', '{"level": "ERROR"', False),
    (EDGE, '{ $.level = "ERROR" }', '["level", "ERROR"]', False),
    (EDGE, '{ $.level = "ERROR" }', '2024-01-01 INFO {"level": "ERROR"}', False),
    (EDGE, "{ $.missing NOT EXISTS }", "plain text is not a JSON document", False),
    (EDGE, '{ $.level = "ERROR" }', '  {"level": "ERROR"}  ', True),
    (EDGE, '{ $.city = "Zürich" }', '{"city": "Z\\u00fcrich"}', True),
    (EDGE, '{ $.city = "Zürich" }', '{"city": "Zürich"}', True),
    (EDGE, '"Zürich"', "weather in Zürich: ☀", True),
    (EDGE, '{ $.emoji = "☀*" }', '{"emoji": "☀☁"}', True),
    (EDGE, "{ $.user-name = bob }", '{"user-name": "bob"}', True),
    (EDGE, '{ $.message = "say \\"hi\\"" }', '{"message": "say \\"hi\\""}', True),
    (EDGE, '{ $.level = "ERROR" } ', '{"level": "ERROR", "level_no": 40}', True),
    (EDGE, "REPORT", LAMBDA_REPORT, True),
    (EDGE, '?"Runtime.OutOfMemory" ?MemoryError', '{"error_type": "MemoryError"}', True),
    (EDGE, '?"Runtime.OutOfMemory" ?MemoryError', "Runtime.OutOfMemory: killed", True),
    (EDGE, '?"Runtime.OutOfMemory" ?MemoryError', "Task timed out", False),
    (EDGE, "[a, b]", "one  two", True),
    (EDGE, "[a, ..., b, ..., c]", "x 1 2 y 3 z", True),
    (EDGE, "[a, ..., b = y, ..., c]", "x 1 2 y 3 z", True),
    (EDGE, "[a, ..., b = q, ..., c]", "x 1 2 y 3 z", False),
]


@pytest.mark.parametrize(
    ("section", "pattern", "message", "expected"),
    [pytest.param(*case, id=f"{case[0]}: {case[1]} / {case[2][:30]}") for case in CASES],
)
def test_pattern_matches_like_the_docs_say(
    section: str, pattern: str, message: str, expected: bool
) -> None:
    assert compile_pattern(pattern).matches(message) is expected


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 60


@pytest.mark.parametrize(
    "pattern",
    [
        '"unterminated',
        "{ $.level = ERROR",
        "[ip, user",
        "{ level = ERROR }",
        "{ $.level ERROR }",
        "{ $.level = }",
        "{ $.latency > fast }",
        "{ $.a[x] = 1 }",
        "{ $.a = 1 && }",
        "{ ($.a = 1 }",
        "{ $.a = 1 & $.b = 2 }",
        "{ $.a IS MAYBE }",
        "{ }",
        "[a, b = ]",
        "[a, b c]",
        "[a, a]",
        "[a, b = 1 && zz = 2]",
        "%%",
        "%something!%",
        "%(group)%",
        "[..., a = %x%, b = %y%, c = %z%]",
        "ERROR ?",
        "ERROR -",
        '""',
    ],
)
def test_malformed_pattern_raises(pattern: str) -> None:
    with pytest.raises(FilterPatternError, match="Invalid filter pattern"):
        compile_pattern(pattern)


def test_delimited_pattern_extracts_named_and_positional_fields() -> None:
    # "Space-delimited log events": extracted fields of the documented example.
    extracted = compile_pattern("[..., request=*.html*, status_code=4*,]").evaluate(
        LogEvent(APACHE_404)
    )
    assert extracted == {
        "$1": "127.0.0.1",
        "$2": "-",
        "$3": "frank",
        "$4": "10/Oct/2000:13:25:15 -0700",
        "$request": "GET /index.html HTTP/1.0",
        "$status_code": "404",
        "$7": "1534",
    }


def test_fields_between_two_ellipses_are_found_anywhere() -> None:
    pattern = compile_pattern("[kind = REPORT, ..., label = Billed, colon, billed, unit = ms, ...]")
    extracted = pattern.evaluate(LogEvent(LAMBDA_REPORT))
    assert extracted is not None
    assert (extracted["$label"], extracted["$billed"], extracted["$unit"]) == (
        "Billed",
        "103",
        "ms",
    )
    assert pattern.evaluate(LogEvent(LAMBDA_START)) is None


def test_json_pattern_extracts_nothing() -> None:
    assert compile_pattern("{ $.a = 1 }").evaluate(LogEvent('{"a": 1}')) == {}


def _transform(**overrides: object) -> dict[str, object]:
    return {"metricName": "M", "metricNamespace": "NS", "metricValue": "1", **overrides}


def test_metric_value_from_json_selector_with_unit() -> None:
    metric_filter = MetricFilter(
        '{ $.level = "INFO" }', [_transform(metricValue="$.duration_ms", unit="Milliseconds")]
    )
    (datapoint,) = metric_filter.datapoints(LogEvent('{"level": "INFO", "duration_ms": 12.5}'))
    assert (datapoint.value, datapoint.unit, datapoint.dimensions) == (12.5, "Milliseconds", ())


@pytest.mark.parametrize("value", ['"fast"', "null", "true", "[1]", '{"a": 1}'])
def test_non_numeric_metric_value_publishes_nothing(value: str) -> None:
    metric_filter = MetricFilter("{ $.matched IS TRUE }", [_transform(metricValue="$.d")])
    assert list(metric_filter.datapoints(LogEvent(f'{{"matched": true, "d": {value}}}'))) == []


def test_numeric_string_metric_value_is_a_number() -> None:
    metric_filter = MetricFilter("[..., size]", [_transform(metricValue="$size")])
    (datapoint,) = metric_filter.datapoints(LogEvent(APACHE_200))
    assert datapoint.value == 1534.0


def test_default_value_is_emitted_for_each_event_without_a_match() -> None:
    # "Setting how the metric value changes when matches are found": with Default Value 0 a
    # minute of two unmatched records reports 0 "for both log records".
    metric_filter = MetricFilter("ERROR", [_transform(defaultValue=0)])
    values = [
        datapoint.value
        for message in ("ERROR one", "INFO two", "INFO three")
        for datapoint in metric_filter.datapoints(LogEvent(message))
    ]
    assert values == [1.0, 0.0, 0.0]


def test_without_default_value_unmatched_events_publish_nothing() -> None:
    assert list(MetricFilter("ERROR", [_transform()]).datapoints(LogEvent("INFO"))) == []


def test_dimensions_come_from_selectors_and_a_missing_one_drops_the_datapoint() -> None:
    metric_filter = MetricFilter(
        "{ $.level = ERROR }",
        [_transform(dimensions={"ErrorType": "$.error_type", "Retry": "$.retry"})],
    )
    (datapoint,) = metric_filter.datapoints(
        LogEvent('{"level": "ERROR", "error_type": "Timeout", "retry": 2}')
    )
    assert datapoint.dimensions == (("ErrorType", "Timeout"), ("Retry", "2"))
    assert list(metric_filter.datapoints(LogEvent('{"level": "ERROR", "retry": 2}'))) == []


def test_space_delimited_dimension() -> None:
    metric_filter = MetricFilter(
        "[ip, user, username, timestamp, request, status_code, bytes]",
        [_transform(metricValue="$bytes", dimensions={"Status": "$status_code"})],
    )
    (datapoint,) = metric_filter.datapoints(LogEvent(APACHE_500))
    assert (datapoint.value, datapoint.dimensions) == (5324.0, (("Status", "500"),))


@pytest.mark.parametrize(
    ("pattern", "transformation", "reason"),
    [
        ("ERROR", _transform(metricValue="$.duration"), "JSON filter pattern"),
        ("{ $.a = 1 }", _transform(metricValue="$size"), "space-delimited"),
        ("[a, b]", _transform(metricValue="$c"), "space-delimited"),
        ("ERROR", _transform(metricValue="lots"), "a number or a \\$ selector"),
        ("{ $.a = 1 }", _transform(dimensions={"A": "$.a"}, defaultValue=0), "defaultValue"),
        ("{ $.a = 1 }", _transform(dimensions={k: "$.a" for k in "ABCD"}), "at most 3"),
        ("{ $.a = 1 }", _transform(dimensions={"A": "constant"}), "selector"),
    ],
)
def test_invalid_transformation_raises(
    pattern: str, transformation: dict[str, object], reason: str
) -> None:
    with pytest.raises(FilterPatternError, match=reason):
        MetricFilter(pattern, [transformation])


def test_each_event_is_parsed_once_for_many_patterns() -> None:
    event = LogEvent('{"level": "ERROR"}')
    assert compile_pattern('{ $.level = "ERROR" }').matches(event)
    document = event.document()
    assert compile_pattern("{ $.level = * }").matches(event)
    assert event.document() is document


# --- MetricFilterSet: a batch gives what MetricFilter.datapoints gives event by event

BATCH_MESSAGES = [
    *sorted({case[2] for case in CASES}),
    LAMBDA_START,
    LAMBDA_REPORT,
    "END RequestId: 8f5a1c2e-1",
    '{"level": "ERROR", "duration_ms": 1500, "error_type": "AccessDenied"}',
    '{"level": "CRITICAL", "input_bytes": 20000000}',
    '  {"level": "ERR\\u004fR", "duration_ms": 2000}',  # escaped: literals say nothing
    '{"level": "INFO"} trailing',
    '{"level": "INFO", "duration_ms": 1e3}',
    "[1, 2, 3]",
    "",
    "  ",
]


def _batch_filters() -> list[MetricFilter]:
    filters = []
    for index, pattern in enumerate(sorted({case[1] for case in CASES})):
        extra: dict[str, object] = {"defaultValue": 0} if index % 3 == 0 else {}
        filters.append(MetricFilter(pattern, [_transform(metricName=f"M{index}", **extra)]))
    filters.append(MetricFilter('{ $.level = "ERROR" }', [_transform(metricValue="$.duration_ms")]))
    filters.append(MetricFilter("[kind, ..., size]", [_transform(metricValue="$size")]))
    filters.append(
        MetricFilter(
            "{ $.level = * }",
            [_transform(metricValue="$.duration_ms", dimensions={"Level": "$.level"})],
        )
    )
    return filters


def _per_event(filters: list[MetricFilter], messages: list[str]) -> list[tuple[int, object]]:
    points = []
    for index, message in enumerate(messages):
        event = LogEvent(message)
        for metric_filter in filters:
            points.extend((index, point) for point in metric_filter.datapoints(event))
    return points


def test_filter_set_gives_the_datapoints_of_each_filter_in_order() -> None:
    filters = _batch_filters()
    assert len(filters) > 60
    expected = _per_event(filters, BATCH_MESSAGES)
    assert len(expected) > 100
    assert MetricFilterSet(filters).datapoints(BATCH_MESSAGES) == expected
    filter_set = MetricFilterSet(filters)  # plans are cached per literal mask: run twice
    assert filter_set.datapoints(BATCH_MESSAGES) == expected
    assert filter_set.datapoints(BATCH_MESSAGES[::-1]) == _per_event(filters, BATCH_MESSAGES[::-1])


@pytest.mark.parametrize(("section", "pattern", "message", "expected"), CASES)
def test_filter_set_matches_like_the_docs_say(
    section: str, pattern: str, message: str, expected: bool
) -> None:
    filter_set = MetricFilterSet([MetricFilter(pattern, [_transform()])])
    assert bool(filter_set.datapoints([message])) is expected


def test_filter_set_shares_metric_filters_between_sets() -> None:
    # Compiled filters are cached and shared: each set keeps its own literal bits.
    error, timeout = MetricFilter("ERROR", [_transform()]), MetricFilter("timeout", [_transform()])
    first, second = MetricFilterSet([error, timeout]), MetricFilterSet([timeout, error])
    assert [i for i, _ in first.datapoints(["ERROR", "timeout"])] == [0, 1]
    assert [i for i, _ in second.datapoints(["ERROR", "timeout"])] == [0, 1]


def test_terms_with_many_alternatives_are_still_checked() -> None:
    pattern = " ".join(f"?t{n}" for n in range(20)) + " - t5"
    filter_set = MetricFilterSet([MetricFilter(pattern, [_transform()])])
    assert [i for i, _ in filter_set.datapoints(["t3 x", "t5 t3", "none", "t19"])] == [0, 3]
