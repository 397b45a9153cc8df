"""Re-run a finished batch's failed runs once, to tell confirmed failures from flaky ones (issue 19 item 6).

Cekura's `POST results/{id}/rerun/` (spec: no body, answers the Result) re-runs every failed run of the result
as a NEW run of the same result; the failed originals stay. So the rerun's runs are the result's run ids that
were not there before the call. Cekura does not say which original a new run re-ran, so they are paired by
scenario: per scenario, each rerun that passed is one failure "not reproduced" (flaky), each that failed
again is one failure "confirmed".

The gate is not changed by a rerun: it still judges the original runs (`batch.verdict`), because a pass on
the second try is evidence of flakiness, not a pass of the first; the verdict message reports both counts.
Both outcomes are stored: the rerun's runs belong to the same result, so the per-batch load stores them.

`rerun_failed=N` re-runs only when 1..N runs failed: more failures than that look like a regression, not
flakiness, and re-running them would only double the credits spent on it. Own-room batches are not re-run:
their rooms and join tokens are gone by then.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cekura_livekit.models import parse_status, runs_of

if TYPE_CHECKING:
    from cekura_livekit.batch.event import WaitEvent
    from cekura_livekit.hooks.cekura import CekuraHook

log = logging.getLogger(__name__)

RERUN_KEY = "rerun"
#: Run outcomes Cekura re-runs (a cancelled run was stopped on purpose).
RERUN_OUTCOMES = ("failed_evaluation", "infra_error", "timeout")


def validate_rerun_failed(value: object) -> int:
    """A whole number >= 0 of failed runs to re-run (0: off)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"rerun_failed={value!r} must be a whole number >= 0: 0 (default) never re-runs, N re-runs the "
            "failed runs once when at most N runs failed."
        )
    return value


def failures_to_rerun(event: WaitEvent) -> int:
    """How many runs of the finished batch Cekura would re-run."""
    summary = event.summary or {}
    return sum(int(summary.get(outcome) or 0) for outcome in RERUN_OUTCOMES)


@dataclass
class RerunOutcome:
    """What the rerun showed. JSON-safe (`to_xcom`)."""

    result_id: int
    run_ids: list[int] = field(default_factory=list)
    confirmed: int = 0
    not_reproduced: int = 0
    unfinished: int = 0
    #: Scenario ids whose failure did not reproduce (flaky).
    flaky_scenarios: list[int] = field(default_factory=list)
    note: str = ""

    def to_xcom(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def describe(self) -> str:
        if self.note and not self.run_ids:
            return f"Re-run of the failed runs: {self.note}"
        text = (
            f"Re-run of the failed runs (result {self.result_id}, runs {self.run_ids}): "
            f"{self.confirmed} failure(s) confirmed, {self.not_reproduced} not reproduced"
        )
        if self.flaky_scenarios:
            text += f" (flaky: scenario(s) {self.flaky_scenarios})"
        if self.unfinished:
            text += f", {self.unfinished} unfinished at the deadline"
        return text + ". The gate judges the original runs."


def _ids(result: Mapping[str, Any]) -> set[int]:
    return {int(r["id"]) for r in runs_of(result) if str(r.get("id", "")).isdigit()}


def _start(hook: CekuraHook, result_id: int, before: set[int]) -> tuple[int, list[int]]:
    """Call rerun/; (result id holding the new runs, their ids). A lost answer is resolved by reading the
    result again: the call is never repeated (it starts paid calls)."""
    from cekura_livekit.hooks.errors import CekuraSubmitUncertainError

    try:
        answer = hook.rerun_failed(result_id)
    except CekuraSubmitUncertainError as exc:
        log.warning("%s Reading result %s to see whether the rerun started.", exc, result_id)
        answer = hook.get_result(result_id)
    holder = int(answer.get("id") or result_id)
    return holder, sorted(_ids(answer) - before)


def _poll(
    hook: CekuraHook,
    run_ids: list[int],
    deadline: float | None,
    interval: float,
    sleep: Callable[[float], None],
) -> list[dict[str, Any]]:
    """The rerun's runs, polled (one bulk request a poll) until all are terminal or the deadline passes."""
    while True:
        runs = hook.get_runs_bulk(run_ids)
        if len(runs) == len(run_ids) and all(parse_status(r.get("status")).is_terminal for r in runs):
            return runs
        if deadline is not None and time.time() + interval > deadline:
            return runs
        sleep(interval)


def _tally(outcome: RerunOutcome, originals: Mapping[int, int], runs: list[dict[str, Any]]) -> None:
    """Pair by scenario (`originals`: failures per scenario) and count confirmed / not reproduced."""
    passed: Counter[int] = Counter()
    failed: Counter[int] = Counter()
    for run in runs:
        scenario = int(run.get("scenario") or 0)
        if not parse_status(run.get("status")).is_terminal:
            outcome.unfinished += 1
        elif run.get("success") is True:
            passed[scenario] += 1
        else:
            failed[scenario] += 1
    outcome.unfinished += len(outcome.run_ids) - len(runs)
    outcome.not_reproduced = sum(passed.values())
    outcome.confirmed = sum(failed.values())
    outcome.flaky_scenarios = sorted(s for s in passed if s in originals)


def rerun_failed_runs(
    hook: CekuraHook,
    event: WaitEvent,
    *,
    limit: int,
    deadline: float | None,
    poll_interval: float,
    sleep: Callable[[float], None] = time.sleep,
) -> RerunOutcome | None:
    """Re-run the failed runs of a finished batch once and wait for them; None when nothing was re-run."""
    summary = event.summary or {}
    result_id = summary.get("result_id")
    failures = failures_to_rerun(event)
    if not limit or result_id is None or failures == 0:
        return None
    result_id = int(result_id)
    if failures > limit:
        return RerunOutcome(
            result_id,
            note=f"{failures} runs failed, more than rerun_failed={limit}: not re-run (a regression is not "
            "confirmed by paying for it twice).",
        )
    before = hook.get_result(result_id)
    originals = Counter(
        int(r.get("scenario") or 0)
        for r in runs_of(before)
        if parse_status(r.get("status")).is_terminal and r.get("success") is not True
    )
    from cekura_livekit.hooks.errors import CekuraError

    try:
        holder, new_ids = _start(hook, result_id, _ids(before))
    except CekuraError as exc:  # refused (e.g. nothing to re-run) or unreachable: the verdict stands as is
        return RerunOutcome(result_id, note=f"Cekura did not re-run them: {exc}")
    outcome = RerunOutcome(holder, new_ids)
    if not new_ids:
        outcome.note = "Cekura started no new runs."
        return outcome
    log.info("Re-running %d failed run(s) of result %s as runs %s.", len(new_ids), result_id, new_ids)
    _tally(outcome, originals, _poll(hook, new_ids, deadline, poll_interval, sleep))
    return outcome
