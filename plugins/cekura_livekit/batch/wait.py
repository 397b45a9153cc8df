"""Waiting for a batch: the one poll loop, written once and driven sync (workers) or async (triggerer).

The loop is a generator that *describes* its I/O — typed `Fetch` steps (`GetResult`, `GetRunsBulk`,
`EndCalls`, `EndCall`: each calls its hook method in code, sync and async) and `Sleep` — and receives the
answers. `drive` runs it with the sync hook and `time.sleep`, `adrive` with the async hook and
`asyncio.sleep`; the decisions (what to fetch, error budget, deadline, events) exist exactly once, the way
the hook's `_Call`/`_settle` share one retry policy between its sync and async paths. The loop ends with
one `batch.event.WaitEvent`.

A wait's first poll reads the result detail (name, totals, progress); later polls ask only "is it
finished?" — a runs-list count of the result's unfinished runs, one item a page (~0.8 KB against ~24 KB
for a 20-run batch) — and the detail is fetched once more when that count reaches 0 (issue 26.4). Run
details are fetched in chunks of ≤ 100 only when the batch is terminal (to name the failing scenarios) or
when per-run progress was asked for (then every poll reads the detail, as before).

Event-driven completion (issue 22): a `Sleep` between polls may be *wakeable*; `adrive` given a `Wakeup`
(the webhook channel's subscription for this result) ends such a sleep early when Cekura's
`result.completed` for the result arrives, and the loop then reads the detail at once. With a channel the
regular sleep is the slow `safety_interval` (webhooks can be lost and are never replayed); without one
(SQLite metadata, standalone dev, the sync drive) nothing changes. The webhook body is never trusted: the
verdict always comes from the API.
Capped agent dispatch (issue 21.6): a bring-your-own-rooms batch whose LiveKit connection sets
`agent_slots` has only that many agents out at once; after every detail of a running batch the loop yields
a `Refill` step, which hands the slots of runs whose call ended to the next waiting runs
(`batch.rooms.RoomSession.arefill`). Such a wait reads the detail on every poll (a light count cannot say
*which* runs ended) and polls every `poll_interval` even when a webhook channel could wake it: a freed slot
must reach the next run before Cekura's tester gives up on the agent. A transient LiveKit failure is logged
and tried again at the next poll; a refused key ends the wait with a permanent error (the calls are ended:
no further run can get its agent).
Status meaning comes from `cekura_livekit.models`; this module only decides *what to fetch* and *when*.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from cekura_livekit.batch import TaskLog
from cekura_livekit.batch.errors import is_permanent
from cekura_livekit.batch.event import EventStatus, FailingRun, WaitEvent
from cekura_livekit.hooks.errors import CekuraError, CekuraRateLimitError
from cekura_livekit.hooks.livekit import LiveKitError
from cekura_livekit.models import (
    BatchProgress,
    Outcome,
    ResultSummary,
    RunStatus,
    run_outcome,
    runs_of,
)

if TYPE_CHECKING:
    from cekura_livekit.hooks.cekura import CekuraHook

log = logging.getLogger(__name__)

#: How many failing runs an event / XCom lists by name; the rest are counted.
MAX_LISTED_FAILURES = 50
_MAX_ERROR_CHARS = 200


T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


# ---------------------------------------------------------------------------------------------- I/O steps
class Fetch(Protocol[T_co]):
    """One hook call, typed: `call(hook)` in workers, `await acall(hook)` in the triggerer. Each step names
    the hook method it calls in code, so renaming a hook method breaks mypy, not a running wait."""

    def call(self, hook: CekuraHook) -> T_co: ...

    async def acall(self, hook: CekuraHook) -> T_co: ...


@dataclass(frozen=True)
class GetResult:
    """The result detail view (status, counts, slim runs): one request per poll."""

    result_id: int

    def call(self, hook: CekuraHook) -> dict[str, Any]:
        return hook.get_result(self.result_id)

    async def acall(self, hook: CekuraHook) -> dict[str, Any]:
        return await hook.aget_result(self.result_id)


@dataclass(frozen=True)
class GetRunsBulk:
    """Full run objects, fetched in chunks of at most 100 by the hook."""

    run_ids: tuple[int, ...]

    def call(self, hook: CekuraHook) -> list[dict[str, Any]]:
        return hook.get_runs_bulk(self.run_ids)

    async def acall(self, hook: CekuraHook) -> list[dict[str, Any]]:
        return await hook.aget_runs_bulk(self.run_ids)


@dataclass(frozen=True)
class CountUnfinished:
    """How many runs of the result are not terminal: the lightest "is it finished?" (a runs-list count)."""

    result_id: int

    def call(self, hook: CekuraHook) -> int:
        return hook.count_unfinished_runs(self.result_id)

    async def acall(self, hook: CekuraHook) -> int:
        return await hook.acount_unfinished_runs(self.result_id)


@dataclass(frozen=True)
class EndCalls:
    """End every call of a result."""

    result_id: int

    def call(self, hook: CekuraHook) -> None:
        hook.end_calls(self.result_id)

    async def acall(self, hook: CekuraHook) -> None:
        await hook.aend_calls(self.result_id)


@dataclass(frozen=True)
class EndCall:
    """End the call of one run."""

    run_id: int

    def call(self, hook: CekuraHook) -> None:
        hook.end_call(self.run_id)

    async def acall(self, hook: CekuraHook) -> None:
        await hook.aend_call(self.run_id)


class AgentRefill(Protocol):
    """The capped agent dispatch of a bring-your-own-rooms batch (`batch.rooms.RoomSession`)."""

    def refill(self, payload: Mapping[str, Any]) -> int: ...

    async def arefill(self, payload: Mapping[str, Any]) -> int: ...


@dataclass(frozen=True, eq=False)
class Refill:
    """Free the agent slots of runs whose call ended and dispatch into the next waiting runs' rooms.

    LiveKit I/O, not Cekura's: the step carries the room session it runs against and ignores the Cekura
    hook the drivers hand it, so both drivers execute it like any other step (sync in workers, awaited on
    the triggerer's loop) and the loop stays the one place that decides when it happens."""

    rooms: AgentRefill
    detail: Mapping[str, Any]

    def call(self, hook: CekuraHook) -> int:
        return self.rooms.refill(self.detail)

    async def acall(self, hook: CekuraHook) -> int:
        return await self.rooms.arefill(self.detail)


@dataclass(frozen=True)
class Sleep:
    """Pause between polls; a `wakeable` pause may end early when the result's webhook arrives. The
    drivers answer it with whether it was woken (True) or ran its full length (False)."""

    seconds: float
    wakeable: bool = False


class Wakeup(Protocol):
    """A webhook subscription for one result: `wait` returns True when woken, False after `seconds`."""

    async def wait(self, seconds: float) -> bool: ...


#: A piece of the wait: yields steps, receives each Fetch's answer, returns its value.
Steps = Generator["Fetch[Any] | Sleep", Any, T]


class _Stepper:
    """The bookkeeping both drivers share: hand the last answer (or error) in, take the next step out."""

    def __init__(self, steps: Steps[Any]) -> None:
        self._steps = steps
        self._answer: Any = None
        self._error: BaseException | None = None
        self.result: Any = None

    def next(self) -> Fetch[Any] | Sleep | None:
        """The next step, or None once the steps returned (their value is in `result`)."""
        answer, error = self._answer, self._error
        self._answer, self._error = None, None
        try:
            return self._steps.throw(error) if error is not None else self._steps.send(answer)
        except StopIteration as done:
            self.result = done.value
            return None

    def answered(self, value: Any) -> None:
        self._answer = value

    def failed(self, exc: BaseException) -> None:
        """Handed to the steps, which decide; anything they do not handle propagates out of `next`."""
        self._error = exc


def drive(steps: Steps[T], hook: CekuraHook, sleep: Callable[[float], None] = time.sleep) -> T:
    """Run steps with the blocking hook (workers, sensor pokes)."""
    stepper = _Stepper(steps)
    while (step := stepper.next()) is not None:
        if isinstance(step, Sleep):
            sleep(step.seconds)
            stepper.answered(False)
            continue
        try:
            stepper.answered(step.call(hook))
        except Exception as exc:
            stepper.failed(exc)
    return stepper.result


async def adrive(steps: Steps[T], hook: CekuraHook, wake: Wakeup | None = None) -> T:
    """Run steps with the async hook (triggerer): the same decisions, non-blocking I/O; a wakeable sleep
    ends early when `wake` (the result's webhook subscription) fires."""
    stepper = _Stepper(steps)
    while (step := stepper.next()) is not None:
        if isinstance(step, Sleep):
            if wake is not None and step.wakeable:
                stepper.answered(await wake.wait(step.seconds))
            else:
                await asyncio.sleep(step.seconds)
                stepper.answered(False)
            continue
        try:
            stepper.answered(await step.acall(hook))
        except Exception as exc:
            stepper.failed(exc)
    return stepper.result


# ---------------------------------------------------------------------------------------------- snapshots
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


# ---------------------------------------------------------------------------------------------- events
def completion_event(snapshot: Snapshot, detail_runs: Sequence[Mapping[str, Any]]) -> WaitEvent:
    """The event of a finished batch: summary, and the failing runs by name (capped)."""
    if detail_runs and not snapshot.runs:
        snapshot = snapshot.with_runs(detail_runs)
    by_id = {_run_id(r): r for r in snapshot.runs}
    for run in detail_runs:  # full objects replace the slim ones of the detail view
        by_id[_run_id(run)] = {**by_id.get(_run_id(run), {}), **run}
    failing = failing_runs(by_id.values())
    return WaitEvent(
        status=EventStatus.TERMINAL,
        result_id=snapshot.result_id,
        summary=snapshot.summary(),
        failing_runs=tuple(FailingRun(**r) for r in failing[:MAX_LISTED_FAILURES]),
        failing_total=len(failing),
        message=snapshot.describe(),
    )


def error_event(result_id: int | None, exc: BaseException, last: Snapshot | None) -> WaitEvent:
    """An error event (no verdict possible); `permanent` (e.g. a rejected API key) tells the task not to retry."""
    return WaitEvent(
        status=EventStatus.ERROR,
        result_id=result_id,
        message=f"Waiting for Cekura failed: {exc}",
        summary=last.summary() if last else None,
        permanent=is_permanent(exc),
    )


# ---------------------------------------------------------------------------------------------- what to fetch
@dataclass(frozen=True)
class WaitTarget:
    """What is being waited on: a result (one GET per poll) or an explicit set of runs (bulk GETs)."""

    result_id: int | None = None
    run_ids: tuple[int, ...] = ()
    per_run_progress: bool = False

    def __post_init__(self) -> None:
        if self.result_id is None and not self.run_ids:
            raise ValueError("Nothing to wait on: pass result_id=<int> or a non-empty run_ids list.")

    def describe(self) -> str:
        return f"result {self.result_id}" if self.result_id is not None else f"{len(self.run_ids)} runs"

    def poll(self, light: bool = False) -> Steps[Snapshot | None]:
        """One poll: the result detail (plus run objects when per-run progress is on), or the runs.

        `light`: first ask how many runs are unfinished and return None (still running) while any are;
        the detail is read only when the count reaches 0. Per-run progress always reads the detail.
        """
        if self.result_id is None:
            runs = yield GetRunsBulk(self.run_ids)
            return snapshot_of_runs(runs, self.run_ids)
        if light and not self.per_run_progress:
            unfinished = yield CountUnfinished(self.result_id)
            if unfinished > 0:
                log.debug("Cekura result %s: %d runs unfinished.", self.result_id, unfinished)
                return None
        snap = snapshot_of_result((yield GetResult(self.result_id)))
        if self.per_run_progress and not snap.terminal:
            ids = [rid for r in snap.runs if (rid := _run_id(r)) is not None] or list(self.run_ids)
            if ids:
                snap = snap.with_runs((yield GetRunsBulk(tuple(ids))))
        return snap

    def complete(self, snap: Snapshot) -> Steps[WaitEvent]:
        """The completion event; names of failing runs are a bonus, so a failed detail fetch keeps counts."""
        ids = runs_needing_details(snap, self.run_ids) if self.result_id is not None else []
        details: list[dict[str, Any]] = []
        if ids:
            try:
                details = yield GetRunsBulk(tuple(ids))
            except CekuraError as exc:
                log.warning("Could not fetch run details (%s); reporting counts only.", exc)
        return completion_event(snap, details)

    def end_calls(self, snap: Snapshot | None) -> Steps[None]:
        """End the batch's calls (all of a result, or each unfinished run of an explicit set)."""
        if self.result_id is not None:
            yield EndCalls(self.result_id)
            return
        done = set()
        if snap is not None:
            done = {_run_id(r) for r in snap.runs if run_outcome(r.get("status"), r.get("success"))}
        for rid in self.run_ids:
            if rid not in done:
                yield EndCall(rid)


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


def end_calls_quietly(hook: CekuraHook, result_id: int, why: str, logger: TaskLog = log) -> bool:
    """End a result's calls outside a wait (kill, failed dispatch); a failure is logged, never raised."""
    try:
        hook.end_calls(result_id)
    except Exception as exc:
        logger.warning("Could not end the calls of Cekura result %s: %s", result_id, exc)
        return False
    logger.warning("Ended the calls of Cekura result %s: %s.", result_id, why)
    return True


def deadline_for(
    timeout: float | None,
    execution_timeout: timedelta | None,
    started_at: datetime | None,
    now: float | None = None,
) -> float | None:
    """Wall-clock end of a wait (epoch seconds): `timeout` from now, `execution_timeout` from the task start.

    The execution-timeout deadline comes a little before Airflow's own, so the calls get ended and the
    message is ours rather than a bare AirflowTaskTimeout.
    """
    now = time.time() if now is None else now
    candidates = []
    if timeout is not None:
        candidates.append(now + timeout)
    if execution_timeout:
        limit = execution_timeout.total_seconds()
        start = started_at.timestamp() if started_at is not None else now
        candidates.append(start + limit - min(30.0, 0.1 * limit))
    return min(candidates) if candidates else None


# ---------------------------------------------------------------------------------------------- the loop
@dataclass
class Wait:
    """Poll a target until it is terminal, the error budget is spent, or the deadline passes.

    Exactly one event comes back: terminal (with the completion details), timeout (calls ended when
    `end_calls_on_deadline`) or error. `safety_interval` (set by the trigger when a webhook channel
    wakes it) replaces `poll_interval` between polls: the slow net under lost webhooks.
    """

    target: WaitTarget
    poll_interval: float = 30.0
    deadline: float | None = None
    end_calls_on_deadline: bool = True
    max_consecutive_errors: int = 10
    clock: Callable[[], float] = time.time
    logger: TaskLog = field(default=log, repr=False)
    safety_interval: float | None = None
    #: After the first detail, ask only "how many runs are unfinished?" (the trigger turns it on).
    light_polls: bool = False
    #: A capped own-room batch (`agent_slots`): refilled after every detail; None: every agent went out at submit.
    rooms: AgentRefill | None = field(default=None, repr=False)

    def _remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - self.clock()

    def _nap(self, seconds: float, wakeable: bool = False) -> Sleep:
        remaining = self._remaining()
        return Sleep(seconds if remaining is None else min(seconds, max(remaining, 0.0)), wakeable)

    def run(self) -> Steps[WaitEvent]:
        budget = ErrorBudget(
            max_consecutive=self.max_consecutive_errors,
            base_delay=max(self.poll_interval, 1.0),
            max_delay=max(300.0, self.poll_interval),
        )
        last: Snapshot | None = None
        woken = False
        # Refilling agent slots is the price of capacity control: the detail every poll (a count cannot say
        # which runs ended) and every `poll_interval` (a freed slot must reach the next run in time).
        refill = self.rooms is not None
        interval = self.poll_interval if self.safety_interval is None or refill else self.safety_interval
        while True:
            remaining = self._remaining()
            if remaining is not None and remaining <= 0:
                return (yield from self._deadline_event(last))
            try:  # light after the first detail, unless a webhook said it finished: then the detail at once
                light = self.light_polls and not refill and last is not None and not woken
                snap = yield from self.target.poll(light=light)
            except CekuraError as exc:
                delay = budget.next_delay(exc)
                if delay is None:
                    return error_event(self.target.result_id, exc, last)
                self.logger.warning(
                    "Polling Cekura failed (%s); poll %d of at most %d failing in a row, next in %.0f s.",
                    exc,
                    budget.failures,
                    budget.max_consecutive,
                    delay,
                )
                yield self._nap(delay)
                continue
            budget.reset()
            if snap is None:  # the count says runs are still unfinished; `last` keeps the detail's counts
                woken = bool((yield self._nap(interval, wakeable=True)))
                continue
            last = snap
            self.logger.info("%s", snap.describe())
            if snap.terminal:
                return (yield from self.target.complete(snap))
            if self.rooms is not None and (failed := (yield from self._refill(self.rooms, snap))):
                return failed
            woken = bool((yield self._nap(interval, wakeable=True)))

    def _refill(self, rooms: AgentRefill, snap: Snapshot) -> Steps[WaitEvent | None]:
        """Hand freed agent slots on; None to go on waiting, or the error event of a refused LiveKit key."""
        try:
            yield Refill(rooms, {"runs": list(snap.runs)})
        except LiveKitError as exc:
            if not exc.permanent:
                self.logger.warning(
                    "Dispatching agents into freed slots failed (%s); next poll tries again.", exc
                )
                return None
            # No run still waiting can get its agent now: end the calls rather than pay for runs that
            # can only end `Main agent-did-not-answer`.
            try:
                yield from self.target.end_calls(snap)
                self.logger.warning("LiveKit refused the agent dispatch; ended the calls of the batch.")
            except CekuraError as end_exc:
                self.logger.warning("Ending the calls after LiveKit refused the dispatch failed: %s", end_exc)
            return error_event(self.target.result_id, exc, snap)
        return None

    def _deadline_event(self, last: Snapshot | None) -> Steps[WaitEvent]:
        ended = False
        if self.end_calls_on_deadline:
            try:
                yield from self.target.end_calls(last)
                ended = True
            except CekuraError as exc:
                self.logger.warning("Ending the calls at the deadline failed: %s", exc)
        action = "its calls were ended" if ended else "its calls were left running"
        progress = f" Last progress: {last.progress.describe()}." if last else ""
        return WaitEvent(
            status=EventStatus.TIMEOUT,
            result_id=self.target.result_id,
            message=f"Waiting for Cekura {self.target.describe()} passed the task's deadline; {action}.{progress}",
            summary=last.summary() if last else None,
            calls_ended=ended,
        )
