"""CekuraRunsTrigger: waits for a Cekura batch in the triggerer, without holding a worker slot.

One `async with CekuraHook(...)` (one HTTP pool) for the trigger's whole life; one request per poll;
exactly one event, then return. A wall-clock `execution_deadline` makes the task's timeout hold in
deferrable mode too: at the deadline the calls are ended (optional) and a timeout event is sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from cekura_livekit.hooks.cekura import CekuraHook
from cekura_livekit.hooks.errors import CekuraError
from cekura_livekit.triggers.polling import (
    EVENT_ERROR,
    EVENT_TIMEOUT,
    ErrorBudget,
    Snapshot,
    WaitTarget,
    completion_event,
    other_event,
)


class CekuraRunsTrigger(BaseTrigger):
    """Polls a Cekura result (or an explicit set of runs) until it is terminal or the deadline passes.

    :param result_id: the batch to wait on (one GET per poll).
    :param run_ids: runs of the batch: used to fetch details at the end, or, without `result_id`,
        the set of runs to wait on.
    :param execution_deadline: epoch seconds after which the wait gives up (None: no deadline).
    :param end_calls_on_deadline: end the batch's calls at the deadline before reporting the timeout.
    :param cancel_on_kill: end the batch's calls when a user kills the deferred task (`on_kill`).
    :param per_run_progress: also fetch run objects on every poll (costs one request per 100 runs).
    :param max_consecutive_errors: polls in a row that may fail with a transient error (after the
        hook's own retries) before the trigger gives up with an error event.
    """

    def __init__(
        self,
        *,
        cekura_conn_id: str = CekuraHook.default_conn_name,
        result_id: int | None = None,
        run_ids: Sequence[int] | None = None,
        poll_interval: float = 30.0,
        execution_deadline: float | None = None,
        end_calls_on_deadline: bool = True,
        cancel_on_kill: bool = True,
        per_run_progress: bool = False,
        hook_params: dict[str, Any] | None = None,
        max_consecutive_errors: int = 10,
    ) -> None:
        super().__init__()
        self.cekura_conn_id = cekura_conn_id
        self.result_id = int(result_id) if result_id is not None else None
        self.run_ids = [int(r) for r in (run_ids or [])]
        self.poll_interval = float(poll_interval)
        self.execution_deadline = float(execution_deadline) if execution_deadline is not None else None
        self.end_calls_on_deadline = bool(end_calls_on_deadline)
        self.cancel_on_kill = bool(cancel_on_kill)
        self.per_run_progress = bool(per_run_progress)
        self.hook_params = dict(hook_params or {})
        self.max_consecutive_errors = int(max_consecutive_errors)
        self.target = WaitTarget(
            result_id=self.result_id, run_ids=tuple(self.run_ids), per_run_progress=self.per_run_progress
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "cekura_conn_id": self.cekura_conn_id,
                "result_id": self.result_id,
                "run_ids": list(self.run_ids),
                "poll_interval": self.poll_interval,
                "execution_deadline": self.execution_deadline,
                "end_calls_on_deadline": self.end_calls_on_deadline,
                "cancel_on_kill": self.cancel_on_kill,
                "per_run_progress": self.per_run_progress,
                "hook_params": dict(self.hook_params),
                "max_consecutive_errors": self.max_consecutive_errors,
            },
        )

    def _hook(self) -> CekuraHook:
        return CekuraHook(cekura_conn_id=self.cekura_conn_id, **self.hook_params)

    def _remaining(self) -> float | None:
        return None if self.execution_deadline is None else self.execution_deadline - time.time()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        budget = ErrorBudget(
            max_consecutive=self.max_consecutive_errors,
            base_delay=max(self.poll_interval, 1.0),
            max_delay=max(300.0, self.poll_interval),
        )
        last: Snapshot | None = None
        try:
            async with self._hook() as hook:
                while True:
                    remaining = self._remaining()
                    if remaining is not None and remaining <= 0:
                        yield TriggerEvent(await self._deadline_event(hook, last))
                        return
                    try:
                        snap = await self.target.apoll(hook)
                    except CekuraError as exc:
                        delay = budget.next_delay(exc)
                        if delay is None:
                            yield TriggerEvent(self._error_event(exc, last))
                            return
                        self.log.warning(
                            "Polling Cekura failed (%s); poll %d of at most %d failing in a row, next in %.0f s.",
                            exc,
                            budget.failures,
                            budget.max_consecutive,
                            delay,
                        )
                        await self._sleep(delay)
                        continue
                    budget.reset()
                    last = snap
                    self.log.info("%s", snap.describe())
                    if snap.terminal:
                        try:
                            event = await self.target.acomplete(hook, snap)
                        except CekuraError as exc:
                            # The verdict only needs counts; names of failing runs are a bonus.
                            self.log.warning("Could not fetch run details (%s); reporting counts only.", exc)
                            event = completion_event(snap, [])
                        yield TriggerEvent(event)
                        return
                    await self._sleep(self.poll_interval)
        except (CekuraError, ValueError) as exc:  # e.g. the connection is missing or has no key
            yield TriggerEvent(self._error_event(exc, last))

    async def _sleep(self, seconds: float) -> None:
        remaining = self._remaining()
        if remaining is not None:
            seconds = min(seconds, max(remaining, 0.0))
        await asyncio.sleep(seconds)

    async def _deadline_event(self, hook: CekuraHook, last: Snapshot | None) -> dict[str, Any]:
        ended = False
        if self.end_calls_on_deadline:
            try:
                await self.target.aend_calls(hook, last)
                ended = True
            except CekuraError as exc:
                self.log.warning("Ending the calls at the deadline failed: %s", exc)
        what = f"result {self.result_id}" if self.result_id is not None else f"{len(self.run_ids)} runs"
        action = "its calls were ended" if ended else "its calls were left running"
        progress = f" Last progress: {last.progress.describe()}." if last else ""
        event = other_event(
            EVENT_TIMEOUT,
            self.result_id,
            f"Waiting for Cekura {what} passed the task's deadline; {action}.{progress}",
            last.summary() if last else None,
        )
        event["calls_ended"] = ended
        return event

    def _error_event(self, exc: BaseException, last: Snapshot | None) -> dict[str, Any]:
        return other_event(
            EVENT_ERROR,
            self.result_id,
            f"Waiting for Cekura failed: {exc}",
            last.summary() if last else None,
        )

    async def on_kill(self) -> None:
        """A user killed the deferred task: end the batch's calls (best-effort) when asked to."""
        if not self.cancel_on_kill:
            return
        try:
            async with self._hook() as hook:
                await self.target.aend_calls(hook, None)
            self.log.info("Ended the calls of Cekura result %s after the task was killed.", self.result_id)
        except Exception as exc:
            self.log.warning("Could not end the Cekura calls on kill: %s", exc)
