"""The status model: terminal sets, the pass rule, tolerant counters and unknown statuses."""

from __future__ import annotations

import logging

import pytest

from cekura_livekit.models import (
    TERMINAL_STATUSES,
    BatchProgress,
    Outcome,
    ResultSummary,
    RunStatus,
    parse_count,
    parse_status,
    run_outcome,
    runs_of,
)


def test_terminal_sets_match_the_contract() -> None:
    assert {s.value for s in TERMINAL_STATUSES} == {"completed", "failed", "timeout", "cancelled"}
    for s in ("pending", "running", "in_progress", "evaluating", "in_queue", "scaling_up"):
        assert not parse_status(s).is_terminal


def test_unknown_status_is_not_terminal_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert parse_status("warming_up_new") is RunStatus.UNKNOWN
        assert parse_status("warming_up_new") is RunStatus.UNKNOWN
    assert not RunStatus.UNKNOWN.is_terminal
    assert sum("warming_up_new" in r.message for r in caplog.records) == 1


@pytest.mark.parametrize(
    ("status", "success", "expected"),
    [
        ("completed", True, Outcome.PASSED),
        ("completed", False, Outcome.FAILED_EVALUATION),
        ("completed", None, Outcome.FAILED_EVALUATION),
        ("failed", True, Outcome.INFRA_ERROR),
        ("timeout", False, Outcome.TIMEOUT),
        ("cancelled", False, Outcome.CANCELLED),
        ("running", True, None),
        ("COMPLETED", True, Outcome.PASSED),
    ],
)
def test_run_outcome_rule(status: str, success: object, expected: Outcome | None) -> None:
    assert run_outcome(status, success) is expected


@pytest.mark.parametrize(("raw", "expected"), [(3, 3), ("3", 3), ("3.0", 3), (None, 0), ("", 0), (4.0, 4)])
def test_parse_count_tolerates_numeric_strings(raw: object, expected: int) -> None:
    assert parse_count(raw) == expected


@pytest.mark.parametrize("raw", ["abc", "2.5", True, float("nan")])
def test_parse_count_rejects_garbage_with_the_value(raw: object) -> None:
    with pytest.raises(ValueError, match="total_runs_count"):
        parse_count(raw, field="total_runs_count")


def test_runs_of_accepts_dict_and_list() -> None:
    as_dict = {"runs": {"11": {"status": "completed"}, "12": {"status": "running"}}}
    assert [r["id"] for r in runs_of(as_dict)] == [11, 12]
    assert runs_of({"runs": [{"id": 5}]}) == [{"id": 5}]
    assert runs_of({}) == []


def test_progress_line_and_gate() -> None:
    runs = (
        [{"status": "completed", "success": True}] * 14
        + [{"status": "completed", "success": False}] * 2
        + [{"status": "failed"}]
        + [{"status": "running"}] * 23
    )
    p = BatchProgress.from_runs(runs)
    assert p.describe().startswith("17/40 runs terminal · 14 passed · 2 failed · 1 infra error")
    assert p.describe().endswith("23 pending")
    # passed / (passed + failed_evaluation): the infra error is counted apart, not as a failure.
    assert p.success_rate == pytest.approx(14 / 16)
    assert p.evaluated == 16
    assert not p.all_passed
    assert BatchProgress.from_runs([{"status": "completed", "success": True}] * 3).all_passed
    assert not BatchProgress(total=0).all_passed


def test_success_rate_has_one_definition_everywhere() -> None:
    """8 passed and 2 infra errors: the XCom summary and the verdict both say 100 %, not 0.8 and 100 %."""
    from cekura_livekit.batch.verdict import judge
    from cekura_livekit.batch.wait import completion_event, snapshot_of_result

    result = {
        "id": 5,
        "status": "completed",
        "runs": [{"id": i, "status": "completed", "success": True} for i in range(8)]
        + [{"id": 8 + i, "status": "failed"} for i in range(2)],
    }
    summary = ResultSummary.from_result(result).to_dict()
    assert summary["success_rate"] == 1.0
    event = completion_event(snapshot_of_result(result), [])
    verdict = judge(event, min_success_rate=0.9, fail_on=frozenset())
    assert verdict.passed
    assert "8/8 evaluated runs passed (100.0%" in verdict.message


def test_result_summary_uses_counts_not_success_rate_scale() -> None:
    result = {
        "id": "77",
        "name": "n",
        "status": "completed",
        "success_rate": 50,  # percent; ignored
        "total_runs_count": "2",
        "runs": {
            "1": {"status": "completed", "success": True},
            "2": {"status": "completed", "success": False},
        },
    }
    summary = ResultSummary.from_result(result)
    assert summary.is_terminal
    assert summary.to_dict()["success_rate"] == 0.5
    assert summary.to_dict()["total"] == 2


def test_result_is_terminal_when_all_runs_are() -> None:
    result = {"id": 1, "status": "evaluating", "runs": [{"status": "cancelled"}, {"status": "timeout"}]}
    assert ResultSummary.from_result(result).is_terminal
    assert not ResultSummary.from_result({"id": 1, "status": "running", "runs": []}).is_terminal
