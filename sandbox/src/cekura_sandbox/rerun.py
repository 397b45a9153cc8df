"""`POST /test_framework/v1/results/{id}/rerun/`: re-run a finished result's failed runs.

The spec (Cekura's OpenAPI, "Rerun Results") declares no request body and answers 200 with the Result object;
its example shows the result back in `running`. The SDK documents the call as "Rerun failed/specific runs in
a result". So here: every run of the result that ended without passing (failed evaluation, infrastructure
failure, timeout; not a cancelled one) and was not re-run before gets ONE new run — a new run id, same
scenario, personality and test profile — appended to the SAME result; the failed originals stay as they were
(both outcomes are kept). A result with runs still going answers 400; one with nothing to re-run answers 400.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cekura_sandbox.errors import ApiError, not_found
from cekura_sandbox.lifecycle import TERMINAL, plan_run
from cekura_sandbox.validation import Submission, SubmitItem

if TYPE_CHECKING:
    from cekura_sandbox.lifecycle import RunRecord
    from cekura_sandbox.store import CekuraStore, ResultRecord


def _rerunnable(store: CekuraStore, result: ResultRecord, run: RunRecord) -> bool:
    now = store.clock.now()
    status = run.status(now)
    if status == "cancelled" or run.id in result.rerun_of.values():
        return False
    return status in ("failed", "timeout") or (status == "completed" and run.fate != "passed")


def rerun_failed(store: CekuraStore, result_id: int) -> dict[str, Any]:
    """Re-run the failed runs of `result_id` once each; the answer is the result (runs as a list)."""
    with store.lock:
        result = store.results.get(result_id)
        if result is None:
            raise not_found()
        now = store.clock.now()
        runs = [store.runs[i] for i in result.run_ids]
        if any(r.status(now) not in TERMINAL for r in runs):
            raise ApiError(400, ["Result still has runs in progress; re-run it once every run has finished."])
        failed = [r for r in runs if _rerunnable(store, result, r)]
        if not failed:
            raise ApiError(400, ["Result has no failed runs to re-run."])
        for old in failed:
            new = _replan(store, result, old)
            store.runs[new.id] = new
            result.run_ids.append(new.id)
            result.rerun_of[new.id] = old.id
        return store._result_view(result, now, runs_as="list", full_runs=False)


def _replan(store: CekuraStore, result: ResultRecord, old: RunRecord) -> RunRecord:
    run_id = store._next_run
    store._next_run += 1
    run = plan_run(
        seed=store.seed,
        run_id=run_id,
        result_id=result.id,
        result_name=result.name,
        catalogue=store.catalogue,
        scenario=old.scenario,
        personality=old.personality,
        test_profile=old.test_profile,
        run_as_text=old.run_as_text,
        submitted_at=store.clock.now(),
        slot_free_at=0.0,
    )
    sub = Submission(mode="v2", agent_id=result.agent_id, name=result.name, items=[SubmitItem(old.scenario)])
    store._start_managed_room(run, sub)
    return run
