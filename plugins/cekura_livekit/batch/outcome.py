"""The suite's final word: what really failed in a regression DAG run (gate, submit, wait or load), and why.

The `verdict` task runs when any upstream task failed. A fixed sentence ("the batch failed its gate or could
not run") was wrong whenever the batch passed and the load failed, or nothing was submitted; this reads the
upstream tasks' own one-line reasons (`failure_reason` XCom, pushed by `batch.errors.reported`) and their
states, and says what happened.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cekura_livekit.batch.errors import FAILURE_KEY

RUN_TASK = "run_scenarios"
LOAD_TASK = "load_results"

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


def explain(suite: str, ti: Any, dag_run: Any = None) -> str:
    """One message naming each failed stage with the upstream task's own reason."""
    states = _states(ti, dag_run)
    result_id = ti.xcom_pull(task_ids=RUN_TASK, key="result_id")
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
    load_state = states.get(LOAD_TASK)
    if result_id is None:
        tail = "Nothing was submitted, so nothing was loaded."
    elif load_state == "success":
        tail = f"The results of Cekura result {result_id} were loaded."
    elif _reason(ti, LOAD_TASK) or load_state in ("failed", "upstream_failed"):
        tail = f"Cekura result {result_id} was NOT loaded; clear load_results to retry the load."
    else:
        tail = f"Cekura result {result_id}."
    return f"Suite {suite}: " + " ".join(parts) + " " + tail
