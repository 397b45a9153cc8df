"""CekuraRunsTrigger: waits for a Cekura batch in the triggerer, without holding a worker slot.

One `async with CekuraHook(...)` (one HTTP pool) for the trigger's whole life; one request per poll
(after the first detail, the light "how many runs are unfinished?" count); exactly one event, then return.
With a webhook channel (`cekura_livekit.webhooks`: the metadata database is PostgreSQL) the trigger
subscribes to its result's `result.completed` before the first poll and sleeps `safety_interval` between
polls instead of `poll_interval`; the webhook ends the sleep and the detail is read at once. Without one
it polls every `poll_interval` exactly as before. A bring-your-own-rooms batch whose LiveKit connection
caps the agents in flight (`agent_slots`) hands the trigger its room session (`rooms`: names and settings,
never a token or secret); the wait then refills freed agent slots after every poll (`batch.wait.Refill`),
reading the detail each poll and polling every `poll_interval`. A wall-clock `execution_deadline` makes the task's timeout hold in
deferrable mode too: at the deadline the calls are ended (optional) and a timeout event is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from cekura_livekit.batch.errors import ConnectionUnreadableInTriggerer
from cekura_livekit.batch.rooms import RoomSession
from cekura_livekit.batch.wait import Wait, WaitTarget, adrive, error_event
from cekura_livekit.compat import AirflowNotFoundException
from cekura_livekit.hooks.cekura import CekuraHook
from cekura_livekit.hooks.errors import CekuraError
from cekura_livekit.webhooks.config import ChannelConfig
from cekura_livekit.webhooks.listener import subscribe

#: Between polls while a webhook can wake the wait: a lost webhook costs at most this long.
DEFAULT_SAFETY_INTERVAL = 600.0


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
    :param webhooks: be woken by Cekura's `result.completed` when a webhook channel exists.
    :param safety_interval: seconds between polls while webhooks can wake the wait (a lost webhook costs
        at most this long); never shorter than `poll_interval`.
    :param rooms: the room session of a capped own-room batch (`RoomSession.to_payload()`): the wait
        dispatches the agent into the next waiting runs' rooms as earlier calls end. None: no refill.
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
        webhooks: bool = True,
        safety_interval: float = DEFAULT_SAFETY_INTERVAL,
        rooms: dict[str, Any] | None = None,
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
        self.webhooks = bool(webhooks)
        self.safety_interval = float(safety_interval)
        self.rooms = dict(rooms) if rooms is not None else None
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
                "webhooks": self.webhooks,
                "safety_interval": self.safety_interval,
                "rooms": self.rooms,
            },
        )

    def _hook(self) -> CekuraHook:
        return CekuraHook(cekura_conn_id=self.cekura_conn_id, **self.hook_params)

    async def _channel(self) -> ChannelConfig | None:
        if not self.webhooks or self.result_id is None:
            return None
        try:
            return await ChannelConfig.aresolve()
        except ValueError as exc:  # a mistyped CEKURA_WEBHOOK_* override: poll, and say why
            self.log.warning("Webhooks off for this wait: %s", exc)
            return None

    async def _room_session(self) -> RoomSession | None:
        """The capped batch's room session, built once per run; its LiveKit connection read up front, so a
        triggerer that cannot read it fails naming that connection before the first poll."""
        if self.rooms is None:
            return None
        session = RoomSession.from_payload(self.rooms)
        try:
            await session.rooms.hook.acredentials()
        except AirflowNotFoundException as exc:
            raise ConnectionUnreadableInTriggerer(session.livekit_conn_id, exc) from exc
        return session

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """The shared wait loop (`batch.wait.Wait`) on the async hook: one pool, one event, then return."""
        try:
            session = await self._room_session()
            async with subscribe(await self._channel(), self.result_id) as wake:
                wait = Wait(
                    self.target,
                    self.poll_interval,
                    self.execution_deadline,
                    end_calls_on_deadline=self.end_calls_on_deadline,
                    max_consecutive_errors=self.max_consecutive_errors,
                    logger=self.log,
                    safety_interval=max(self.safety_interval, self.poll_interval) if wake else None,
                    light_polls=True,
                    rooms=session,
                )
                if session is not None:
                    self.log.info(
                        "Capped agent dispatch: reading the result every %g s to hand freed agent slots on.",
                        self.poll_interval,
                    )
                elif wake is not None:
                    self.log.info(
                        "Waiting for Cekura result %s's webhook; safety poll every %.0f s.",
                        self.result_id,
                        wait.safety_interval,
                    )
                else:
                    self.log.info("No webhook channel: polling every %g s.", self.poll_interval)
                async with self._hook() as hook:
                    event = await adrive(wait.run(), hook, wake)
        except AirflowNotFoundException as exc:
            event = error_event(
                self.result_id, ConnectionUnreadableInTriggerer(self.cekura_conn_id, exc), None
            )
        except (CekuraError, ValueError) as exc:  # e.g. no key
            event = error_event(self.result_id, exc, None)
        yield TriggerEvent(event.to_payload())

    async def on_kill(self) -> None:
        """A user killed the deferred task: end the batch's calls (best-effort) when asked to."""
        if not self.cancel_on_kill:
            return
        try:
            async with self._hook() as hook:
                await adrive(self.target.end_calls(None), hook)
            self.log.info("Ended the calls of Cekura %s after the task was killed.", self.target.describe())
        except Exception as exc:
            self.log.warning("Could not end the Cekura calls on kill: %s", exc)
