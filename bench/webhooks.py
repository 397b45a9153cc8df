"""Benchmark: waiting at its floor, and waiting on webhooks (issues 26.4 and 22).

Four measurements, each against the sandbox (its `result.completed` webhooks posted like Cekura's) and the
test PostgreSQL (the channel, in a throw-away schema):

1. **One poll, three ways, interleaved** in one run on one running 20-run batch: the result detail the
   trigger used to read every poll, the light "how many runs are unfinished?" count it reads now, and the
   official SDK's `results.get` (what its `results.wait` reads every poll). Bytes on the wire (body +
   headers) and this process's CPU per poll; the sandbox runs in its own process.
2. **Requests for one 20-run batch's whole wait**: measured on a batch of the sandbox (clock sped up so
   30 s of Cekura time is 30/SPEED real seconds) with webhooks on, polling every 30 s (the project before),
   and Cekura's GitHub Action (the detail every 30 s); then the same rule applied to a 30-minute batch.
3. **Completion latency** after the batch finishes (the sandbox's webhook post) with webhooks on, p50/p95
   over concurrent waits, against half a poll interval when polling.
4. **500 concurrent waits on one loop with webhooks on** (as one triggerer runs them): CPU share of a core
   and memory per wait while they sleep, requests in that window; and the receiver's throughput — the
   standalone `cekura-webhooks` service in its own process, deliveries a second it verifies and records.
5. **The channel against its alternatives** (`webhook_channels`): LISTEN/NOTIFY through its real code, Redis
   pub/sub, a Redis stream and a table each wait polls (1 s, 5 s), one after the other at 100 and 500
   waits in one run: wake latency, CPU and statements while asleep, and a delivery published while the
   subscriber's connection is down.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench import webhook_channels
from bench.common import PG_DSN, ROOT, Section, Target, airflow_env, drop_schema, fmt, sandbox_process

SECRET = "bench-webhook-secret-0123456789"
BATCH_RUNS = 20
SAFETY = 600.0  # Cekura seconds between safety polls (the trigger's default)
POLL = 30.0  # the project's default poll interval, and the GitHub Action's


def _count_bytes() -> dict[str, int]:
    """Count requests and response bytes (body + header lines) of every httpx call in this process."""
    import httpx

    tally = {"requests": 0, "bytes": 0}
    sync_send, async_send = httpx.Client.send, httpx.AsyncClient.send

    def size(response: Any) -> int:
        head = sum(len(k) + len(v) + 4 for k, v in response.headers.raw)
        return len(response.content) + head + 17  # + the status line

    def send(self: Any, *a: Any, **kw: Any) -> Any:
        response = sync_send(self, *a, **kw)
        tally["requests"] += 1
        tally["bytes"] += size(response)
        return response

    async def asend(self: Any, *a: Any, **kw: Any) -> Any:
        response = await async_send(self, *a, **kw)
        tally["requests"] += 1
        tally["bytes"] += size(response)
        return response

    httpx.Client.send = send  # type: ignore[method-assign]
    httpx.AsyncClient.send = asend  # type: ignore[method-assign]
    return tally


@contextmanager
def _channel_env() -> Iterator[dict[str, str]]:
    tag = uuid.uuid4().hex[:10]
    env = {
        "CEKURA_WEBHOOK_DSN": PG_DSN,
        "CEKURA_WEBHOOK_SCHEMA": f"bench_wh_{tag}",
        "CEKURA_WEBHOOK_CHANNEL": f"bench_wh_{tag}",
        "AIRFLOW_CONN_CEKURA_WEBHOOK_DEFAULT": json.dumps(
            {"conn_type": "cekura_webhook", "password": SECRET}
        ),
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        drop_schema(env["CEKURA_WEBHOOK_SCHEMA"])
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _receiver_process(env: dict[str, str]) -> Iterator[str]:
    """The standalone receiver (`cekura-webhooks`) in its own process."""
    import httpx

    port = _free_port()
    child_env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cekura_livekit.webhooks.service", "--host", "127.0.0.1", "--port", str(port)],
        env=child_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "health", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


# ------------------------------------------------------------------------------------- 1. one poll
async def _per_poll(
    result_id: int, reps: int, api_key: str, base_url: str
) -> dict[str, dict[str, list[float]]]:
    from cekura import AsyncCekura

    from cekura_livekit.batch.wait import snapshot_of_result
    from cekura_livekit.hooks.cekura import CekuraHook

    tally = _count_bytes()
    out: dict[str, dict[str, list[float]]] = {w: {"cpu": [], "bytes": []} for w in ("detail", "light", "sdk")}
    async with CekuraHook() as hook, AsyncCekura(api_key=api_key, base_url=base_url) as sdk:

        async def detail() -> None:
            snapshot_of_result(await hook.aget_result(result_id))

        async def light() -> None:
            await hook.acount_unfinished_runs(result_id)

        async def sdk_get() -> None:
            await sdk.results.get(result_id)

        ways = {"detail": detail, "light": light, "sdk": sdk_get}
        for fn in ways.values():  # warm: imports, pools, TLS-free keep-alive
            await fn()
        for _ in range(reps):
            for name, fn in ways.items():
                b0, c0 = tally["bytes"], time.process_time()
                await fn()
                out[name]["cpu"].append(1000 * (time.process_time() - c0))
                out[name]["bytes"].append(float(tally["bytes"] - b0))
    return out


# ------------------------------------------------------------------------------------- 2 + 3. whole waits
def _submit(runs: int, scenario: int = 2001) -> int:
    from cekura_livekit.hooks.cekura import CekuraHook

    hook = CekuraHook()
    try:
        return int(hook.submit_managed({"scenarios": [{"scenario": scenario}], "frequency": runs})["id"])
    finally:
        hook.close()


async def _one_wait(result_id: int, poll: float, safety: float, webhooks: bool) -> float:
    from cekura_livekit.triggers.runs import CekuraRunsTrigger

    trigger = CekuraRunsTrigger(
        result_id=result_id, poll_interval=poll, safety_interval=safety, webhooks=webhooks
    )
    async for _event in trigger.run():
        pass
    return time.time()


def _whole_waits(speed: float, n_latency: int) -> dict[str, Any]:
    """Measured on an in-process sandbox (its recorder counts requests, its sender posts webhooks)."""
    from bench.common import sandbox_class

    Sandbox = sandbox_class()
    out: dict[str, Any] = {}
    with _channel_env() as env, _receiver_process(env) as url, Sandbox(seed=11, speed=speed) as sb:
        os.environ.update(sb.connection_env())
        sb.webhooks.configure(url, SECRET)

        def requests_of(result_id: int) -> dict[str, int]:
            reqs = [
                r for r in sb.requests if f"/{result_id}/" in r.path or f"result_id={result_id}" in r.query
            ]
            return {
                "detail": sum(1 for r in reqs if r.path.rstrip("/").endswith(f"results/{result_id}")),
                "count": sum(1 for r in reqs if r.path.rstrip("/").endswith("/runs")),
            }

        for way, (poll, webhooks) in {
            "webhooks": (POLL / speed, True),
            "polling (light counts)": (POLL / speed, False),
        }.items():
            start_sim = sb.now()
            rid = _submit(BATCH_RUNS)
            asyncio.run(_one_wait(rid, poll, SAFETY / speed, webhooks))
            counted = requests_of(rid)
            out[way] = {**counted, "submit": 1, "sim_seconds": (sb.now() - start_sim).total_seconds()}
        # latency: concurrent waits, each woken by its own result's webhook
        ids = [_submit(2) for _ in range(n_latency)]

        async def all_waits() -> list[float]:
            return await asyncio.gather(*(_one_wait(r, POLL / speed, SAFETY / speed, True) for r in ids))

        done = asyncio.run(all_waits())
        latencies = []
        for rid, at in zip(ids, done, strict=True):
            sent = [d.sent_at for d in sb.webhooks.sent(rid) if d.status_code == 200]
            if sent:
                latencies.append(at - min(sent))
        out["latency"] = latencies
    return out


# ------------------------------------------------------------------------------------- 4. 500 waits, receiver
async def _many_waits(ids: list[int], window: float) -> dict[str, float]:
    import psutil

    from cekura_livekit.webhooks.listener import active_listeners

    tally = _count_bytes()
    proc = psutil.Process()
    from cekura_livekit.hooks.cekura import CekuraHook

    async with CekuraHook() as hook:  # warm, like a long-lived triggerer
        await hook.aget_result(ids[0])
    rss0 = proc.memory_info().rss
    tasks = [asyncio.create_task(_one_wait(r, POLL, SAFETY, True)) for r in ids]
    while tally["requests"] < len(ids):  # noqa: ASYNC110 (polling a counter the httpx patch bumps)
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    listeners = active_listeners()
    r0, c0, t0 = tally["requests"], proc.cpu_times(), time.perf_counter()
    await asyncio.sleep(window)
    c1, wall = proc.cpu_times(), time.perf_counter() - t0
    rss1 = proc.memory_info().rss
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "cpu_share": ((c1.user + c1.system) - (c0.user + c0.system)) / wall,
        "rss_per_wait": (rss1 - rss0) / len(ids),
        "requests": tally["requests"] - r0,
        "listeners": listeners,
    }


async def _throughput(url: str, deliveries: int, concurrency: int) -> dict[str, Any]:
    import httpx

    first = 10_000_000 + uuid.uuid4().int % 1_000_000 * 1000
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(deliveries):
        queue.put_nowait(first + i)
    async with httpx.AsyncClient(timeout=30) as client:

        async def worker() -> None:
            while not queue.empty():
                rid = queue.get_nowait()
                body = json.dumps({"event_type": "result.completed", "data": {"id": rid, "name": "cron"}})
                t = time.perf_counter()
                response = await client.post(url, content=body, headers={"X-CEKURA-SECRET": SECRET})
                latencies.append(time.perf_counter() - t)
                assert response.status_code == 200, response.text

        await client.post(
            url,
            content=json.dumps({"event_type": "result.completed", "data": {"id": first - 1}}),
            headers={"X-CEKURA-SECRET": SECRET},
        )
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {"per_second": deliveries / wall, "latencies": latencies}


def _submit_many(n: int) -> list[int]:
    from cekura_livekit.hooks.cekura import CekuraHook

    hook = CekuraHook()
    try:
        return [
            int(hook.submit_managed({"scenarios": [{"scenario": 2001}], "frequency": 1})["id"])
            for _ in range(n)
        ]
    finally:
        hook.close()


# ------------------------------------------------------------------------------------- 5. channels
CHANNELS_INTRO = (
    "**The channel against its alternatives** (`bench/webhook_channels.py`), one after the other in this run, "
    "the order reversed at each size: PostgreSQL LISTEN/NOTIFY + the delivery table through the project's own "
    "code (`PgRecorder`, `listener.subscribe`); Redis pub/sub and a Redis stream (`XREAD BLOCK` from the last "
    "id), each one connection per process fanned out in memory like our listener; the delivery table polled "
    "by every wait (no NOTIFY) through a pool of 4 connections. N waits each on its own result; the publisher "
    "(the receiver's side) runs in another thread, so CPU is the waits' loop thread only (`thread_time`). "
    "*Asleep*: CPU per wait per minute, the server's CPU for the subscriber's connections (PostgreSQL "
    "backends; for Redis the whole server process), statements a minute, connections. *Wake*: from the "
    "publish call to the wait waking, and CPU per wake. *Restart*: the server drops the subscriber's "
    "connection(s) and one delivery is published at once: did it arrive, when did its wait wake, how many "
    "other waits were woken (each then reads the API once)."
)


def _channel_rows(section: Section, comparison: webhook_channels.Comparison) -> None:
    for m in comparison.measured:
        size = f"{m.n} waits"
        if m.latencies:
            section.add(
                f"channel {m.label}: wake after publish",
                size,
                m.latencies,
                "s",
                note=f"p95 {fmt(m.p(0.95), 's')}; {m.wake_cpu_ms:.2f} ms CPU/wake; "
                f"{m.spurious} woken without a delivery",
            )
        section.add(
            f"channel {m.label}: asleep",
            size,
            [m.idle_cpu_ms],
            "ms CPU/wait/min",
            note=f"server {m.idle_server_ms:.2f} ms CPU/wait/min; {m.statements_per_min:,.0f} statements/min; "
            f"{m.connections} connection(s)",
        )
        r = m.restart
        if r is None:
            continue
        window = comparison.sizes.restart_window
        fate = "kept: read after the reconnect" if r.delivered else "not kept: the delivery was lost"
        late = (
            "" if r.woke_after is not None else f"; not woken within {window:.0f} s: ends at its safety poll"
        )
        section.add(
            f"channel {m.label}: delivery while disconnected",
            size,
            [r.woke_after if r.woke_after is not None else window],
            "s",
            note=f"{fate}; {r.others_woken} of {r.others} other waits woken{late}",
        )


def _channel_target(comparison: webhook_channels.Comparison) -> Target:
    n = max(comparison.sizes.waits)
    at = {m.label: m for m in comparison.measured if m.n == n}
    chosen = at.pop(webhook_channels.PgNotify.label)
    at = {chosen.label: chosen, **dict(sorted(at.items()))}

    def brief(m: webhook_channels.Measured) -> str:
        r = m.restart
        woke = "not woken" if r is None or r.woke_after is None else f"woke after {r.woke_after:.1f} s"
        woken = "" if r is None else f", {r.others_woken} others woken"
        return (
            f"{m.label}: p50/p95 {fmt(m.p(0.5), 's')}/{fmt(m.p(0.95), 's')}, asleep {m.idle_cpu_ms:.2f} ms "
            f"CPU/wait/min and {m.statements_per_min:,.0f} statements/min; restart {woke}{woken}"
        )

    tables = [m for label, m in at.items() if label.startswith("polled table")]
    stream = at.get(webhook_channels.RedisStream.label)
    why = (
        "Redis is as fast and as quiet asleep, but it is a second service to run, secure and reach from the "
        "api-server and the triggerer; pub/sub forgets a delivery exactly as NOTIFY does; a stream keeps it "
        "(one wait woken after a reconnect instead of all of them) but needs Redis persistence, and both still "
        "need the table for idempotency and the asset feed. "
    )
    if comparison.redis:
        why = f"{comparison.redis}: its rows are missing. "
    elif stream is not None and stream.restart is not None:
        why += f"(Reconnects are rare: the wake-up of all {n} waits costs {n} light API reads once.) "
    if tables:
        worst = max(tables, key=lambda m: m.statements_per_min)
        why += (
            f"A polled table trades latency for load: {worst.statements_per_min:,.0f} statements/min at {n} "
            f"waits ({worst.label}) and p50 = half its interval."
        )
    share = 100 * chosen.idle_cpu_ms * n / 60_000
    why += (
        f" The chosen listener's CPU asleep ({share:.2f}% of a core at {n} waits) is per triggerer, not per wait: "
        "psycopg's `notifies()` wakes every 0.1 s."
    )
    r = chosen.restart
    return Target(
        "the chosen channel measured against the alternatives (issue 22: Redis pub/sub or stream, a polled table)",
        f"{n} waits — " + "; ".join(brief(m) for m in at.values()),
        bool(chosen.latencies)
        and chosen.p(0.95) < 2.0
        and chosen.statements_per_min == 0
        and r is not None
        and r.woke_after is not None,
        why,
    )


# ------------------------------------------------------------------------------------- the section
def run(smoke: bool = False) -> Section:
    airflow_env()
    section = Section(
        "11. Webhooks: waiting at its floor and event-driven completion",
        "Issue 26.4 and 22. One poll three ways interleaved in one run (a running 20-run batch, the sandbox "
        "in its own process); requests for one batch's whole wait; completion latency after the sandbox posts "
        "`result.completed` through the standalone receiver (own process) into PostgreSQL LISTEN/NOTIFY; "
        f"N concurrent waits on one loop with webhooks on (safety poll {SAFETY:.0f} s); the receiver's "
        "throughput. CPU is this process's (the client's).",
    )
    reps = 5 if smoke else 40
    n_waits = 20 if smoke else 500
    n_latency = 5 if smoke else 20
    deliveries = 200 if smoke else 2000

    with sandbox_process(speed=0.1) as sb:  # nothing finishes: the steady state of a long wait
        rid = _submit(BATCH_RUNS)
        per_poll = asyncio.run(_per_poll(rid, reps, sb.api_key, sb.url))
        ids = _submit_many(n_waits)
        with _channel_env() as env:
            many = asyncio.run(_many_waits(ids, window=3.0 if smoke else 20.0))
            with _receiver_process(env) as url:
                receiver = asyncio.run(_throughput(url, deliveries, concurrency=16))  # saturated
                one_by_one = asyncio.run(_throughput(url, deliveries // 4, concurrency=1))  # Cekura's pace
    labels = {
        "detail": "result detail (the trigger's poll before)",
        "light": "unfinished-runs count (the trigger's poll now)",
        "sdk": "official SDK results.get (its wait's poll)",
    }
    for way, label in labels.items():
        section.add(label, "20-run batch", per_poll[way]["bytes"], "bytes/poll")
        section.add(label, "20-run batch", per_poll[way]["cpu"], "ms CPU/poll")
    med = {w: {k: statistics.median(v) for k, v in per_poll[w].items()} for w in per_poll}
    section.targets.append(
        Target(
            "a poll: fewer bytes than the SDK's, CPU no worse (within 20%, interleaved)",
            f"count {med['light']['bytes']:.0f} B / {med['light']['cpu']:.2f} ms vs SDK "
            f"{med['sdk']['bytes']:.0f} B / {med['sdk']['cpu']:.2f} ms "
            f"({med['sdk']['bytes'] / med['light']['bytes']:.0f}× fewer bytes, "
            f"{med['sdk']['cpu'] / max(med['light']['cpu'], 1e-6):.1f}× less CPU); the old detail poll "
            f"{med['detail']['bytes']:.0f} B / {med['detail']['cpu']:.2f} ms",
            med["light"]["bytes"] < med["sdk"]["bytes"] and med["light"]["cpu"] <= 1.2 * med["sdk"]["cpu"],
            "client CPU per poll is the same for all three within noise: a profile shows it dominated by the "
            "kernel's loopback `send` inside httpcore (≈ 3 ms of 3.5 ms on this loaded machine), not by decoding "
            "24 KB; the count saves bytes on the wire and Cekura's work, not client CPU",
        )
    )

    speed = 60.0
    waits = _whole_waits(speed, n_latency)
    for way in ("webhooks", "polling (light counts)"):
        w = waits[way]
        total = w["submit"] + w["detail"] + w["count"]
        section.add(
            f"whole wait, {way}",
            f"{BATCH_RUNS} runs, {w['sim_seconds']:.0f} s",
            [float(total)],
            "requests",
            note=f"{w['detail']} detail + {w['count']} count + 1 submit",
        )
    minutes = 30
    polls = math.ceil(minutes * 60 / POLL)
    rule = {
        "webhooks on": 1 + 1 + math.floor(minutes * 60 / SAFETY) + 1,
        f"polling at {POLL:.0f} s (the project before)": 1 + polls + 1,
        f"Cekura GitHub Action ({POLL:.0f} s)": 1 + polls + 1,
    }
    for label, count in rule.items():
        section.add(
            f"30-minute batch, {label}", "20 runs", [float(count)], "requests", note="by the measured rule"
        )
    hook_wait = waits["webhooks"]
    allowed = 1 + 1 + math.floor(hook_wait["sim_seconds"] / SAFETY) + 1
    measured = hook_wait["submit"] + hook_wait["detail"] + hook_wait["count"]
    section.targets.append(
        Target(
            "webhooks on: submit + final fetch + ≤ 1 safety poll per safety interval",
            f"{measured} requests for a {hook_wait['sim_seconds']:.0f} s batch (bound {allowed}, first detail "
            f"included); 30 min: {rule['webhooks on']} vs {rule[f'polling at {POLL:.0f} s (the project before)']} "
            "polling",
            measured <= allowed,
        )
    )
    lat = sorted(waits["latency"])
    if lat:
        p50 = statistics.median(lat)
        p95 = lat[min(len(lat) - 1, math.ceil(0.95 * len(lat)) - 1)]
        section.add(
            "completion latency, webhooks", f"{len(lat)} waits", lat, "s", note="after the webhook post"
        )
        section.targets.append(
            Target(
                "completion within 2 s (p95) of result.completed",
                f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms (polling at {POLL:.0f} s: {POLL / 2:.0f} s on average)",
                p95 < 2.0,
            )
        )
    section.add(
        f"{n_waits} waits asleep on one loop",
        n_waits,
        [100 * many["cpu_share"]],
        "% of a core",
        note=f"{many['requests']:.0f} requests in the window; {many['listeners']:.0f} LISTEN connection(s)",
    )
    section.add(f"{n_waits} waits asleep on one loop", n_waits, [many["rss_per_wait"] / 1024], "KB RSS/wait")
    section.targets.append(
        Target(
            f"{n_waits} webhook-woken waits on one triggerer",
            f"{100 * many['cpu_share']:.1f}% of a core, {many['rss_per_wait'] / 1024:.0f} KB per wait, "
            f"{many['requests']:.0f} requests while asleep, {many['listeners']:.0f} database connection(s)",
            many["cpu_share"] < 0.05 and many["listeners"] == 1 and many["requests"] == 0,
        )
    )
    rlat = sorted(receiver["latencies"])
    slat = sorted(one_by_one["latencies"])
    section.add(
        "receiver (standalone, own process)",
        f"{deliveries} deliveries",
        [receiver["per_second"]],
        "deliveries/s",
        note="16 concurrent senders: saturated, one process",
    )
    section.add("receiver, saturated", f"{deliveries} deliveries", [1000 * x for x in rlat], "ms/answer")
    section.add("receiver, one at a time", f"{len(slat)} deliveries", [1000 * x for x in slat], "ms/answer")
    p95r = slat[min(len(slat) - 1, math.ceil(0.95 * len(slat)) - 1)]
    section.targets.append(
        Target(
            "the receiver answers within 100 ms (Cekura's pre-run hook allows 30 s)",
            f"p95 {p95r * 1000:.1f} ms one at a time; saturated by 16 senders it takes "
            f"{receiver['per_second']:.0f} deliveries/s (p95 {rlat[math.ceil(0.95 * len(rlat)) - 1] * 1000:.0f} ms)",
            p95r < 0.1,
            "one process on a shared 2-core machine: ~5 ms of CPU a delivery (FastAPI + uvicorn + one INSERT "
            "and NOTIFY); more workers scale it",
        )
    )
    comparison = webhook_channels.compare(smoke)
    section.intro += "\n\n" + CHANNELS_INTRO + (f" ({comparison.redis}.)" if comparison.redis else "")
    _channel_rows(section, comparison)
    section.targets.append(_channel_target(comparison))
    return section


if __name__ == "__main__":
    smoke_run = "--smoke" in sys.argv
    result = run(smoke_run)
    for row in result.rows:
        print(f"{row.case:55} {row.size:22} {row.stat.median:12.3f} {row.unit:14} {row.note}")
    for target in result.targets:
        print(("MET " if target.met else "NOT ") + target.goal + ": " + target.measured)
