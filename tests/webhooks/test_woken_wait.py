"""The whole path on real parts: the sandbox posts `result.completed` to the receiver (uvicorn, real
HTTP), which records it in PostgreSQL and NOTIFYs; the deferred wait (CekuraRunsTrigger) is woken and
reads the result once. Every fault the sandbox can inject ends in the right event: a lost webhook costs
at most one safety interval, never a stuck wait."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cekura_livekit.hooks.cekura import CekuraHook
from cekura_livekit.triggers.runs import CekuraRunsTrigger
from cekura_livekit.webhooks.config import ChannelConfig
from cekura_sandbox import Sandbox
from tests.webhooks.conftest import Receiver
from tests.webhooks.support import SECRET, rows

FAST_HOOK = {"retry_delay": 0.05, "retry_max_delay": 0.2}
#: Polling without webhooks would hit the API every 0.2 s; with them, only the safety interval polls.
POLL = 0.2


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """60x: a batch takes a few real seconds, so the wait is really asleep when the webhook comes."""
    with Sandbox(seed=7, speed=60.0) as sb:
        for name, value in sb.connection_env().items():
            monkeypatch.setenv(name, value)
        yield sb


def _submit(scenarios: list[int]) -> int:
    payload = {"scenarios": [{"scenario": s} for s in scenarios], "agent": 101, "frequency": 2}
    return int(CekuraHook().submit_managed(payload)["id"])


def _detail_reads(sb: Sandbox, result_id: int) -> int:
    return sum(
        1 for r in sb.requests if r.method == "GET" and r.path.rstrip("/").endswith(f"results/{result_id}")
    )


def _count_reads(sb: Sandbox) -> int:
    return sum(1 for r in sb.requests if r.method == "GET" and r.path.rstrip("/").endswith("/runs"))


async def _wait(result_id: int, safety: float = 600.0) -> tuple[dict[str, Any], float]:
    trigger = CekuraRunsTrigger(
        result_id=result_id, poll_interval=POLL, safety_interval=safety, hook_params=FAST_HOOK
    )
    events = [event.payload async for event in trigger.run()]
    assert len(events) == 1
    return events[0], time.time()


async def test_the_webhook_wakes_the_wait_within_two_seconds_with_no_polls_between(
    channel_env: ChannelConfig, receiver: Receiver, sandbox: Sandbox
) -> None:
    sandbox.webhooks.configure(receiver.url, SECRET)
    result_id = _submit([2001, 2002, 2005])
    event, done_at = await asyncio.wait_for(_wait(result_id), 60)
    assert event["status"] == "terminal"
    assert event["summary"]["pending"] == 0
    (delivery,) = sandbox.webhooks.sent(result_id)
    assert delivery.status_code == 200
    assert done_at - delivery.sent_at < 2.0
    assert _detail_reads(sandbox, result_id) == 2  # the first detail, and the final one after the webhook
    assert _count_reads(sandbox) == 0  # no poll in between
    assert [r[2] for r in rows(channel_env)] == [result_id]


@pytest.mark.parametrize("fault", ["drop", "wrong_secret"])
async def test_a_lost_webhook_costs_at_most_one_safety_interval(
    channel_env: ChannelConfig, receiver: Receiver, sandbox: Sandbox, fault: str
) -> None:
    sandbox.webhooks.configure(receiver.url, SECRET)
    sandbox.webhooks.add_fault(fault)
    result_id = _submit([2001, 2002])
    start = time.time()
    event, done_at = await asyncio.wait_for(_wait(result_id, safety=3.0), 60)
    assert event["status"] == "terminal"
    (delivery,) = sandbox.webhooks.sent(result_id)
    finished = delivery.sent_at  # when the sandbox saw the result finish
    assert done_at - finished <= 3.0 + 1.5
    assert _count_reads(sandbox) <= (done_at - start) / 3.0 + 1  # polled at the safety interval only
    if fault == "wrong_secret":
        assert delivery.status_code == 401
    assert rows(channel_env) == []


async def test_the_receiver_down_costs_at_most_one_safety_interval(
    channel_env: ChannelConfig, sandbox: Sandbox
) -> None:
    sandbox.webhooks.configure("http://127.0.0.1:1/", SECRET)
    result_id = _submit([2001])
    event, done_at = await asyncio.wait_for(_wait(result_id, safety=3.0), 60)
    assert event["status"] == "terminal"
    (delivery,) = sandbox.webhooks.sent(result_id)
    assert delivery.status_code is None
    assert delivery.error
    assert done_at - delivery.sent_at <= 3.0 + 1.5


async def test_duplicated_delayed_and_reordered_webhooks_each_end_one_wait_once(
    channel_env: ChannelConfig, receiver: Receiver, sandbox: Sandbox
) -> None:
    sandbox.webhooks.configure(receiver.url, SECRET)
    sandbox.webhooks.add_fault("duplicate")
    sandbox.webhooks.add_fault("reorder", delay=1.0)
    sandbox.webhooks.add_fault("delay", delay=1.0)
    ids = [_submit([2001]), _submit([2002, 2005]), _submit([2001, 2002, 2005])]
    results = await asyncio.wait_for(asyncio.gather(*(_wait(r) for r in ids)), 90)
    assert [e["status"] for e, _ in results] == ["terminal"] * 3
    assert [e["result_id"] for e, _ in results] == ids
    # A delivery is recorded once sent: a faulted one that no wait needed (another event of an ended result)
    # may still be in flight, held by its delay, when the last wait ends.
    for _ in range(50):
        sent = sandbox.webhooks.sent()
        if {d.fault for d in sent} >= {"delay", "duplicate", "reorder"}:
            break
        await asyncio.sleep(0.1)
    assert sorted({d.fault for d in sent} - {None}) == ["delay", "duplicate", "reorder"]
    assert sorted(r[2] for r in rows(channel_env)) == sorted(ids)  # the duplicate is one row
    for result_id, (_, done_at) in zip(ids, results, strict=True):
        last = max(d.sent_at for d in sandbox.webhooks.sent(result_id))
        assert done_at - last < 2.0 or any(d.fault == "duplicate" for d in sandbox.webhooks.sent(result_id))
    assert _count_reads(sandbox) == 0


async def test_without_a_channel_the_wait_polls_as_before(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite metadata (no configuration at all): the wait polls every poll_interval, light counts after
    the first detail, and finishes."""
    monkeypatch.delenv("CEKURA_WEBHOOK_DSN", raising=False)
    result_id = _submit([2001, 2002])
    event, _ = await asyncio.wait_for(_wait(result_id), 60)
    assert event["status"] == "terminal"
    assert _count_reads(sandbox) >= 2
    assert _detail_reads(sandbox, result_id) == 2
