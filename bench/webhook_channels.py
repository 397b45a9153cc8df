"""The webhook channel and its alternatives, measured side by side in one run (issue 22; used by webhooks.py).

One shape for all four: the receiver's side `publish(result_id)`; the triggerer's side `subscribe(result_id)`
gives a waiter whose `wait(seconds)` is True once that result's delivery arrived (or the channel asks every
wait to read the API again), False after `seconds` (the wait's safety poll).

- **LISTEN/NOTIFY + delivery table** — the chosen channel, driven through its real code
  (`channel.PgRecorder.record`, `listener.subscribe`): one LISTEN connection per process, fanned out in memory.
- **Redis pub/sub** — one SUBSCRIBE connection per process fanned out in memory like our listener, the same
  reconnect backoff and the same "wake every wait once" after a reconnect (pub/sub forgets what was published
  while nobody listened, exactly like NOTIFY).
- **Redis stream** — XADD per delivery; one `XREAD BLOCK` per process from the last id it read, so a delivery
  published while the reader was disconnected is read after the reconnect (a log, not a broadcast): no need
  to wake everyone.
- **Polled table, no NOTIFY** — the same delivery table, plain INSERT; every wait SELECTs its row every
  interval through a shared pool of 4 connections (500 waits cannot each hold one of PostgreSQL's 100).

Minimal but honest: the Redis variants record nothing for idempotency or for the asset feed — a deployment
would still need the PostgreSQL table (or Redis keys with their own expiry and persistence) for those.

Measured per channel and size, the publisher in its own thread and loop (the receiver is another process in
production) so the subscriber's CPU is its loop thread's `thread_time`: CPU per wait per minute while every
wait sleeps, the server's CPU for the subscriber's connections (PostgreSQL backends / the Redis server
process), statements a minute, connections; wake latency from publish to wake and CPU per wake; and the
restart case — the server drops the subscriber's connection(s), a delivery is published at once, and we see
whether it still arrives, when the wait wakes and how many other waits were woken (each is one API read).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import threading
import time
import uuid
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import psutil

from bench.common import PG_DSN, drop_schema

if TYPE_CHECKING:
    from cekura_livekit.webhooks.listener import Subscription

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
FOREVER = 3600.0  # the waits' safety interval while measuring: nothing but a delivery wakes them
T = TypeVar("T")


class Waiter(Protocol):
    async def wait(self, seconds: float) -> bool: ...


# ------------------------------------------------------------------------------------- shared pieces
class Publisher:
    """The receiver's side in its own thread and event loop: its CPU is not counted as the subscriber's."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="bench-publisher", daemon=True)
        self._thread.start()

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class _FanOut:
    """Result id -> waiting flags (`listener.Subscription`), in memory: one connection per process serves every
    wait in it (the Redis variants)."""

    def __init__(self) -> None:
        self.by_result: dict[int, set[Subscription]] = {}
        self.received: set[int] = set()

    @contextlib.asynccontextmanager
    async def subscribe(self, result_id: int) -> AsyncIterator[Subscription]:
        from cekura_livekit.webhooks.listener import Subscription  # the listener's own waiter, its semantics

        flag = Subscription(result_id)
        self.by_result.setdefault(result_id, set()).add(flag)
        try:
            yield flag
        finally:
            flags = self.by_result.get(result_id, set())
            flags.discard(flag)
            if not flags:
                self.by_result.pop(result_id, None)

    def dispatch(self, result_id: int) -> None:
        self.received.add(result_id)
        for flag in self.by_result.get(result_id, ()):
            flag._fire(None)

    def wake_all(self) -> None:
        for flags in self.by_result.values():
            for flag in flags:
                flag._fire(None)


def _pg_admin(sql: str, *params: object) -> list[tuple[Any, ...]]:
    import psycopg

    # named, so that PGAPPNAME (set while a channel opens its connections) does not make it a target
    with psycopg.connect(PG_DSN, autocommit=True, application_name="bench_channels_admin") as conn:
        return list(conn.execute(sql, params).fetchall())


def _pg_backends(app: str) -> list[int]:
    return [int(r[0]) for r in _pg_admin("SELECT pid FROM pg_stat_activity WHERE application_name = %s", app)]


def _cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
    return total


# ------------------------------------------------------------------------------------- the channels
class Channel:
    """What the bench drives. `queries` counts the statements/commands the subscriber side sent (the bench's
    own variants; the real listener is checked on the server instead, `statements_since`)."""

    label = ""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.app = f"bench_channels_{tag}"
        self.queries = 0

    async def open_publisher(self) -> None: ...
    async def publish(self, result_id: int) -> None: ...
    async def close_publisher(self) -> None: ...
    async def start(self) -> None: ...
    async def close(self) -> None: ...

    def subscribe(self, result_id: int) -> contextlib.AbstractAsyncContextManager[Waiter]:
        raise NotImplementedError

    def received(self, result_id: int) -> bool:
        """Did this result's delivery itself reach the subscriber side (not a blanket wake-up)?"""
        raise NotImplementedError

    def break_subscriber(self) -> None:
        """The server drops the subscriber's connection(s): a restart, a failover, a network cut."""
        raise NotImplementedError

    def connections(self) -> int:
        raise NotImplementedError

    def server_pids(self) -> list[int]:
        raise NotImplementedError

    def statements_since(self, wall: float, counted: int) -> int:
        return self.queries - counted


class _PgBackends:
    """What a PostgreSQL-backed channel's subscriber is on the server: its backends, found by application name."""

    app: str

    def break_subscriber(self) -> None:
        _pg_admin(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = %s",
            self.app,
        )

    def connections(self) -> int:
        return len(self.server_pids())

    def server_pids(self) -> list[int]:
        return _pg_backends(self.app)


class PgNotify(_PgBackends, Channel):
    """The chosen channel through its real code: `PgRecorder.record` (INSERT … ON CONFLICT + pg_notify) and
    `listener.subscribe` (one LISTEN connection per loop). A witness subscription to every delivery (the
    feed's kind) tells which notifications reached the listener."""

    label = "LISTEN/NOTIFY + table (chosen)"

    def __init__(self, tag: str, schema: str) -> None:
        super().__init__(tag)
        from cekura_livekit.webhooks.config import ChannelConfig

        self.config = ChannelConfig(dsn=PG_DSN, schema=schema, channel=schema)
        self._recorder: Any = None
        self._witness: Any = None
        self._stack = contextlib.AsyncExitStack()
        self._appname = os.environ.get("PGAPPNAME")

    async def open_publisher(self) -> None:
        from cekura_livekit.webhooks.channel import PgRecorder

        os.environ["PGAPPNAME"] = self.app + "_pub"  # libpq names the connections it opens now
        self._recorder = PgRecorder(self.config)
        await self.publish(-1)  # connect and create the table before anything is measured

    async def publish(self, result_id: int) -> None:
        from cekura_livekit.webhooks.delivery import RESULT_COMPLETED, Delivery

        delivery = Delivery(RESULT_COMPLETED, result_id, result_id, airflow_submitted=True)
        await self._recorder.record(delivery, "bench")

    async def close_publisher(self) -> None:
        await self._recorder.aclose()

    async def start(self) -> None:
        from cekura_livekit.webhooks.listener import subscribe

        os.environ["PGAPPNAME"] = self.app
        self._witness = await self._stack.enter_async_context(subscribe(self.config, None))
        if self._witness is None:
            raise RuntimeError("the LISTEN/NOTIFY channel could not start")

    @contextlib.asynccontextmanager
    async def _one(self, result_id: int) -> AsyncIterator[Waiter]:
        from cekura_livekit.webhooks.listener import subscribe

        async with subscribe(self.config, result_id) as sub:
            assert sub is not None
            yield sub

    def subscribe(self, result_id: int) -> contextlib.AbstractAsyncContextManager[Waiter]:
        return self._one(result_id)

    def received(self, result_id: int) -> bool:
        return any(note.get("result_id") == result_id for note in self._witness.notes)

    async def close(self) -> None:
        await self._stack.aclose()
        if self._appname is None:
            os.environ.pop("PGAPPNAME", None)
        else:
            os.environ["PGAPPNAME"] = self._appname

    def statements_since(self, wall: float, counted: int) -> int:
        """Connections that started a statement since `wall` (0 is exact: nothing was sent)."""
        rows = _pg_admin(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND query_start > to_timestamp(%s)",
            self.app,
            wall,
        )
        return int(rows[0][0])


class _RedisChannel(Channel):
    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        self.key = f"bench_channels_{tag}"
        self.fanout = _FanOut()
        self._pub: Any = None
        self._sub: Any = None
        self._task: asyncio.Task[None] | None = None

    def _client(self, name: str, blocking: bool = False) -> Any:
        import redis.asyncio
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No silent retry: a dropped connection must surface so the pump knows it was deaf. The subscriber
        # blocks for as long as nothing is published (redis-py's default read timeout is 5 s).
        options: dict[str, Any] = {"client_name": name, "retry": Retry(NoBackoff(), 0)}
        if blocking:
            options["socket_timeout"] = None
        return redis.asyncio.Redis.from_url(REDIS_URL, **options)

    async def open_publisher(self) -> None:
        self._pub = self._client(self.app + "_pub")
        await self._pub.ping()

    async def close_publisher(self) -> None:
        await self._pub.delete(self.key)
        await self._pub.aclose()

    def subscribe(self, result_id: int) -> contextlib.AbstractAsyncContextManager[Waiter]:
        return self.fanout.subscribe(result_id)

    def received(self, result_id: int) -> bool:
        return result_id in self.fanout.received

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.aclose()

    def _admin(self) -> Any:
        import redis

        return redis.Redis.from_url(REDIS_URL)

    def _mine(self) -> list[dict[str, Any]]:
        with self._admin() as r:
            return [c for c in r.client_list() if c.get("name") == self.app]

    def break_subscriber(self) -> None:
        with self._admin() as r:
            for c in self._mine():
                r.client_kill_filter(_id=c["id"])

    def connections(self) -> int:
        return len(self._mine())

    def server_pids(self) -> list[int]:
        with self._admin() as r:
            return [int(r.info("server")["process_id"])]


class RedisPubSub(_RedisChannel):
    label = "Redis pub/sub"

    async def publish(self, result_id: int) -> None:
        await self._pub.publish(self.key, str(result_id))

    async def _connect(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.aclose()
        self._sub = self._client(self.app, blocking=True)
        self._pubsub = self._sub.pubsub()
        self.queries += 1
        await self._pubsub.subscribe(self.key)

    async def start(self) -> None:
        await self._connect()
        await self._pubsub.get_message(timeout=5)  # the subscribe confirmation: listening from here
        self._task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        import redis

        backoff = 1.0
        while True:
            try:
                async for message in self._pubsub.listen():
                    if message["type"] == "message":
                        self.fanout.dispatch(int(message["data"]))
                        backoff = 1.0
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                pass
            while True:  # the same backoff as our listener
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                try:
                    await self._connect()
                    break
                except (redis.ConnectionError, OSError):
                    continue
            self.fanout.wake_all()  # deaf for a while: every wait reads the API once, as our listener does


class RedisStream(_RedisChannel):
    label = "Redis stream (XREAD)"

    async def publish(self, result_id: int) -> None:
        await self._pub.xadd(self.key, {"rid": result_id}, maxlen=100_000, approximate=True)

    async def start(self) -> None:
        self._sub = self._client(self.app, blocking=True)
        sec, usec = await self._sub.time()
        self._last = f"{sec * 1000 + usec // 1000 - 1}-0"  # from now on (a millisecond early is harmless)
        self._task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        import redis

        backoff = 1.0
        while True:
            try:
                self.queries += 1
                answer = await self._sub.xread({self.key: self._last}, block=0, count=1000)
                for _stream, entries in answer or []:
                    for entry_id, fields in entries:
                        self._last = entry_id
                        self.fanout.dispatch(int(fields[b"rid"]))
                backoff = 1.0
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                await asyncio.sleep(
                    backoff
                )  # then read on from the last id: nothing published meanwhile is lost
                backoff = min(backoff * 2, 30.0)
                with contextlib.suppress(Exception):
                    await self._sub.aclose()
                self._sub = self._client(self.app, blocking=True)


class PolledTable(_PgBackends, Channel):
    """Each wait SELECTs its delivery's row every `interval` (from a random phase: waits start at any time)."""

    def __init__(self, tag: str, schema: str, interval: float, pool_size: int = 4) -> None:
        super().__init__(tag)
        from cekura_livekit.webhooks.config import ChannelConfig

        self.label = f"polled table every {interval:g} s (no NOTIFY)"
        self.interval = interval
        self.config = ChannelConfig(dsn=PG_DSN, schema=schema, channel=schema)
        self._size = pool_size
        self._idle: asyncio.LifoQueue[Any] | None = None
        self._pubconn: Any = None
        self._found: set[int] = set()

    async def open_publisher(self) -> None:
        import psycopg

        from cekura_livekit.webhooks.channel import ensure_table

        self._pubconn = await psycopg.AsyncConnection.connect(
            PG_DSN, autocommit=True, application_name=self.app + "_pub"
        )
        await ensure_table(self._pubconn, self.config)

    async def publish(self, result_id: int) -> None:
        await self._pubconn.execute(
            f"""INSERT INTO {self.config.table} (delivery_key, event_type, result_id, cekura_conn_id,
                airflow_submitted) VALUES (%s, 'result.completed', %s, 'bench', true)
                ON CONFLICT (delivery_key) DO NOTHING""",
            (f"result.completed:{result_id}", result_id),
        )

    async def close_publisher(self) -> None:
        await self._pubconn.close()

    async def start(self) -> None:
        self._idle = asyncio.LifoQueue()
        for _ in range(self._size):
            self._idle.put_nowait(None)

    async def _select(self, conn: Any, result_id: int) -> tuple[Any, bool]:
        import psycopg

        if conn is None or conn.closed:
            conn = await psycopg.AsyncConnection.connect(PG_DSN, autocommit=True, application_name=self.app)
        self.queries += 1
        cur = await conn.execute(
            f"SELECT 1 FROM {self.config.table} WHERE delivery_key = %s", (f"result.completed:{result_id}",)
        )
        return conn, await cur.fetchone() is not None

    async def found(self, result_id: int) -> bool:
        """One poll: a dead pooled connection is replaced and the SELECT retried once."""
        import psycopg

        assert self._idle is not None
        conn = await self._idle.get()
        hit = False
        try:
            for attempt in (1, 2):
                try:
                    conn, hit = await self._select(conn, result_id)
                    break
                except (psycopg.OperationalError, psycopg.InterfaceError, OSError):
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            await conn.close()
                    conn = None
                    if attempt == 2:
                        return False
            if hit:
                self._found.add(result_id)
            return hit
        finally:
            self._idle.put_nowait(conn)

    @contextlib.asynccontextmanager
    async def _one(self, result_id: int) -> AsyncIterator[Waiter]:
        yield _TableWaiter(self, result_id)

    def subscribe(self, result_id: int) -> contextlib.AbstractAsyncContextManager[Waiter]:
        return self._one(result_id)

    def received(self, result_id: int) -> bool:
        return result_id in self._found

    async def close(self) -> None:
        while self._idle is not None and not self._idle.empty():
            conn = self._idle.get_nowait()
            if conn is not None:
                await conn.close()


class _TableWaiter:
    def __init__(self, channel: PolledTable, result_id: int) -> None:
        self.channel = channel
        self.result_id = result_id
        self._phase: float | None = random.uniform(0, channel.interval)

    async def wait(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        if self._phase is not None:
            await asyncio.sleep(min(self._phase, seconds))
            self._phase = None
        while True:
            if await self.channel.found(self.result_id):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.sleep(min(self.channel.interval, left))


# ------------------------------------------------------------------------------------- measuring
@dataclass(frozen=True)
class Sizes:
    waits: tuple[int, ...]
    idle: float  # seconds every wait sleeps while CPU and statements are counted
    wakes: int  # deliveries published to waiting results (latency samples)
    gap: float  # mean seconds between those publishes (spreads them over a polled table's phase)
    restart_window: float  # how long the restart case watches for the wake
    intervals: tuple[float, ...]  # the polled table's intervals
    settle: float


FULL = Sizes(
    waits=(100, 500), idle=10.0, wakes=50, gap=0.02, restart_window=8.0, intervals=(1.0, 5.0), settle=1.0
)
SMOKE = Sizes(waits=(10,), idle=0.3, wakes=4, gap=0.01, restart_window=3.0, intervals=(0.2,), settle=0.05)


@dataclass
class Restart:
    """A delivery published right after the server dropped the subscriber's connection(s)."""

    delivered: bool  # its delivery itself reached the subscriber side
    woke_after: float | None  # seconds from publish to its wait's wake; None: not within the window
    others_woken: int  # other waits woken by the reconnect (each reads the API once)
    others: int


@dataclass
class Measured:
    label: str
    n: int
    idle_cpu_ms: float  # this process's loop thread, ms per wait per minute asleep
    idle_server_ms: float  # the server's CPU for the subscriber side, ms per wait per minute asleep
    statements_per_min: float  # sent by the subscriber side while every wait slept
    connections: int  # the subscriber side's, on the server
    latencies: list[float] = field(default_factory=list)  # publish -> wake, seconds
    wake_cpu_ms: float = 0.0  # this process's loop thread per wake (idle rate subtracted)
    spurious: int = 0  # waits woken without a delivery for them while deliveries flowed
    restart: Restart | None = None

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class Comparison:
    sizes: Sizes
    measured: list[Measured]
    redis: str  # "" when reachable, else why not


class _Waits:
    """N concurrent waits, each on its own result, recording when it woke (perf_counter)."""

    def __init__(self, channel: Channel, ids: list[int]) -> None:
        self.channel = channel
        self.ids = ids
        self.woke: dict[int, float] = {}
        self._in = 0
        self._all_in = asyncio.Event()
        self._watch: set[int] = set()
        self._watched = asyncio.Event()
        self.tasks = [asyncio.create_task(self._one(r)) for r in ids]

    async def _one(self, result_id: int) -> None:
        async with self.channel.subscribe(result_id) as waiter:
            self._in += 1
            if self._in == len(self.ids):
                self._all_in.set()
            while not await waiter.wait(FOREVER):
                pass
            self.woke[result_id] = time.perf_counter()
            if self._watch and self._watch <= self.woke.keys():
                self._watched.set()

    async def subscribed(self) -> None:
        await asyncio.wait_for(self._all_in.wait(), 120)

    async def until(self, ids: list[int], within: float) -> None:
        self._watch = set(ids)
        self._watched.clear()
        if self._watch <= self.woke.keys():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._watched.wait(), within)

    def waiting(self) -> list[int]:
        return [r for r in self.ids if r not in self.woke]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def _timed_publish(channel: Channel, result_id: int) -> float:
    started = time.perf_counter()
    await channel.publish(result_id)
    return started


async def _idle(channel: Channel, n: int, seconds: float) -> tuple[Measured, float]:
    pids = channel.server_pids()
    s0, q0, wall0 = _cpu_of(pids), channel.queries, time.time()
    c0, t0 = time.thread_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    c1, elapsed = time.thread_time(), time.perf_counter() - t0
    s1 = _cpu_of(pids)
    per_wait_minute = 1000 * 60 / elapsed / n
    measured = Measured(
        channel.label,
        n,
        idle_cpu_ms=(c1 - c0) * per_wait_minute,
        idle_server_ms=(s1 - s0) * per_wait_minute,
        statements_per_min=channel.statements_since(wall0, q0) * 60 / elapsed,
        connections=channel.connections(),
    )
    return measured, (c1 - c0) / elapsed


async def _wake(
    channel: Channel, waits: _Waits, pub: Publisher, sizes: Sizes, idle_rate: float, out: Measured
) -> None:
    targets = random.sample(waits.waiting(), min(sizes.wakes, len(waits.ids) // 2))
    sent: dict[int, float] = {}
    c0, t0 = time.thread_time(), time.perf_counter()
    for rid in targets:
        sent[rid] = await pub.run(_timed_publish(channel, rid))
        await asyncio.sleep(random.uniform(0, 2 * sizes.gap))
    await waits.until(targets, max(sizes.intervals) + 10)
    cpu, elapsed = time.thread_time() - c0, time.perf_counter() - t0
    out.latencies = [waits.woke[r] - sent[r] for r in targets if r in waits.woke]
    out.wake_cpu_ms = 1000 * max(0.0, cpu - idle_rate * elapsed) / max(1, len(out.latencies))
    out.spurious = sum(1 for r in waits.woke if r not in sent)


async def _restart(channel: Channel, waits: _Waits, pub: Publisher, window: float) -> Restart:
    target, *others = waits.waiting()
    channel.break_subscriber()
    sent = await pub.run(_timed_publish(channel, target))
    await waits.until([target], window)
    await asyncio.sleep(0.3)  # a wake-up of everyone lands in the same loop turn: let every wait record it
    woke = waits.woke.get(target)
    return Restart(
        delivered=channel.received(target),
        woke_after=None if woke is None else woke - sent,
        others_woken=sum(1 for r in others if r in waits.woke),
        others=len(others),
    )


async def _measure(channel: Channel, n: int, sizes: Sizes, pub: Publisher) -> Measured:
    await pub.run(channel.open_publisher())
    await channel.start()
    base = random.randrange(10**9, 2 * 10**9)
    waits = _Waits(channel, list(range(base, base + n)))
    try:
        await waits.subscribed()
        await asyncio.sleep(sizes.settle)
        out, idle_rate = await _idle(channel, n, sizes.idle)
        await _wake(channel, waits, pub, sizes, idle_rate, out)
        out.restart = await _restart(channel, waits, pub, sizes.restart_window)
        return out
    finally:
        await waits.stop()
        await channel.close()
        await pub.run(channel.close_publisher())


def redis_unreachable() -> str:
    """'' when the Redis at REDIS_URL answers, else why not (the Redis rows then say so)."""
    try:
        import redis

        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2) as r:
            r.ping()
        return ""
    except Exception as exc:  # not installed, not running, refused: the comparison goes on without it
        return f"Redis not reachable at {REDIS_URL} ({type(exc).__name__})"


def _channels(tag: str, schema: str, sizes: Sizes, redis_ok: bool) -> list[Channel]:
    out: list[Channel] = [PgNotify(f"{tag}_pg", schema)]
    if redis_ok:
        out += [RedisPubSub(f"{tag}_ps"), RedisStream(f"{tag}_xs")]
    out += [PolledTable(f"{tag}_t{i}", schema, s) for i, s in enumerate(sizes.intervals)]
    return out


def compare(smoke: bool = False) -> Comparison:
    """Every channel at every size in one run, the order reversed at each size (side by side)."""
    import logging

    sizes = SMOKE if smoke else FULL
    why = redis_unreachable()
    tag = uuid.uuid4().hex[:8]
    schema = f"bench_channels_{tag}"
    quiet = logging.getLogger("cekura_livekit.webhooks.listener")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the restart case makes the listener warn, as it should
    pub = Publisher()
    measured: list[Measured] = []
    try:
        for i, n in enumerate(sizes.waits):
            channels = _channels(f"{tag}{i}", schema, sizes, not why)
            for channel in channels if i % 2 == 0 else reversed(channels):
                measured.append(asyncio.run(_measure(channel, n, sizes, pub)))
    finally:
        pub.stop()
        quiet.setLevel(level)
        drop_schema(schema)
    return Comparison(sizes, measured, why)


if __name__ == "__main__":
    import sys

    result = compare("--smoke" in sys.argv)
    for m in result.measured:
        print(m.label, m.n, m, sep=" | ")
    print(result.redis or "redis ok")
