"""Issue 24 item 4: bring-your-own rooms, the worker dies between the submit and the agent dispatch.

The crash is injected where a SIGKILL would land: after Cekura accepted (and charges for) the batch, before
any agent is dispatched, with no cleanup running (no rooms deleted, no calls ended). The retry must dispatch
the agents the rooms still wait for; a batch that died meanwhile is never dropped silently.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from cekura_livekit.batch.rooms import RoomSession
from cekura_livekit.batch.submit import STATE_KEY, SUPERSEDED_KEY
from cekura_livekit.hooks.cekura import CekuraHook
from cekura_livekit.hooks.livekit import LiveKitHook
from cekura_livekit.operators.run_scenarios import CekuraRunLiveKitScenariosOperator
from cekura_sandbox import Sandbox
from tests.support.task_context import FakeTI, MemoryStateStore, make_context

SUBMIT_V1 = "scenarios-external/run_scenarios_livekit/"


class _Killed(BaseException):
    """Stands in for SIGKILL: not an Exception, so no `except Exception` cleanup runs."""


def _op(**kwargs: Any) -> CekuraRunLiveKitScenariosOperator:
    defaults: dict[str, Any] = {
        "task_id": "run_suite",
        "scenarios": [2001, 2002],
        "frequency": 2,
        "agent": 101,
        "mode": "bring_your_own_rooms",
        "livekit_conn_id": "livekit_default",
        "livekit_agent_name": "acme-support",
        "poll_interval": 0.1,
        "deferrable": False,
    }
    return CekuraRunLiveKitScenariosOperator(**{**defaults, **kwargs})


def _first_try_dies(store: MemoryStateStore, monkeypatch: pytest.MonkeyPatch) -> int:
    def die(self: RoomSession, *args: Any, **kwargs: Any) -> None:
        raise _Killed("worker killed between submit and dispatch")

    with monkeypatch.context() as patch:
        patch.setattr(RoomSession, "ensure_dispatched", die)
        patch.setattr(RoomSession, "delete_quietly", lambda self: None)
        with pytest.raises(_Killed):
            _op().execute(make_context(FakeTI(), store))
    return int(store.data[STATE_KEY]["result_id"])


def test_retry_dispatches_the_agents_the_rooms_still_wait_for(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryStateStore()
    first = _first_try_dies(store, monkeypatch)
    assert cekura_sandbox.livekit_dispatches == []
    ctx = make_context(FakeTI(try_number=2), store)
    summary = _op().execute(ctx)
    assert cekura_sandbox.count("POST", SUBMIT_V1) == 1  # re-attached, not resubmitted
    assert summary["result_id"] == first
    assert summary["status"] == "completed"
    assert summary["infra_error"] == 0  # every run got its agent
    # 4 runs + the agent probe's one dispatch (a served name is not probed again by this process)
    assert cekura_sandbox.count("POST", "CreateDispatch", server="livekit") == 4 + 1
    assert SUPERSEDED_KEY not in ctx["ti"].xcoms


def test_a_batch_that_died_meanwhile_is_kept_for_loading(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the retry submitted a fresh batch and nothing remembered the dead, paid one."""
    store = MemoryStateStore()
    first = _first_try_dies(store, monkeypatch)
    hook = CekuraHook()
    give_up = time.monotonic() + 60
    while hook.get_result(first)["status"] not in ("failed", "timeout", "cancelled"):
        assert time.monotonic() < give_up, "the undispatched batch never ended"
        time.sleep(0.2)
    ctx = make_context(FakeTI(try_number=2), store)
    summary = _op().execute(ctx)
    assert cekura_sandbox.count("POST", SUBMIT_V1) == 2
    assert summary["result_id"] != first
    assert ctx["ti"].xcoms[SUPERSEDED_KEY] == [first]
    assert store.data[STATE_KEY]["superseded"] == [first]
    # Only the fresh batch's rooms got the agent: the dead batch's runs were over.
    # 4 runs + the agent probe's one dispatch (a served name is not probed again by this process)
    assert cekura_sandbox.count("POST", "CreateDispatch", server="livekit") == 4 + 1


def test_batches_lost_to_a_dispatch_outage_are_all_kept_for_loading(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    """LiveKit dispatch stays down for two tries: two paid batches end; the third try's XCom names both."""
    store = MemoryStateStore()
    # The agent probe (one dispatch into a throw-away room) runs before any submit: let it pass once, so the
    # outage hits the batches' own dispatches, as when LiveKit fails between the probe and the batch.
    LiveKitHook("livekit_default").probe_agent("acme-support", "cekura-probe-warm")
    cekura_sandbox.inject_fault(path_contains="CreateDispatch", kind="500", times=10_000, server="livekit")
    dead = []
    for try_number in (1, 2):
        with pytest.raises(Exception, match="CreateAgentDispatch"):
            _op().execute(make_context(FakeTI(try_number=try_number), store))
        dead.append(store.data[STATE_KEY]["result_id"])
    cekura_sandbox.clear_faults()
    hook = CekuraHook()
    give_up = time.monotonic() + 60
    while any(hook.get_result(r)["status"] not in ("failed", "timeout", "cancelled") for r in dead):
        assert time.monotonic() < give_up, "the ended batches never became terminal"
        time.sleep(0.2)
    ctx = make_context(FakeTI(try_number=3), store)
    summary = _op().execute(ctx)
    assert summary["status"] == "completed"
    assert ctx["ti"].xcoms[SUPERSEDED_KEY] == dead
    assert len(set(dead)) == 2
    assert cekura_sandbox.count("POST", SUBMIT_V1) == 3


def test_the_verdict_names_the_superseded_batches(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict, monkeypatch: pytest.MonkeyPatch
) -> None:

    store = MemoryStateStore()
    first = _first_try_dies(store, monkeypatch)
    hook = CekuraHook()
    give_up = time.monotonic() + 60
    while hook.get_result(first)["status"] not in ("failed", "timeout", "cancelled"):
        assert time.monotonic() < give_up
        time.sleep(0.2)
    op = _op()
    messages: list[str] = []
    monkeypatch.setattr(op.log, "info", lambda msg, *args: messages.append(msg % args if args else msg))
    op.execute(make_context(FakeTI(try_number=2), store))
    verdict = next(m for m in messages if "evaluated runs passed" in m)
    assert f"Cekura result(s) {first}" in verdict
