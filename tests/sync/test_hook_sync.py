"""The hook's sync and re-run calls against the sandbox: time windows over a list without a time filter, and
`rerun/` (sync and async), which is never retried."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from cekura_livekit.hooks.cekura import CekuraHook
from cekura_livekit.hooks.errors import CekuraSubmitUncertainError
from cekura_livekit.models import ResultSummary
from cekura_sandbox import Sandbox


def test_a_window_reads_only_the_pages_it_needs(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    cekura_sandbox.set_time(now - timedelta(hours=1))
    old = [
        cekura_sandbox.create_result("api", 101, [2001], at=now - timedelta(days=d)) for d in range(30, 5, -1)
    ]
    new = [cekura_sandbox.create_result("cron", 101, [2001], at=now - timedelta(hours=h)) for h in (3, 2)]
    hook = CekuraHook()
    cekura_sandbox.clear_requests()
    got = list(hook.iter_results_created(now - timedelta(days=1), agent_id=101, page_size=5))
    assert [r["id"] for r in got] == [new[1]["id"], new[0]["id"]]  # newest first
    assert cekura_sandbox.count("GET", "/results/") == 1  # the first page already reaches past the window
    ranged = list(hook.iter_results_created(now - timedelta(days=20), now - timedelta(days=10), page_size=5))
    assert {r["id"] for r in ranged} == {o["id"] for o in old if 10 < (30 - old.index(o)) <= 20}
    assert len(list(hook.iter_results_created(None, page_size=5))) == len(old) + len(new)  # open: everything


def test_rerun_sync_and_async_and_never_retried(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict[str, str]
) -> None:
    hook = CekuraHook(retry_delay=0.01, retry_max_delay=0.05)
    rid = int(hook.submit_managed({"agent": 101, "scenarios": [{"scenario": 2006}], "frequency": 8})["id"])
    deadline = time.monotonic() + 60
    while not ResultSummary.from_result(hook.get_result(rid)).is_terminal:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    before = len(hook.get_result(rid)["runs"])
    answer = hook.rerun_failed(rid)
    assert answer["id"] == rid
    assert len(answer["runs"]) > before
    cekura_sandbox.inject_fault("/rerun/", kind="drop", times=1)
    with pytest.raises(CekuraSubmitUncertainError):
        asyncio.run(hook.arerun_failed(rid))
    assert cekura_sandbox.count("POST", "/rerun/") == 2  # the dropped one was not repeated
