"""The triggerer's side of the channel: one LISTEN connection per (event loop, database, channel), shared
by every wait and feed trigger in the process, fanned out in memory.

A wait subscribes *before* its first poll, so a `result.completed` that arrives after that poll wakes it;
one that arrived before is seen by the poll itself. When the connection drops the listener reconnects
with backoff and, once it LISTENs again, wakes every subscriber (each reads the API once, so a webhook
that arrived while it was deaf costs nothing); during the outage the safety poll keeps running.
When the database cannot be reached at all, `subscribe` yields None for a while and the wait polls as if
webhooks were off: webhooks only ever shorten a wait, never lengthen or break it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from cekura_livekit.webhooks.config import ChannelConfig

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

#: After a failed connect, waits poll without webhooks for this long before anyone tries again.
RETRY_AFTER_FAILURE = 60.0
_MAX_BACKOFF = 30.0


class Subscription:
    """One waiter: a result id (or every result, for the feed) and the flag the listener sets."""

    def __init__(self, result_id: int | None) -> None:
        self.result_id = result_id
        self._event = asyncio.Event()
        self.notes: list[dict[str, Any]] = []

    def _fire(self, note: dict[str, Any] | None) -> None:
        if note is not None and self.result_id is None:
            self.notes.append(note)
        self._event.set()

    async def wait(self, seconds: float) -> bool:
        """True when woken (the result's webhook arrived, or the listener reconnected), False after `seconds`."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), seconds)
        woken = self._event.is_set()
        self._event.clear()
        return woken


class Listener:
    def __init__(self, config: ChannelConfig) -> None:
        self.config = config
        self._by_result: dict[int, set[Subscription]] = {}
        self._everyone: set[Subscription] = set()
        self._conn: psycopg.AsyncConnection[object] | None = None
        self._task: asyncio.Task[None] | None = None
        self.users = 0

    async def start(self) -> None:
        self._conn = await self._connect()
        self._task = asyncio.create_task(self._pump(), name=f"cekura-webhook-listen-{self.config.channel}")

    async def _connect(self) -> psycopg.AsyncConnection[object]:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(self.config.dsn, autocommit=True, connect_timeout=3)
        await conn.execute(f"LISTEN {self.config.channel}")
        return conn

    def add(self, sub: Subscription) -> None:
        if sub.result_id is None:
            self._everyone.add(sub)
        else:
            self._by_result.setdefault(sub.result_id, set()).add(sub)

    def remove(self, sub: Subscription) -> None:
        if sub.result_id is None:
            self._everyone.discard(sub)
            return
        subs = self._by_result.get(sub.result_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_result[sub.result_id]

    @property
    def waiting(self) -> int:
        return sum(len(s) for s in self._by_result.values()) + len(self._everyone)

    def dispatch(self, payload: str) -> None:
        """One notification: wake the waits on its result and every feed subscriber. Never raises."""
        try:
            note = json.loads(payload)
            result_id = int(note["result_id"]) if note.get("result_id") is not None else None
        except (ValueError, TypeError, KeyError):
            log.warning("Ignoring a malformed webhook notification on %s.", self.config.channel)
            return
        if note.get("event") == "result.completed" and result_id is not None:
            for sub in self._by_result.get(result_id, ()):
                sub._fire(note)
        for sub in self._everyone:
            sub._fire(note)

    def _wake_all(self) -> None:
        for subs in self._by_result.values():
            for sub in subs:
                sub._fire(None)
        for sub in self._everyone:
            sub._fire(None)

    async def _pump(self) -> None:
        import psycopg

        backoff = 1.0
        while True:
            try:
                assert self._conn is not None
                async for note in self._conn.notifies():
                    self.dispatch(note.payload)
                    backoff = 1.0
            except (psycopg.OperationalError, psycopg.InterfaceError, OSError, AssertionError) as exc:
                log.warning("The webhook listener lost its connection (%s); reconnecting.", exc)
            while True:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
                try:
                    self._conn = await self._connect()
                    break
                except (psycopg.OperationalError, OSError) as exc:
                    log.warning("The webhook listener could not reconnect (%s).", exc)
            # Listening again: whatever completed while we were deaf is read from the API by each wait now.
            self._wake_all()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()


_listeners: dict[tuple[int, str, str, str], Listener] = {}
_locks: dict[int, asyncio.Lock] = {}
_failed_until: dict[tuple[str, str], float] = {}


def _key(config: ChannelConfig) -> tuple[int, str, str, str]:
    return (id(asyncio.get_running_loop()), config.dsn, config.schema, config.channel)


async def _acquire(config: ChannelConfig) -> Listener | None:
    if _failed_until.get((config.dsn, config.channel), 0.0) > time.monotonic():
        return None
    lock = _locks.setdefault(id(asyncio.get_running_loop()), asyncio.Lock())
    async with lock:
        listener = _listeners.get(_key(config))
        if listener is None:
            listener = Listener(config)
            try:
                await listener.start()
            except Exception as exc:
                _failed_until[(config.dsn, config.channel)] = time.monotonic() + RETRY_AFTER_FAILURE
                log.warning(
                    "Webhook channel unavailable (%s: %s); waiting by polling for the next %.0f s.",
                    type(exc).__name__,
                    exc,
                    RETRY_AFTER_FAILURE,
                )
                return None
            _listeners[_key(config)] = listener
        listener.users += 1
        return listener


async def _release(config: ChannelConfig, listener: Listener) -> None:
    lock = _locks.setdefault(id(asyncio.get_running_loop()), asyncio.Lock())
    async with lock:
        listener.users -= 1
        if listener.users <= 0 and _listeners.get(_key(config)) is listener:
            del _listeners[_key(config)]
            await listener.aclose()


@contextlib.asynccontextmanager
async def subscribe(
    config: ChannelConfig | None, result_id: int | None
) -> AsyncIterator[Subscription | None]:
    """A subscription to `result_id`'s `result.completed` (None: to every delivery), or None when there is
    no channel — the caller then polls as before. LISTEN is active when this yields."""
    listener = await _acquire(config) if config is not None else None
    if listener is None:
        yield None
        return
    sub = Subscription(result_id)
    listener.add(sub)
    try:
        yield sub
    finally:
        listener.remove(sub)
        await _release(config, listener)  # type: ignore[arg-type]


def active_listeners() -> int:
    """How many LISTEN connections this process holds (tests and the bench check it stays at one)."""
    return len(_listeners)
