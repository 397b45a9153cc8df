"""One poll of a batch, shared by the sync operator, the sensor and the trigger so they cannot disagree.

A poll costs one request per batch (the result detail view); run details are fetched in chunks of ≤ 100
only when the batch is terminal (to name the failing scenarios) or when per-run progress was asked for.
Status meaning comes from `cekura_livekit.models`; this module only decides *what to fetch*.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from cekura_livekit.hooks.errors import CekuraError, CekuraRateLimitError
from cekura_livekit.models import (
    BatchProgress,
    Outcome,
    ResultSummary,
    RunStatus,
    parse_count,
    run_outcome,
    runs_of,
)

if TYPE_CHECKING:
    from cekura_livekit.hooks.cekura import CekuraHook

#: How many failing runs an event / XCom lists by name; the rest are counted.
MAX_LISTED_FAILURES = 50
_MAX_ERROR_CHARS = 200

# Event status values (the trigger's, not Cekura's).
EVENT_TERMINAL = "terminal"
EVENT_TIMEOUT = "timeout"
EVENT_ERROR = "error"


@dataclass(frozen=True)
class Snapshot:
    """What one poll learned: progress counts, whether the batch is finished, and the runs it saw."""

    result_id: int | None
    name: str | None
    status: RunStatus
    progress: BatchProgress
    terminal: bool
    runs: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    def summary(self) -> dict[str, Any]:
        """The XCom-safe summary (ids, status, counts, success rate): never run payloads."""
        data = ResultSummary(
            result_id=self.result_id or 0, name=self.name, status=self.status, progress=self.progress
        ).to_dict()
        data["result_id"] = self.result_id
        return data

    def describe(self) -> str:
        label = f"result {self.result_id}" if self.result_id is not None else "runs"
        return f"Cekura {label} [{self.status.value}]: {self.progress.describe()}"

    def with_runs(self, runs: Sequence[Mapping[str, Any]]) -> Snapshot:
        """Replace progress with counts from full run objects (bulk fetch), keeping the result's status."""
        total = max(self.progress.total, len(runs))
        progress = BatchProgress.from_runs(runs, total=total)
        terminal = self.terminal or (progress.total > 0 and progress.pending == 0)
        return replace(self, progress=progress, terminal=terminal, runs=tuple(dict(r) for r in runs))


def snapshot_of_result(payload: Mapping[str, Any]) -> Snapshot:
    summary = ResultSummary.from_result(payload)
    return Snapshot(
        result_id=summary.result_id,
        name=summary.name,
        status=summary.status,
        progress=summary.progress,
        terminal=summary.is_terminal,
        runs=tuple(runs_of(payload)),
    )


def snapshot_of_runs(runs: Sequence[Mapping[str, Any]], run_ids: Sequence[int]) -> Snapshot:
    """A batch defined by explicit run ids: finished once every requested run is terminal."""
    progress = BatchProgress.from_runs(runs, total=len(run_ids))
    terminal = progress.total > 0 and progress.pending == 0
    result_ids = {int(r["result_id"]) for r in runs if str(r.get("result_id", "")).isdigit()}
    result_id = next(iter(result_ids)) if len(result_ids) == 1 else None
    return Snapshot(
        result_id=result_id,
        name=None,
        status=RunStatus.COMPLETED if terminal else RunStatus.RUNNING,
        progress=progress,
        terminal=terminal,
        runs=tuple(dict(r) for r in runs),
    )


def _run_id(run: Mapping[str, Any]) -> int | None:
    raw = run.get("id")
    return int(raw) if raw is not None and str(raw).isdigit() else None


def runs_needing_details(snapshot: Snapshot, known_run_ids: Iterable[int]) -> list[int]:
    """Ids whose full objects we still need: every run that did not pass (all runs when none were listed)."""
    if not snapshot.runs:
        return sorted({int(r) for r in known_run_ids})
    ids = []
    for run in snapshot.runs:
        if run_outcome(run.get("status"), run.get("success")) is not Outcome.PASSED:
            rid = _run_id(run)
            if rid is not None:
                ids.append(rid)
    return ids


def failing_runs(runs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Compact, XCom-safe descriptions of every run that did not pass, ordered by run id."""
    out = []
    for run in runs:
        outcome = run_outcome(run.get("status"), run.get("success"))
        if outcome is Outcome.PASSED:
            continue
        error = run.get("error_message") or (run.get("metadata") or {}).get("ended_reason") or None
        out.append(
            {
                "run_id": _run_id(run),
                "scenario_id": run.get("scenario"),
                "scenario_name": run.get("scenario_name"),
                "outcome": outcome.value if outcome else "not_finished",
                "error": str(error)[:_MAX_ERROR_CHARS] if error else None,
            }
        )
    return sorted(out, key=lambda r: r["run_id"] or 0)


def completion_event(snapshot: Snapshot, detail_runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The event of a finished batch: summary, and the failing runs by name (capped)."""
    if detail_runs and not snapshot.runs:
        snapshot = snapshot.with_runs(detail_runs)
    by_id = {_run_id(r): r for r in snapshot.runs}
    for run in detail_runs:  # full objects replace the slim ones of the detail view
        by_id[_run_id(run)] = {**by_id.get(_run_id(run), {}), **run}
    failing = failing_runs(by_id.values())
    return {
        "status": EVENT_TERMINAL,
        "result_id": snapshot.result_id,
        "summary": snapshot.summary(),
        "failing_runs": failing[:MAX_LISTED_FAILURES],
        "failing_total": len(failing),
        "message": snapshot.describe(),
    }


def other_event(status: str, result_id: int | None, message: str, summary: dict[str, Any] | None) -> dict:
    """A timeout or error event (no verdict possible): what happened, and the last known counts."""
    return {
        "status": status,
        "result_id": result_id,
        "summary": summary,
        "failing_runs": [],
        "failing_total": 0,
        "message": message,
    }


@dataclass(frozen=True)
class WaitTarget:
    """What is being waited on: a result (one GET per poll) or an explicit set of runs (bulk GETs)."""

    result_id: int | None = None
    run_ids: tuple[int, ...] = ()
    per_run_progress: bool = False

    def __post_init__(self) -> None:
        if self.result_id is None and not self.run_ids:
            raise ValueError("Nothing to wait on: pass result_id=<int> or a non-empty run_ids list.")

    def _ids_for_progress(self, snap: Snapshot) -> list[int]:
        listed = [rid for r in snap.runs if (rid := _run_id(r)) is not None]
        return listed or list(self.run_ids)

    # --- sync (workers) ---
    def poll(self, hook: CekuraHook) -> Snapshot:
        if self.result_id is None:
            return snapshot_of_runs(hook.get_runs_bulk(self.run_ids), self.run_ids)
        snap = snapshot_of_result(hook.get_result(self.result_id))
        if self.per_run_progress and not snap.terminal and (ids := self._ids_for_progress(snap)):
            snap = snap.with_runs(hook.get_runs_bulk(ids))
        return snap

    def complete(self, hook: CekuraHook, snap: Snapshot) -> dict[str, Any]:
        if self.result_id is None:
            return completion_event(snap, [])
        ids = runs_needing_details(snap, self.run_ids)
        return completion_event(snap, hook.get_runs_bulk(ids) if ids else [])

    def end_calls(self, hook: CekuraHook, snap: Snapshot | None) -> None:
        if self.result_id is not None:
            hook.end_calls(self.result_id)
            return
        for rid in self._unfinished(snap):
            hook.end_call(rid)

    # --- async (triggers) ---
    async def apoll(self, hook: CekuraHook) -> Snapshot:
        if self.result_id is None:
            return snapshot_of_runs(await hook.aget_runs_bulk(self.run_ids), self.run_ids)
        snap = snapshot_of_result(await hook.aget_result(self.result_id))
        if self.per_run_progress and not snap.terminal and (ids := self._ids_for_progress(snap)):
            snap = snap.with_runs(await hook.aget_runs_bulk(ids))
        return snap

    async def acomplete(self, hook: CekuraHook, snap: Snapshot) -> dict[str, Any]:
        if self.result_id is None:
            return completion_event(snap, [])
        ids = runs_needing_details(snap, self.run_ids)
        return completion_event(snap, await hook.aget_runs_bulk(ids) if ids else [])

    async def aend_calls(self, hook: CekuraHook, snap: Snapshot | None) -> None:
        if self.result_id is not None:
            await hook.aend_calls(self.result_id)
            return
        for rid in self._unfinished(snap):
            await hook.aend_call(rid)

    def _unfinished(self, snap: Snapshot | None) -> list[int]:
        if snap is None:
            return list(self.run_ids)
        done = {_run_id(r) for r in snap.runs if run_outcome(r.get("status"), r.get("success")) is not None}
        return [r for r in self.run_ids if r not in done]


@dataclass
class ErrorBudget:
    """Outer tolerance for outages longer than the hook's own read retries: bounded, with backoff.

    The hook already retried each read (honouring Retry-After); this decides whether the *wait* survives
    one more failed poll, and how long to back off before the next one.
    """

    max_consecutive: int = 10
    base_delay: float = 5.0
    max_delay: float = 300.0
    failures: int = 0

    def reset(self) -> None:
        self.failures = 0

    def next_delay(self, exc: BaseException) -> float | None:
        """Seconds to wait before polling again, or None when the error is fatal or the budget is spent."""
        if not isinstance(exc, CekuraError) or not exc.retryable:
            return None
        self.failures += 1
        if self.failures > self.max_consecutive:
            return None
        delay = min(self.max_delay, self.base_delay * 2 ** (self.failures - 1))
        if isinstance(exc, CekuraRateLimitError) and exc.retry_after:
            delay = max(delay, min(exc.retry_after, self.max_delay))
        return delay


def total_runs(payload: Mapping[str, Any]) -> int:
    """Run count of a submit/result payload: the listed runs, or the counter when runs are not listed."""
    return max(len(runs_of(payload)), parse_count(payload.get("total_runs_count"), field="total_runs_count"))
