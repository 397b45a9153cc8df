"""`batch.rerun` directly: the argument check, the limit, pairing the rerun's runs to the failures by scenario,
a lost rerun answer (read back, never repeated), a refusal (the verdict stands), and the deadline.

The hook is scripted (tests.support.scripted_hook): the sandbox cannot lose an answer or leave a rerun run
unfinished at a chosen moment; the operator test (tests/operators/test_run_scenarios_rerun.py) runs the real one.
"""

from __future__ import annotations

from typing import Any

import pytest

from cekura_livekit.batch.event import EventStatus, WaitEvent
from cekura_livekit.batch.rerun import (
    RerunOutcome,
    failures_to_rerun,
    rerun_failed_runs,
    validate_rerun_failed,
)
from cekura_livekit.hooks.errors import CekuraSubmitUncertainError, CekuraValidationError
from tests.support.scripted_hook import ScriptedHook


class RerunHook(ScriptedHook):
    def rerun_failed(self, result_id: int) -> Any:
        return self._answer("rerun_failed", (result_id,))


def _run(run_id: int, scenario: int, outcome: str) -> dict[str, Any]:
    status, success = {"passed": ("completed", True), "failed": ("completed", False),
                       "infra": ("failed", False), "running": ("running", None)}[outcome]  # fmt: skip
    return {"id": run_id, "scenario": scenario, "status": status, "success": success}


def _result(*runs: dict[str, Any], result_id: int = 9) -> dict[str, Any]:
    return {"id": result_id, "runs": {str(r["id"]): r for r in runs}}


def _event(result_id: int | None = 9, **counts: int) -> WaitEvent:
    summary: dict[str, Any] = {"result_id": result_id, "passed": 1, "cancelled": 5, **counts}
    return WaitEvent(EventStatus.TERMINAL, result_id, "done", summary)


ORIGINAL = (_run(1, 10, "passed"), _run(2, 10, "failed"), _run(3, 20, "failed"), _run(4, 30, "infra"))


@pytest.mark.parametrize("value", [0, 1, 50])
def test_whole_numbers_from_zero_are_accepted(value: int) -> None:
    assert validate_rerun_failed(value) == value


@pytest.mark.parametrize("value", [-1, 1.5, "3", True, None])
def test_anything_else_names_the_argument_the_value_and_the_meaning(value: object) -> None:
    with pytest.raises(
        ValueError, match=rf"rerun_failed={value!r} must be a whole number >= 0: 0 \(default\)"
    ):
        validate_rerun_failed(value)


def test_failures_count_what_cekura_reruns_and_not_cancelled_runs() -> None:
    assert failures_to_rerun(_event(failed_evaluation=2, infra_error=1, timeout=3)) == 6
    assert failures_to_rerun(_event()) == 0
    assert failures_to_rerun(WaitEvent(EventStatus.ERROR, None, "lost")) == 0


@pytest.mark.parametrize(
    ("limit", "event"),
    [(0, _event(failed_evaluation=2)), (5, _event(result_id=None, failed_evaluation=2)), (5, _event())],
)
def test_nothing_is_rerun_when_off_unknown_or_nothing_failed(limit: int, event: WaitEvent) -> None:
    hook = RerunHook()
    assert rerun_failed_runs(hook, event, limit=limit, deadline=None, poll_interval=0) is None
    assert hook.calls == []


def test_more_failures_than_the_limit_are_not_paid_for_twice() -> None:
    hook = RerunHook()
    outcome = rerun_failed_runs(hook, _event(failed_evaluation=3), limit=2, deadline=None, poll_interval=0)
    assert outcome is not None
    assert hook.calls == []
    assert outcome.describe().startswith("Re-run of the failed runs: 3 runs failed, more than rerun_failed=2")


def test_reruns_are_paired_to_the_failures_by_scenario() -> None:
    rerun = (_run(5, 10, "passed"), _run(6, 20, "failed"), _run(7, 30, "passed"))
    hook = RerunHook(
        get_result=[_result(*ORIGINAL)],
        rerun_failed=[_result(*ORIGINAL, *rerun)],
        get_runs_bulk=[[*rerun]],
    )
    event = _event(failed_evaluation=2, infra_error=1)
    outcome = rerun_failed_runs(hook, event, limit=3, deadline=None, poll_interval=0)
    assert outcome == RerunOutcome(9, [5, 6, 7], confirmed=1, not_reproduced=2, flaky_scenarios=[10, 30])
    assert hook.names() == ["get_result", "rerun_failed", "get_runs_bulk"]
    text = outcome.describe()
    assert "1 failure(s) confirmed, 2 not reproduced (flaky: scenario(s) [10, 30])" in text
    assert text.endswith("The gate judges the original runs.")
    assert outcome.to_xcom()["run_ids"] == [5, 6, 7]


def test_a_lost_rerun_answer_is_read_back_and_the_call_never_repeated() -> None:
    rerun = (_run(5, 10, "failed"),)
    lost = CekuraSubmitUncertainError("the rerun answer was lost", endpoint="results/9/rerun/")
    hook = RerunHook(
        get_result=[_result(*ORIGINAL[:2]), _result(*ORIGINAL[:2], *rerun)],
        rerun_failed=[lost],
        get_runs_bulk=[[*rerun]],
    )
    outcome = rerun_failed_runs(hook, _event(failed_evaluation=1), limit=1, deadline=None, poll_interval=0)
    assert hook.names() == ["get_result", "rerun_failed", "get_result", "get_runs_bulk"]
    assert outcome == RerunOutcome(9, [5], confirmed=1)


def test_a_refused_rerun_leaves_the_verdict_as_it_is() -> None:
    refused = CekuraValidationError("nothing to re-run", endpoint="results/9/rerun/", status_code=400)
    hook = RerunHook(get_result=[_result(*ORIGINAL)], rerun_failed=[refused])
    outcome = rerun_failed_runs(hook, _event(failed_evaluation=1), limit=5, deadline=None, poll_interval=0)
    assert outcome is not None
    assert outcome.run_ids == []
    assert outcome.describe().startswith("Re-run of the failed runs: Cekura did not re-run them:")


def test_no_new_runs_is_said() -> None:
    hook = RerunHook(get_result=[_result(*ORIGINAL)], rerun_failed=[_result(*ORIGINAL)])
    outcome = rerun_failed_runs(hook, _event(failed_evaluation=1), limit=5, deadline=None, poll_interval=0)
    assert outcome == RerunOutcome(9, [], note="Cekura started no new runs.")


def test_runs_unfinished_at_the_deadline_are_counted_not_guessed() -> None:
    rerun = (_run(5, 10, "running"), _run(6, 20, "failed"))
    hook = RerunHook(
        get_result=[_result(*ORIGINAL)],
        rerun_failed=[_result(*ORIGINAL, *rerun, _run(7, 30, "running"))],
        get_runs_bulk=[[*rerun]],  # run 7 not even listed yet
    )
    slept: list[float] = []
    outcome = rerun_failed_runs(
        hook, _event(failed_evaluation=3), limit=3, deadline=0.0, poll_interval=1.0, sleep=slept.append
    )
    assert slept == []  # the deadline had passed: one read, no wait
    assert outcome is not None
    assert (outcome.confirmed, outcome.not_reproduced, outcome.unfinished) == (1, 0, 2)
    assert outcome.describe().endswith(", 2 unfinished at the deadline. The gate judges the original runs.")


def test_the_poll_waits_until_every_rerun_is_terminal() -> None:
    running, done = _run(5, 10, "running"), _run(5, 10, "passed")
    hook = RerunHook(
        get_result=[_result(*ORIGINAL[:2])],
        rerun_failed=[_result(*ORIGINAL[:2], running)],
        get_runs_bulk=[[running], [running], [done]],
    )
    slept: list[float] = []
    outcome = rerun_failed_runs(
        hook, _event(failed_evaluation=1), limit=1, deadline=None, poll_interval=0.5, sleep=slept.append
    )
    assert slept == [0.5, 0.5]
    assert outcome == RerunOutcome(9, [5], not_reproduced=1, flaky_scenarios=[10])
