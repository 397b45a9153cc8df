"""The pass/fail policy (batch/verdict.py): rules in order, validators, and what a task does with each event."""

from __future__ import annotations

import pytest

from cekura_livekit.batch.event import WaitEvent
from cekura_livekit.batch.verdict import decide, judge, validate_fail_on, validate_min_success_rate


def test_policy_validators() -> None:
    assert validate_min_success_rate("0.9") == 0.9
    assert validate_min_success_rate(None) is None
    assert validate_fail_on("infra_error, timeout") == {"infra_error", "timeout"}
    with pytest.raises(ValueError, match=r"did you mean 0\.9"):
        validate_min_success_rate(90)


def _event(status: str = "completed", **counts: int) -> WaitEvent:
    base = {"passed": 0, "failed_evaluation": 0, "infra_error": 0, "timeout": 0, "cancelled": 0}
    base.update(counts)
    total = sum(base.values())
    return WaitEvent.from_payload(
        {
            "status": "terminal",
            "summary": {"result_id": 7, "status": status, "total": total, **base},
            "failing_runs": [
                {
                    "run_id": 70,
                    "scenario_id": 2006,
                    "scenario_name": "Speak to a human",
                    "outcome": "failed_evaluation",
                }
            ],
            "failing_total": 1,
        }
    )


@pytest.mark.parametrize(
    ("event", "rate", "fail_on", "passed"),
    [
        (_event(passed=10), None, {"infra_error"}, True),
        (_event(passed=9, failed_evaluation=1), None, set(), False),
        (_event(passed=9, failed_evaluation=1), 0.9, set(), True),
        (_event(passed=8, failed_evaluation=2), 0.9, set(), False),
        (_event(passed=9, infra_error=1), None, {"infra_error"}, False),
        (_event(passed=9, infra_error=1), None, set(), True),
        (_event("failed", infra_error=3), None, {"infra_error"}, False),
        (_event(infra_error=3), None, set(), False),  # nothing evaluated
    ],
)
def test_verdict_rules(event: WaitEvent, rate: float | None, fail_on: set[str], passed: bool) -> None:
    verdict = judge(event, min_success_rate=rate, fail_on=frozenset(fail_on), dashboard_url="https://d/7")
    assert verdict.passed is passed
    if not passed:
        assert "Cekura result 7" in verdict.message


def test_cancelled_result_is_flagged_for_no_retry() -> None:
    verdict = judge(_event("cancelled", cancelled=4), min_success_rate=None, fail_on=frozenset({"cancelled"}))
    assert not verdict.passed
    assert verdict.cancelled
    assert "Speak to a human" in verdict.message
    assert "run 70" in verdict.message


@pytest.mark.parametrize(
    ("payload", "retryable"),
    [
        ({"status": "timeout", "message": "deadline", "calls_ended": True}, True),
        ({"status": "error", "message": "503s", "permanent": False}, True),
        ({"status": "error", "message": "key rejected", "permanent": True}, False),
    ],
)
def test_no_verdict_events_fail_and_say_whether_to_retry(payload: dict, retryable: bool) -> None:
    decision = decide(
        WaitEvent.from_payload(payload),
        min_success_rate=None,
        fail_on=frozenset(),
        dashboard_url="https://d/7",
    )
    assert not decision.passed
    assert decision.retryable is retryable
    assert payload["message"] in decision.message
    assert "https://d/7" in decision.message


def test_missed_gate_is_final_but_a_batch_that_died_is_retried() -> None:
    strict = {"min_success_rate": None, "fail_on": frozenset({"infra_error"})}
    missed = decide(_event(passed=9, failed_evaluation=1), **strict)
    assert (missed.passed, missed.retryable) == (False, False)  # a retry would re-attach to the same verdict
    died = decide(_event("failed", infra_error=3), **strict)
    assert (died.passed, died.retryable) == (False, True)  # a retry submits a fresh batch
    assert decide(_event(passed=3), **strict).passed


def test_quarantine_keeps_the_event_type() -> None:
    from cekura_livekit.batch.verdict import without_quarantined

    event = _event(passed=9, failed_evaluation=1)
    cleared = without_quarantined(event, frozenset({2006}))
    assert isinstance(cleared, WaitEvent)
    assert cleared.failing_runs == ()
    assert cleared.summary_dict()["failed_evaluation"] == 0
    assert event.failing_total == 1  # the original is untouched (frozen)
