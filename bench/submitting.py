"""Benchmark 2, submitting bring-your-own rooms: 1,000 runs by phase, vs a naive loop and vs minting alone.

Phases through the public hooks, as the operator drives them: create the rooms (bounded concurrency, one
LiveKit client), mint one join token per run, one submit, dispatch the agent into every room. The naive loop
does each room and each dispatch as its own call with its own client. Token minting is also measured alone:
bare `AccessToken`s (the limit), the hook's masked minting, and the pre-fix way (every token registered
with the secrets masker) at 100/200/400.
"""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import timedelta

from bench.common import Section, Target, airflow_env, repeat, sandbox_process
from bench.latency import delayed

AGENT = "acme-support"
TTL = timedelta(minutes=30)
#: The added request latency of the "not only localhost" case (a LiveKit/Cekura region ~20 ms away).
REMOTE_DELAY_S = 0.020


def _bare_tokens(key: str, secret: str, rooms: list[str]) -> None:
    from livekit.api import AccessToken, VideoGrants

    for i, room in enumerate(rooms):
        AccessToken(key, secret).with_identity(f"tester-{i}").with_name(f"tester-{i}").with_ttl(
            TTL
        ).with_grants(VideoGrants(room_join=True, room=room)).to_jwt()


def _old_tokens(key: str, secret: str, sizes: list[int]) -> dict[int, float]:
    """The pre-fix minting (each token registered with the process's secrets masker), from an empty masker.

    One pass up to the largest size, noting the elapsed time as each size is reached: the cost of the k-th
    token depends only on the k-1 patterns registered before it, so the time to the 200th token of this pass
    is what a separate pass of 200 from an empty masker takes, without paying the 100 and 200 passes again
    (they were 18 s of the run: the cost is quadratic).
    """
    from airflow.sdk.log import mask_secret
    from livekit.api import AccessToken, VideoGrants

    _reset_masker()
    wanted = set(sizes)
    elapsed: dict[int, float] = {}
    start = time.perf_counter()
    for i in range(max(sizes)):
        token = (
            AccessToken(key, secret)
            .with_identity(f"tester-{i}")
            .with_name(f"tester-{i}")
            .with_ttl(TTL)
            .with_grants(VideoGrants(room_join=True, room=f"r-{i}"))
            .to_jwt()
        )
        mask_secret(token)
        if i + 1 in wanted:
            elapsed[i + 1] = time.perf_counter() - start
    return elapsed


def _reset_masker() -> None:
    from airflow.sdk._shared.secrets_masker import reset_secrets_masker

    reset_secrets_masker()


def default_concurrency() -> int:
    """What a suite gets without `room_concurrency`: the batch spec's default."""
    from cekura_livekit.batch.spec import BatchSpec

    return int(BatchSpec.room_concurrency)


def _submit_once(
    lk: object, participant_url: str, n: int, concurrency: int | None = None
) -> dict[str, float]:
    """One whole BYO submit of `n` runs through the hooks, timed by phase (rooms, tokens, submit, dispatch)."""
    from cekura_livekit.hooks.cekura import CekuraHook
    from cekura_livekit.hooks.livekit import LiveKitHook, RoomSpec

    assert isinstance(lk, LiveKitHook)
    kw = {} if concurrency is None else {"concurrency": concurrency}
    rooms = [f"bench-{uuid.uuid4().hex[:8]}-{i}" for i in range(n)]
    t0 = time.perf_counter()
    lk.create_rooms([RoomSpec(r) for r in rooms], **kw)
    t1 = time.perf_counter()
    tokens = [lk.mint_join_token(r, identity=f"tester-{i}", ttl=TTL) for i, r in enumerate(rooms)]
    t2 = time.perf_counter()
    scenarios = [{"scenario": 2001, "livekit_room_url": participant_url, "access_token": t} for t in tokens]
    hook = CekuraHook()
    hook.submit_byo_rooms({"scenarios": scenarios})
    hook.close()
    t3 = time.perf_counter()
    lk.dispatch_agents(AGENT, [(r, {"run": i}) for i, r in enumerate(rooms)], **kw)
    t4 = time.perf_counter()
    return {"rooms": t1 - t0, "tokens": t2 - t1, "submit": t3 - t2, "dispatch": t4 - t3}


def _remote_cases(env: dict[str, str], n: int, reps: int) -> dict[int, list[float]]:
    """The whole submit with `REMOTE_DELAY_S` added to every request, at the default concurrency and above."""
    import os

    from cekura_livekit.hooks.livekit import LiveKitHook

    times: dict[int, list[float]] = {}
    with delayed(env, REMOTE_DELAY_S) as remote_env:
        saved = {k: os.environ.get(k) for k in remote_env}
        os.environ.update(remote_env)
        try:
            lk = LiveKitHook()
            participant_url = lk.credentials.participant_url
            for concurrency in (default_concurrency(), 25, 50):
                times[concurrency] = [
                    sum(_submit_once(lk, participant_url, n, concurrency).values()) for _ in range(reps)
                ]
        finally:
            os.environ.update({k: v for k, v in saved.items() if v is not None})
    return times


def run(smoke: bool = False) -> Section:
    airflow_env()
    from cekura_livekit.hooks.cekura import CekuraHook
    from cekura_livekit.hooks.livekit import LiveKitHook, RoomSpec

    section = Section(
        "2. Submitting (bring-your-own rooms)",
        "Wall time by phase against the sandbox (its own process, LiveKit and Cekura stand-ins), rooms and "
        "dispatches at the hook's default concurrency of 10 over one client. On loopback a request costs "
        "~0.5 ms; the cases with 20 ms added per request (a delaying proxy in its own process, "
        "`bench/latency.py`) show what a remote LiveKit and Cekura cost, and what `room_concurrency` buys.",
    )
    n = 20 if smoke else 1000
    reps = 2 if smoke else 5
    token_sizes = [10, 20] if smoke else [100, 200, 400, 1000]
    with sandbox_process(speed=600.0) as sb:
        lk = LiveKitHook()
        creds = lk.credentials
        phases: dict[str, list[float]] = {"rooms": [], "tokens": [], "submit": [], "dispatch": []}
        totals = []
        for _ in range(reps):
            for key, value in _submit_once(lk, creds.participant_url, n).items():
                phases[key].append(value)
            totals.append(sum(phases[k][-1] for k in phases))
        remote = _remote_cases(dict(sb.env), n, 1 if smoke else 3)

        naive_n = n if smoke else 200  # linear (a call per room): measured on 200 runs, scaled to n

        def naive() -> None:
            tag = uuid.uuid4().hex[:8]
            rooms = [f"naive-{tag}-{i}" for i in range(naive_n)]
            for r in rooms:
                LiveKitHook().create_rooms([RoomSpec(r)])
            tokens = [
                LiveKitHook().mint_join_token(r, identity=f"t-{i}", ttl=TTL) for i, r in enumerate(rooms)
            ]
            body = [
                {"scenario": 2001, "livekit_room_url": creds.participant_url, "access_token": t}
                for t in tokens
            ]
            CekuraHook().submit_byo_rooms({"scenarios": body})
            for i, r in enumerate(rooms):
                LiveKitHook().dispatch_agents(AGENT, [(r, {"run": i})])

        naive_times = [t * n / naive_n for t in repeat(naive, 1)]
    names = [f"room-{i}" for i in range(n)]
    bare = repeat(lambda: _bare_tokens(creds.api_key, creds.api_secret, names), reps)
    total = section.add("whole submit, by phase below", n, totals, "s")
    for key, values in phases.items():
        section.add(f"  phase: {key}", n, values, "s")
    section.add(
        "naive sequential loop (a call and a client per room)",
        n,
        naive_times,
        "s",
        ratio=f"{naive_times[0] / total.median:.1f}× ours",
        note=f"1 repetition on {naive_n} runs, scaled linearly to {n:,}",
    )
    for concurrency, times in remote.items():
        section.add(
            f"whole submit, {REMOTE_DELAY_S * 1000:.0f} ms added per request, concurrency {concurrency}",
            n,
            times,
            "s",
            note="through a delaying proxy (bench/latency.py): what a remote LiveKit and Cekura cost",
        )
    bare_stat = section.add("bare `AccessToken` minting (the limit)", n, bare, "s")
    tok_ratio = statistics.median(phases["tokens"]) / bare_stat.median
    section.rows[2].ratio = f"{tok_ratio:.2f}× bare"

    # quadratic: 1,000 would take minutes of the budget
    old_by_size = _old_tokens(creds.api_key, creds.api_secret, [s for s in token_sizes if s <= 400])
    _reset_masker()  # the hook's minting below starts from a masker without the pre-fix's patterns
    for size in token_sizes:
        rooms = [f"r-{i}" for i in range(size)]
        new = repeat(
            lambda rooms=rooms: [
                lk.mint_join_token(r, identity=f"t-{i}", ttl=TTL) for i, r in enumerate(rooms)
            ],
            reps,
        )
        section.add("tokens: `mint_join_token` (masked by JWT shape)", size, new, "s")
        if size in old_by_size:
            old = old_by_size[size]
            section.add(
                "tokens: pre-fix (`mask_secret` per token)",
                size,
                [old],
                "s",
                ratio=f"{old / statistics.median(new):.0f}× slower",
                note="1 repetition; the first tokens of one pass from an empty masker",
            )
    if 400 in old_by_size and 1000 in token_sizes:
        section.add(
            "tokens: pre-fix, extrapolated",
            1000,
            [old_by_size[400] * (1000 / 400) ** 2],
            "s",
            note="quadratic extrapolation from 400 (not measured: minutes)",
        )
    _reset_masker()
    section.targets.append(
        Target(
            f"{n:,} BYO runs submitted < 5 s", f"{total.median:.2f} s (median of {reps})", total.median < 5
        )
    )
    section.targets.append(
        Target("token minting ≤ 2× `AccessToken` alone", f"{tok_ratio:.2f}×", tok_ratio <= 2)
    )
    default = statistics.median(remote[default_concurrency()])
    section.targets.append(
        Target(
            f"{n:,} BYO runs submitted < 5 s with {REMOTE_DELAY_S * 1000:.0f} ms per request",
            ", ".join(f"concurrency {c}: {statistics.median(t):.2f} s" for c, t in remote.items()),
            default < 5,
            f"the default `room_concurrency` is {default_concurrency()}; rooms and dispatches are 2 requests a run",
        )
    )
    return section
