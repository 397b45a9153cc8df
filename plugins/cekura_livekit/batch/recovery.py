"""Find the batch a submit task paid for when it died before saying so (issue 24 item 3).

A worker killed right after the submit, on its last try, leaves no `result_id` XCom: the load used to skip
("nothing was submitted") and the verdict to say so, while Cekura ran (and billed) the batch. The record that
survives the task is durable on two sides:

- Airflow's task state store (`batch.submit.STATE_KEY`) — but the execution API scopes it to the task
  instance itself (`ti:self`): another task (the load, the verdict) cannot read it, so it is no help here;
- Cekura, which keeps the batch under its deterministic name (`batch.submit.batch_name`: task instance +
  attempt). Searching that name for attempt 1, 2, … finds every batch the task submitted; the newest one is
  the one its last attempt paid for (an attempt only follows a batch that ended without evaluating).

Reads only: nothing here submits, cancels or writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cekura_livekit.batch.identity import TaskIdentity
from cekura_livekit.batch.spec import BatchSpec
from cekura_livekit.batch.submit import MAX_ATTEMPTS, batch_name
from cekura_livekit.models import MANAGED

if TYPE_CHECKING:
    from cekura_livekit.hooks.cekura import CekuraHook

#: The submit task of a regression DAG (`regression_dag.build_regression_dag`).
RUN_TASK = "run_scenarios"
#: XCom key under which the load records how it found the batch it loaded (read by the verdict).
RECOVERED_KEY = "recovered_batch"


@dataclass(frozen=True)
class FoundBatch:
    """A batch the submit task paid for: its result id, and how it was found (said in logs and the verdict)."""

    result_id: int
    how: str

    def to_xcom(self) -> dict[str, Any]:
        return {"result_id": self.result_id, "how": self.how}


def pushed_result_id(ti: Any, run_task: str = RUN_TASK) -> int | None:
    """The result id the submit task pushed (None when it died before pushing it)."""
    value = ti.xcom_pull(task_ids=run_task, key="result_id")
    if isinstance(value, Mapping):
        value = value.get("result_id")
    text = str(value).strip() if value is not None and not isinstance(value, bool) else ""
    return int(text) if text.isascii() and text.isdigit() else None


def names_of(identity: TaskIdentity, spec_name: str | None, attempts: int = MAX_ATTEMPTS) -> list[str]:
    """The batch names the submit task would have used, attempt 1 first (one home: `batch_name`)."""
    spec = BatchSpec(mode=MANAGED, scenarios=(), name=spec_name)
    return [batch_name(spec, identity, attempt) for attempt in range(1, attempts + 1)]


def find_by_name(hook: CekuraHook, identity: TaskIdentity, spec_name: str | None = None) -> FoundBatch | None:
    """The newest batch the task instance `identity` submitted, found by its deterministic names."""
    newest: FoundBatch | None = None
    for name in names_of(identity, spec_name):
        found = hook.find_results_by_name(name)
        if not found:
            break  # attempts are consecutive: attempt n+1 exists only if attempt n did
        result_id = max(int(r["id"]) for r in found)
        newest = FoundBatch(result_id, f"found in Cekura by its batch name {name!r}")
    return newest


def find_submitted_batch(
    ti: Any,
    hook_factory: Any,
    *,
    run_task: str = RUN_TASK,
    spec_name: str | None = None,
) -> FoundBatch | None:
    """The batch `run_task` of this DAG run paid for: its XCom, else a search by its batch names.

    `hook_factory` is called only when the XCom is missing, so a healthy run makes no extra request.
    """
    pushed = pushed_result_id(ti, run_task)
    if pushed is not None:
        return FoundBatch(pushed, f"pushed by {run_task}")
    identity = TaskIdentity(dag_id=str(ti.dag_id), task_id=run_task, run_id=str(ti.run_id))
    return find_by_name(hook_factory(), identity, spec_name)
