from __future__ import annotations

import json

import pytest

from tools.imgops.insights import (
    UnsupportedQuery,
    evaluate,
    parse_query,
    record_from_event,
    table_from_records,
)

QUERY = (
    "SOURCE '/aws/lambda/img-dev' | SOURCE \"/aws/lambda/other\" "
    "| fields @timestamp, level, message, key "
    "| filter level = 'ERROR' or level = \"CRITICAL\" and error_category != 'timeout' "
    "| sort @timestamp asc | limit 2"
)


def events(*lines: dict | str) -> list[dict]:
    return [
        record_from_event(
            {
                "timestamp": 1_000 + index,
                "logStreamName": "s",
                "message": line if isinstance(line, str) else json.dumps(line),
            },
            "/aws/lambda/img-dev",
        )
        for index, line in enumerate(lines)
    ]


def test_parse_query_parts() -> None:
    query = parse_query(QUERY)
    assert query.log_groups == ("/aws/lambda/img-dev", "/aws/lambda/other")
    assert query.fields == ("@timestamp", "level", "message", "key")
    assert (query.sort_field, query.sort_descending, query.limit) == ("@timestamp", False, 2)
    assert not query.body.lower().startswith("source") and "filter" in query.body
    (dnf,) = query.filters
    assert [[c.field for c in group] for group in dnf] == [["level"], ["level", "error_category"]]


def test_defaults_and_default_log_group() -> None:
    query = parse_query("filter @message like /Task timed out/", ["/aws/lambda/fn"])
    assert query.log_groups == ("/aws/lambda/fn",)
    assert query.fields == ("@timestamp", "@message")
    assert (query.sort_descending, query.limit) == (True, 1000)


def test_filter_evaluation_with_and_binding_tighter_than_or() -> None:
    records = events(
        {"level": "INFO", "message": "ok"},
        {"level": "ERROR", "message": "bad", "key": "a.jpg"},
        {"level": "CRITICAL", "message": "boom", "error_category": "timeout"},
        {"level": "CRITICAL", "message": "boom", "error_category": "unexpected"},
        "START RequestId: 1 Version: $LATEST",
    )
    query = parse_query(QUERY.replace("limit 2", "limit 10"))
    assert [r["message"] for r in evaluate(query, records)] == ["bad", "boom"]
    assert [r["error_category"] for r in evaluate(query, records)[1:]] == ["unexpected"]


def test_in_and_not_in_lists_as_the_dashboard_query_uses_them() -> None:
    records = events(
        {"level": "INFO", "message": "ok"},
        {"level": "ERROR", "message": "bad"},
        {"level": "CRITICAL", "message": "boom"},
        {"level": "WARNING", "message": "hm", "size": 3},
    )
    chosen = parse_query('filter level in ["ERROR", "CRITICAL"]', ["g"])
    assert [r["message"] for r in evaluate(chosen, records)] == ["boom", "bad"]
    rest = parse_query("filter level not in ['ERROR','CRITICAL'] and size in [3, 4]", ["g"])
    assert [r["message"] for r in evaluate(rest, records)] == ["hm"]


def test_like_regex_pipe_inside_literal_and_numbers() -> None:
    records = events(
        "Task timed out after 3.00 seconds",
        {"level": "INFO", "message": "done", "duration_ms": 1500},
        {"level": "INFO", "message": "done", "duration_ms": 20},
        {"level": "ERROR", "message": "a|b"},
    )
    regex = parse_query("filter @message like /timed out|Runtime.OutOfMemory/", ["g"])
    assert [r["@message"] for r in evaluate(regex, records)] == [
        "Task timed out after 3.00 seconds"
    ]
    slow = parse_query("filter duration_ms > 1000", ["g"])
    assert [r["duration_ms"] for r in evaluate(slow, records)] == [1500]
    piped = parse_query("filter message = 'a|b' | fields message", ["g"])
    assert [r["message"] for r in evaluate(piped, records)] == ["a|b"]
    assert parse_query("filter message not like 'done'", ["g"]).filters[0][0][0].operator == (
        "not like"
    )


def test_sort_descending_and_limit_and_table_cells() -> None:
    records = events(*({"level": "ERROR", "message": str(i)} for i in range(5)))
    query = parse_query(
        "fields @timestamp, message, nested.x | sort @timestamp desc | limit 3", ["g"]
    )
    chosen = evaluate(query, records)
    assert [r["message"] for r in chosen] == ["4", "3", "2"]
    table = table_from_records(query, chosen, "test")
    assert table.columns == ("@timestamp", "message", "nested.x")
    assert table.rows[0] == ("1970-01-01 00:00:01.004", "4", "")


def test_nested_json_fields_are_flattened() -> None:
    (record,) = events({"level": "INFO", "context": {"bucket": "b", "size": 3}})
    assert record["context.bucket"] == "b" and record["context.size"] == 3


@pytest.mark.parametrize(
    "query",
    [
        "stats count(*) by bin(5m)",
        "filter (level = 'ERROR')",
        "filter level",
        "limit many",
        "filter level ~ 'x'",
        "filter level in 'ERROR'",
        "filter level in [/ERR/]",
    ],
)
def test_unsupported_queries_say_so(query: str) -> None:
    with pytest.raises(UnsupportedQuery):
        parse_query(query, ["g"])
