"""CekuraRunsTrigger against the sandbox: one event, restart from serialize(), deadline, errors, on_kill."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest
from airflow.sdk.module_loading import import_string

from cekura_livekit.hooks.cekura import CekuraHook
from cekura_livekit.triggers.runs import CekuraRunsTrigger
from cekura_sandbox import Sandbox

FAST_HOOK = {"retry_delay": 0.05, "retry_max_delay": 0.2}


def _submit(scenarios: list[int], frequency: int = 1) -> dict[str, Any]:
    return CekuraHook().submit_managed(
        {"scenarios": [{"scenario": s} for s in scenarios], "agent": 101, "frequency": frequency}
    )


async def _collect(trigger: CekuraRunsTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


async def test_one_terminal_event_with_summary(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    result = _submit([2001, 2002, 2005])
    trigger = CekuraRunsTrigger(result_id=result["id"], poll_interval=0.1, hook_params=FAST_HOOK)
    events = await _collect(trigger)
    assert len(events) == 1
    (event,) = events
    assert event["status"] == "terminal"
    assert event["summary"]["result_id"] == result["id"]
    assert event["summary"]["total"] == 3
    assert event["summary"]["pending"] == 0
    # One request per poll, no run details when every run passed.
    assert cekura_sandbox.count("GET", "runs/bulk") == (0 if event["failing_total"] == 0 else 1)


async def test_restart_from_serialized_form_finishes_the_job(monkeypatch: pytest.MonkeyPatch) -> None:
    """A triggerer restart: the trigger is cancelled mid-wait and rebuilt from serialize().

    A sandbox at 60x (a batch takes seconds, not milliseconds) and a cancel after the first poll was seen,
    not after a fixed delay: the wait is really interrupted half-way on a loaded machine too.
    """
    with Sandbox(seed=7, speed=60.0) as sandbox:
        for name, value in sandbox.connection_env().items():
            monkeypatch.setenv(name, value)
        result = _submit([2001, 2002], frequency=5)
        first = CekuraRunsTrigger(result_id=result["id"], poll_interval=0.05, hook_params=FAST_HOOK)
        task = asyncio.ensure_future(_collect(first))
        deadline = time.monotonic() + 10
        while sandbox.count("GET", f"results/{result['id']}/") == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert not task.done(), "the batch finished before the restart: the test proves nothing"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        classpath, kwargs = first.serialize()
        rebuilt = import_string(classpath)(**kwargs)
        assert rebuilt.serialize() == (classpath, kwargs)
        events = await _collect(rebuilt)
    assert [e["status"] for e in events] == ["terminal"]
    assert events[0]["summary"]["total"] == 10


async def test_error_event_for_a_missing_result(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    events = await _collect(CekuraRunsTrigger(result_id=999999, poll_interval=0.1, hook_params=FAST_HOOK))
    assert [e["status"] for e in events] == ["error"]
    assert "404" in events[0]["message"]


async def test_outage_longer_than_hook_retries_is_tolerated(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    result = _submit([2001])
    cekura_sandbox.inject_fault(path_contains=f"results/{result['id']}/", kind="500", times=9, method="GET")
    trigger = CekuraRunsTrigger(
        result_id=result["id"], poll_interval=0.05, hook_params={**FAST_HOOK, "retry_limit": 2}
    )
    events = await _collect(trigger)
    assert [e["status"] for e in events] == ["terminal"]


async def test_runs_mode_waits_on_explicit_run_ids(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    result = _submit([2001, 2005])
    ids = [r["id"] for r in result["runs"]]
    events = await _collect(CekuraRunsTrigger(run_ids=ids, poll_interval=0.1, hook_params=FAST_HOOK))
    assert events[0]["status"] == "terminal"
    assert events[0]["summary"]["total"] == 2
    assert events[0]["result_id"] == result["id"]


async def test_deadline_ends_calls_then_reports_timeout(cekura_slow_sandbox: Sandbox) -> None:
    result = _submit([2001, 2002])
    trigger = CekuraRunsTrigger(
        result_id=result["id"], poll_interval=0.1, execution_deadline=time.time() + 0.5, hook_params=FAST_HOOK
    )
    events = await _collect(trigger)
    assert [e["status"] for e in events] == ["timeout"]
    assert events[0]["calls_ended"] is True
    assert cekura_slow_sandbox.count("POST", f"results/{result['id']}/end_calls") == 1


async def test_deadline_without_ending_calls(cekura_slow_sandbox: Sandbox) -> None:
    result = _submit([2001])
    trigger = CekuraRunsTrigger(
        result_id=result["id"],
        poll_interval=0.1,
        execution_deadline=time.time() + 0.3,
        end_calls_on_deadline=False,
    )
    events = await _collect(trigger)
    assert events[0]["status"] == "timeout"
    assert events[0]["calls_ended"] is False
    assert cekura_slow_sandbox.count("POST", "end_calls") == 0


async def test_on_kill_ends_the_calls(cekura_slow_sandbox: Sandbox) -> None:
    result = _submit([2001])
    await CekuraRunsTrigger(result_id=result["id"]).on_kill()
    assert cekura_slow_sandbox.count("POST", f"results/{result['id']}/end_calls") == 1
    await CekuraRunsTrigger(result_id=result["id"], cancel_on_kill=False).on_kill()
    assert cekura_slow_sandbox.count("POST", "end_calls") == 1


async def test_trigger_never_blocks_the_event_loop(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    """A heartbeat coroutine keeps ticking while the trigger waits (no blocking I/O in run())."""
    result = _submit([2001, 2002], frequency=3)
    ticks: list[float] = []

    async def heartbeat() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    beat = asyncio.create_task(heartbeat())
    try:
        await _collect(CekuraRunsTrigger(result_id=result["id"], poll_interval=0.05))
    finally:
        beat.cancel()
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert ticks
    assert max(gaps) < 0.5


async def test_the_light_poll_counts_unfinished_runs_in_one_small_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 26.4: "is it finished?" answered by a runs-list count (result_id, non-terminal status__in,
    page_size=1): the same answer as the detail's counts, in a page of one run."""
    with Sandbox(seed=7, speed=60.0) as sandbox:
        for name, value in sandbox.connection_env().items():
            monkeypatch.setenv(name, value)
        result = _submit([2001, 2002], frequency=5)
        async with CekuraHook(**FAST_HOOK) as hook:
            unfinished = await hook.acount_unfinished_runs(result["id"])
            detail = await hook.aget_result(result["id"])
            pending = sum(
                1
                for r in detail["runs"].values()
                if r["status"] not in {"completed", "failed", "timeout", "cancelled"}
            )
            assert unfinished >= pending > 0  # runs only finish between the two reads
            (request,) = [r for r in sandbox.requests if r.path.rstrip("/").endswith("/runs")]
            assert "page_size=1" in request.query
            assert f"result_id={result['id']}" in request.query
            deadline = time.monotonic() + 60
            while await hook.acount_unfinished_runs(result["id"]) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert await hook.acount_unfinished_runs(result["id"]) == 0
            assert CekuraHook(**FAST_HOOK).count_unfinished_runs(result["id"]) == 0  # the sync twin
