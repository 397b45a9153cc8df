"""The suite's final word: what really failed in a regression DAG run (gate, submit, wait or load), and why.

The `verdict` task runs after the load, whatever happened (trigger rule all_done), and fails the DAG run
when an upstream task failed. It says, in this order: the gate (each failed stage with the upstream task's
own one-line reason, the `failure_reason` XCom pushed by `batch.errors.reported`), the load (stored or not,
how many runs), and the link to the batch. A batch the submit task paid for but never announced (killed
right after the submit) is found by its batch name (`batch.recovery`), so the verdict never says "nothing
was submitted" about a paid batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cekura_livekit.batch.errors import FAILURE_KEY
from cekura_livekit.batch.recovery import RECOVERED_KEY, RUN_TASK, FoundBatch, find_submitted_batch

LOAD_TASK = "load_results"
_FAILED = ("failed", "upstream_failed")

_STAGE = {
    "submit": "could not submit the batch (nothing was paid for unless a result id is shown)",
    "wait": "submitted the batch but waiting for it failed",
    "gate": "ran the batch and it failed its gate",
    "load": "could not load the results into the warehouse",
}


def _states(ti: Any, dag_run: Any) -> dict[str, str]:
    """Upstream task states of this DAG run; empty where the API is unavailable (e.g. plain unit tests)."""
    try:
        found = ti.get_task_states(
            dag_id=ti.dag_id, task_ids=[RUN_TASK, LOAD_TASK], run_ids=[getattr(dag_run, "run_id", ti.run_id)]
        )
    except Exception:
        return {}
    per_run: Mapping[str, Any] = next(iter(found.values()), {}) if isinstance(found, Mapping) else {}
    return {str(k): str(v) for k, v in dict(per_run).items()}


def _reason(ti: Any, task_id: str) -> Mapping[str, Any] | None:
    value = ti.xcom_pull(task_ids=task_id, key=FAILURE_KEY)
    return value if isinstance(value, Mapping) else None


def _sentence(task_id: str, reason: Mapping[str, Any] | None, state: str | None) -> str | None:
    if reason:
        what = _STAGE.get(str(reason.get("stage")), f"{task_id} failed")
        message = str(reason.get("message") or "").rstrip()
        return f"{task_id} {what}: {message}" + ("" if message.endswith((".", "!", "?")) else ".")
    if state in ("failed", "upstream_failed"):
        return f"{task_id} ended {state} without a recorded reason (killed or timed out?): see its log."
    return None


def something_failed(ti: Any, dag_run: Any = None) -> bool:
    """Did the submit/wait or the load fail? (Their states, else their recorded reasons.)"""
    states = _states(ti, dag_run)
    if any(states.get(t) in _FAILED for t in (RUN_TASK, LOAD_TASK)):
        return True
    return any(_reason(ti, t) for t in (RUN_TASK, LOAD_TASK))


def _load_summary(ti: Any) -> Mapping[str, Any] | None:
    value = ti.xcom_pull(task_ids=LOAD_TASK)
    return value if isinstance(value, Mapping) and "result_id" in value else None


def _batch(ti: Any, summary: Mapping[str, Any] | None, hook: Callable[[], Any] | None) -> FoundBatch | None:
    """The batch of this run: pushed by the submit task, found by the load, else searched by name."""
    recovered = ti.xcom_pull(task_ids=LOAD_TASK, key=RECOVERED_KEY)
    if isinstance(recovered, Mapping) and recovered.get("result_id"):
        return FoundBatch(int(recovered["result_id"]), str(recovered.get("how") or "found by the load"))
    if summary is not None:
        return FoundBatch(int(summary["result_id"]), f"pushed by {RUN_TASK}")
    if hook is None:
        found = ti.xcom_pull(task_ids=RUN_TASK, key="result_id")
        return FoundBatch(int(found), f"pushed by {RUN_TASK}") if found is not None else None
    try:
        return find_submitted_batch(ti, hook)
    except Exception:  # the verdict must speak even when Cekura cannot be asked
        found = ti.xcom_pull(task_ids=RUN_TASK, key="result_id")
        return FoundBatch(int(found), f"pushed by {RUN_TASK}") if found is not None else None


def _load_sentence(
    batch: FoundBatch | None, summary: Mapping[str, Any] | None, ti: Any, load_state: str | None
) -> str:
    if batch is None:
        return "Nothing was submitted, so nothing was loaded."
    recovered = (
        "" if batch.how.startswith("pushed") else f" ({RUN_TASK} died before announcing it; {batch.how})"
    )
    if summary is not None:
        runs = summary.get("runs")
        return f"The results of Cekura result {batch.result_id} were loaded: {runs} runs stored{recovered}."
    if _reason(ti, LOAD_TASK) or load_state in _FAILED:
        return f"Cekura result {batch.result_id} was NOT loaded{recovered}; clear load_results to retry the load."
    state = f" (load_results ended {load_state})" if load_state else ""
    return f"Cekura result {batch.result_id} was NOT loaded{state}{recovered}; clear load_results to load it."


def _link(ti: Any, batch: FoundBatch | None, summary: Mapping[str, Any] | None) -> str:
    url = ti.xcom_pull(task_ids=RUN_TASK, key="dashboard_url") or (summary or {}).get("dashboard_url")
    if url:
        return f"Link: {url}"
    return f"Cekura result {batch.result_id}." if batch is not None else ""


def explain(suite: str, ti: Any, dag_run: Any = None, hook: Callable[[], Any] | None = None) -> str:
    """One message: the gate (each failed stage with its task's own reason), the load, the link.

    `hook` (a CekuraHook factory) lets the verdict find a batch nobody announced; None: XCom only.
    """
    states = _states(ti, dag_run)
    parts = [
        s
        for s in (
            _sentence(RUN_TASK, _reason(ti, RUN_TASK), states.get(RUN_TASK)),
            _sentence(LOAD_TASK, _reason(ti, LOAD_TASK), states.get(LOAD_TASK)),
        )
        if s
    ]
    if not parts:
        parts = [
            "an upstream task failed without a recorded reason: see the run_scenarios and load_results logs."
        ]
    summary = _load_summary(ti)
    batch = _batch(ti, summary, hook)
    tail = [_load_sentence(batch, summary, ti, states.get(LOAD_TASK)), _link(ti, batch, summary)]
    return f"Suite {suite}: " + " ".join([*parts, *(t for t in tail if t)])
