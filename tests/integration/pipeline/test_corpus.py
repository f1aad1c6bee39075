"""Every hostile input ends as five correct variants or exactly one failure record."""

from __future__ import annotations

import pytest

from bench.hostile_corpus import cases
from bench.pipeline.accounting import Accounting, Outcome
from bench.pipeline.stack import Stack
from bench.pipeline.uploads import run_prefix, upload
from tests.integration.pipeline.support import account

pytestmark = pytest.mark.emulator

# Cases the pipeline is known to get wrong, as strict xfails: each starts failing when fixed.
KNOWN_GAPS: dict[str, str] = {}


@pytest.fixture(scope="module")
def corpus_accounting(pipeline_stack: Stack) -> Accounting:
    prefix = run_prefix("test-corpus")
    entries = [
        upload(pipeline_stack, prefix + c.key, c.data, None, c.expect, c.name, c.expect_size)
        for c in cases(prefix)
    ]
    accounting = account(pipeline_stack, entries, verify=True)
    print(accounting.table(details=len(entries)))
    return accounting


def test_the_table_adds_up(corpus_accounting: Accounting) -> None:
    counts = corpus_accounting.counts
    assert counts["uploaded"] == len(cases())
    assert counts["missing"] == 0
    assert counts["duplicate_records"] == 0
    assert counts["incorrect"] == 0
    assert (
        counts["processed"] + counts["failed"] + counts["partial"] + counts["not_eligible"]
        == counts["uploaded"]
    )


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(c.name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[c.name]))
        if c.name in KNOWN_GAPS
        else c.name
        for c in cases()
    ],
)
def test_case_ends_as_expected(corpus_accounting: Accounting, name: str) -> None:
    result = next(r for r in corpus_accounting.results if r.entry.case == name)
    assert result.outcome is not Outcome.PARTIAL, result
    assert result.outcome is not Outcome.MISSING, result
    assert result.as_expected, result
