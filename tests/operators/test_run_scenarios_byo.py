"""Bring-your-own rooms end to end: rooms, join tokens, agent dispatch and cleanup on the LiveKit stand-in."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from livekit.api import TokenVerifier

from cekura_livekit.operators.run_scenarios import CekuraRunLiveKitScenariosOperator
from cekura_sandbox import Sandbox
from tests.support.task_context import FakeTI, MemoryStateStore, make_context

SUBMIT_V1 = "scenarios-external/run_scenarios_livekit/"
#: The agent probe before each first submit (issue 21.5): one throw-away room and one dispatch into it.
PROBE = 1


def _served(agent: str = "acme-support") -> None:
    """Probe the agent now, so the operator's own probe is remembered and skipped: a fault armed afterwards
    hits the batch's calls, not the probe's."""
    from cekura_livekit.hooks.livekit import LiveKitHook

    LiveKitHook("livekit_default").probe_agent(agent, "cekura-probe-warm")


def _op(**kwargs: Any) -> CekuraRunLiveKitScenariosOperator:
    defaults: dict[str, Any] = {
        "task_id": "run_suite",
        "scenarios": [2001, 2002],
        "frequency": 2,
        "agent": 101,
        "mode": "bring_your_own_rooms",
        "livekit_conn_id": "livekit_default",
        "livekit_agent_name": "acme-support",
        "room_config": {"voice": "alloy", "language": "en"},
        "poll_interval": 0.1,
        "deferrable": False,
    }
    return CekuraRunLiveKitScenariosOperator(**{**defaults, **kwargs})


def test_rooms_created_tokens_minted_agent_dispatched(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    ctx = make_context(store=MemoryStateStore())
    summary = _op(wait_for_completion=False, timeout=None).execute(ctx)

    assert cekura_sandbox.count("POST", SUBMIT_V1) == 1
    rooms = cekura_sandbox.livekit_rooms
    assert len(rooms) == 4  # 2 scenarios x frequency 2, one room per run
    for room in rooms.values():
        assert json.loads(room["metadata"]) == {"voice": "alloy", "language": "en"}
        # No timeout: the room outlives an estimated queue (1 wave of 15 min + a 10 min margin), not 300 s.
        assert room["empty_timeout"] == 1500
        assert room["max_participants"] == 4
    # Deterministic names: the same task instance always maps to the same rooms.
    from cekura_livekit.batch.rooms import plan_slots

    spec = _op()._spec(strict=True)
    assert sorted(rooms) == sorted(s.room for s in plan_slots(_identity(), 1, spec.scenarios, spec.frequency))

    dispatches = cekura_sandbox.livekit_dispatches
    assert len(dispatches) == 4
    assert {d["agent_name"] for d in dispatches} == {"acme-support"}
    run_ids = ctx["ti"].xcoms["run_ids"]
    metas = sorted((d["metadata"] for d in dispatches), key=lambda m: m["run_id"])
    assert [m["run_id"] for m in metas] == sorted(run_ids)
    assert sorted(m["scenario_id"] for m in metas) == [2001, 2001, 2002, 2002]
    assert all("text_mode" not in m for m in metas)
    # Each run's join token is valid for exactly its own room, and short-lived.
    verifier = TokenVerifier(cekura_sandbox.livekit_api_key, cekura_sandbox.livekit_api_secret)
    by_room = {d["room"]: d["metadata"]["run_id"] for d in dispatches}
    for room, run_id in by_room.items():
        claims = verifier.verify(cekura_sandbox.store.runs[run_id].access_token)
        assert claims.video.room == room
        assert claims.video.room_join
    assert summary["result_id"] == ctx["ti"].xcoms["result_id"]


def _identity() -> Any:
    from cekura_livekit.batch.identity import TaskIdentity

    ti = FakeTI()
    return TaskIdentity(ti.dag_id, ti.task_id, ti.run_id, ti.map_index)


def test_byo_wait_passes_and_deletes_every_room(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    summary = _op().execute(make_context(store=MemoryStateStore()))
    assert summary["status"] == "completed"
    assert summary["total"] == 4
    assert cekura_sandbox.count("POST", "AgentDispatchService/CreateDispatch") == 4 + PROBE
    assert cekura_sandbox.livekit_rooms == {}
    # Deleted by the task, or closed by LiveKit `departure_timeout` after the tester left (at the
    # sandbox's speed that can come first).
    gone = set(cekura_sandbox.livekit_deleted_rooms) | {n for n, _ in cekura_sandbox.livekit_closed_rooms}
    assert len({n for n in gone if not n.startswith("cekura-probe-")}) == 4


def test_one_transient_dispatch_error_does_not_end_the_batch(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    """issue 11 item 6: CreateAgentDispatch is retried like the other idempotent LiveKit calls."""
    _served()
    cekura_sandbox.inject_fault(path_contains="CreateDispatch", kind="503", times=1, server="livekit")
    summary = _op().execute(make_context(store=MemoryStateStore()))
    assert summary["status"] == "completed"
    # 4 + the one retried, after the warm-up probe's
    assert cekura_sandbox.count("POST", "CreateDispatch", server="livekit") == 5 + PROBE
    assert cekura_sandbox.count("POST", "end_calls") == 0


def test_byo_task_failure_still_deletes_rooms(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    """The agent dispatch fails (LiveKit 500s): the calls are ended, the rooms deleted, the task fails."""
    _served()
    cekura_sandbox.inject_fault(path_contains="CreateDispatch", kind="500", times=100, server="livekit")
    with pytest.raises(Exception, match="CreateAgentDispatch"):
        _op().execute(make_context(store=MemoryStateStore()))
    assert cekura_sandbox.livekit_rooms == {}
    assert cekura_sandbox.count("POST", "end_calls") == 1


def test_byo_retry_reattaches_and_dispatches_only_missing_rooms(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    store = MemoryStateStore()
    _op(wait_for_completion=False).execute(make_context(FakeTI(), store))
    summary = _op().execute(make_context(FakeTI(try_number=2), store))
    assert cekura_sandbox.count("POST", SUBMIT_V1) == 1
    # the retry found every room already served (and remembered that the agent is served: no second probe)
    assert cekura_sandbox.count("POST", "CreateDispatch") == 4 + PROBE
    assert summary["status"] == "completed"
    assert cekura_sandbox.livekit_rooms == {}


def test_chat_mode_dispatches_in_text_mode(cekura_sandbox: Sandbox, cekura_sandbox_connections: dict) -> None:
    op = _op(mode="chat", scenarios=[{"scenario": 2001, "publish_data_message": {"hello": 1}}], frequency=1)
    op.execute(make_context(store=MemoryStateStore()))
    assert cekura_sandbox.count("POST", "run_scenarios_livekit_chat") == 1
    assert cekura_sandbox.livekit_rooms == {}


def test_chat_dispatch_metadata_has_text_mode(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    op = _op(mode="chat", scenarios=[2005], frequency=1, wait_for_completion=False)
    op.execute(make_context(store=MemoryStateStore()))
    (dispatch,) = cekura_sandbox.livekit_dispatches
    assert dispatch["metadata"]["text_mode"] is True


def test_tokens_and_secrets_never_in_xcom_state_or_logs(
    cekura_sandbox: Sandbox,
    cekura_sandbox_connections: dict,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    ctx = make_context(store=MemoryStateStore())
    _op().execute(ctx)
    tokens = [r.access_token for r in cekura_sandbox.store.runs.values()]
    assert len(tokens) == 4
    assert all(tokens)
    out, err = capfd.readouterr()
    text = caplog.text + out + err + json.dumps(ctx["ti"].xcoms) + json.dumps(ctx["task_state_store"].data)
    assert "Dispatched agent" in text
    for secret in [cekura_sandbox.api_key, cekura_sandbox.livekit_api_secret, *tokens]:
        assert secret not in text


def test_partial_room_creation_leaves_no_room_and_submits_nothing(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    """Issue 11 item 6: some of 6 rooms fail to create (an unreadable answer: not retried, and the room
    may exist anyway) — the created ones used to stay behind."""
    _served()
    cekura_sandbox.inject_fault("CreateRoom", kind="malformed", times=2, server="livekit")
    with pytest.raises(Exception, match="CreateRoom"):
        _op(frequency=3, wait_for_completion=False).execute(make_context(store=MemoryStateStore()))
    assert cekura_sandbox.count("POST", "RoomService/CreateRoom", server="livekit") == 6 + PROBE
    # the 4 answered and the 2 unreadable ones (besides the warm-up probe's room)
    assert len(set(cekura_sandbox.livekit_deleted_rooms) - {"cekura-probe-warm"}) == 6
    assert cekura_sandbox.livekit_rooms == {}
    assert cekura_sandbox.count("POST", SUBMIT_V1) == 0  # nothing paid for


@pytest.mark.parametrize("mode", ["bring_your_own_rooms", "chat"])
def test_wrong_livekit_secret_fails_for_good_before_any_room_or_submit(
    cekura_sandbox: Sandbox,
    cekura_sandbox_connections: dict,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    """Issue 20 item 7: rooms were created (and a 401 retried) before a wrong secret surfaced."""
    from cekura_livekit.compat import AirflowFailException

    conn = json.loads(cekura_sandbox_connections["AIRFLOW_CONN_LIVEKIT_DEFAULT"])
    conn["password"] = "not-the-secret-" * 3
    monkeypatch.setenv("AIRFLOW_CONN_LIVEKIT_WRONG", json.dumps(conn))
    ctx = make_context(store=MemoryStateStore())
    with pytest.raises(AirflowFailException, match="'livekit_wrong'"):
        _op(mode=mode, scenarios=[2001], frequency=1, livekit_conn_id="livekit_wrong").execute(ctx)
    assert cekura_sandbox.count("POST", "CreateRoom", server="livekit") == 0
    assert cekura_sandbox.count("POST", "scenarios-external") == 0  # nothing paid for
    assert ctx["ti"].xcoms["failure_reason"]["kind"] == "permanent"


def test_agent_name_no_worker_serves_fails_for_good_before_anything_is_paid(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 21.5: livekit-server accepts a dispatch for any agent name and starts no job when no worker
    registered it (pkg/agent/client.go `LaunchJob`); a typo used to pass the submit and fail every run
    `Main agent-did-not-answer`. The probe finds it first: permanent, naming the name and the fix."""
    from cekura_livekit.compat import AirflowFailException

    monkeypatch.setattr("cekura_livekit.hooks.livekit.PROBE_WAIT_SECONDS", 1.0)
    with pytest.raises(AirflowFailException) as failed:
        _op(livekit_agent_name="acme-suport").execute(make_context(store=MemoryStateStore()))
    message = str(failed.value)
    assert "'acme-suport'" in message
    assert "WorkerOptions(agent_name=...)" in message
    assert "Nothing was submitted to Cekura" in message
    assert cekura_sandbox.count("POST", "scenarios-external") == 0  # nothing paid for
    assert cekura_sandbox.livekit_rooms == {}  # the probe room is gone, no batch room was created


def test_a_stopped_worker_is_found_by_the_probe_too(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cekura_livekit.compat import AirflowFailException

    monkeypatch.setattr("cekura_livekit.hooks.livekit.PROBE_WAIT_SECONDS", 1.0)
    cekura_sandbox.livekit.stop_worker("acme-support")
    with pytest.raises(AirflowFailException, match="'acme-support'"):
        _op().execute(make_context(store=MemoryStateStore()))
    assert cekura_sandbox.count("POST", "scenarios-external") == 0


# ---- issue 21.6: the agent-slot cap drives the deferred wait ----------------------------------------------
def _deferred_capped_batch(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch, *, agent_slots: int | None, runs: int = 50
) -> dict:
    """A 50-run own-room batch against a worker with 5 job slots and Cekura running 5 calls at a time,
    deferred: the operator submits and defers, the trigger is rebuilt from `serialize()` (as the triggerer
    does) and its `run()` waits, then `execute_complete` judges. Reports what happened."""
    import asyncio
    import time as clock
    from itertools import pairwise

    from airflow.sdk.module_loading import import_string

    from cekura_livekit.compat import AirflowException, TaskDeferred
    from cekura_livekit.hooks.cekura import CekuraHook

    conn = json.loads(sb.connection_env()["AIRFLOW_CONN_LIVEKIT_DEFAULT"])
    conn["extra"] = {} if agent_slots is None else {"agent_slots": agent_slots}
    monkeypatch.setenv("AIRFLOW_CONN_LIVEKIT_CAPPED", json.dumps(conn))
    sb.livekit.register_worker("acme-support", slots=5)
    sb.store.parallel_calls = 5
    # As in tests/batch/test_rooms.py: on 2 shared cores a poll can stall for seconds; the claim is capacity.
    sb.store.agent_join_timeout = 10.0 if agent_slots is not None else 3.0
    op = _capped_op(runs, deferrable=True)
    ctx = make_context(store=MemoryStateStore())
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(ctx)
    classpath, kwargs = deferred.value.trigger.serialize()
    trigger = import_string(classpath)(**kwargs)
    livekit_before = sb.count(server="livekit")
    peak, ticks = 0, []

    async def wait() -> list[dict[str, Any]]:
        nonlocal peak
        task = asyncio.ensure_future(_collect(trigger))
        while not task.done():  # also the triggerer's heartbeat: the refill must not block the loop
            ticks.append(clock.monotonic())
            peak = max(peak, sb.livekit.running_jobs("acme-support"))
            await asyncio.sleep(0.02)
        return await task

    started = clock.monotonic()
    (event,) = asyncio.run(wait())
    seconds = clock.monotonic() - started
    livekit_during = sb.count(server="livekit") - livekit_before
    verdict = "passed"
    try:
        op.execute_complete(ctx, event)
    except AirflowException as exc:
        verdict = str(exc).splitlines()[0]
    detail = CekuraHook().get_result(ctx["ti"].xcoms["result_id"])
    reasons = [r["metadata"].get("ended_reason") for r in detail["runs"].values()]
    return {
        "kwargs": kwargs,
        "event": event,
        "verdict": verdict,
        "no_answer": reasons.count("Main agent-did-not-answer"),
        "unserved": len(sb.livekit.unserved),
        "peak_jobs": peak,
        "max_loop_gap": round(max(b - a for a, b in pairwise(ticks)), 2),
        "livekit_during_wait": livekit_during,
        "result_reads": sb.count("GET", f"results/{detail['id']}/"),
        "seconds": round(seconds, 1),
        "rooms_left": [n for n in sb.livekit_rooms if not n.startswith("cekura-probe-")],
    }


def _capped_op(runs: int, *, deferrable: bool) -> CekuraRunLiveKitScenariosOperator:
    return _op(
        scenarios=[2001],
        frequency=runs,
        livekit_conn_id="livekit_capped",
        room_config=None,
        poll_interval=0.05,
        deferrable=deferrable,
    )


async def _collect(trigger: Any) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


def test_deferred_fifty_runs_against_five_job_slots_all_get_their_agent(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`agent_slots=5`: the first 5 runs get their agent at submit; the trigger hands each freed slot to the
    next run in queue order. Before, nobody refilled during the wait: the 45 other runs never got an agent."""
    capped = _deferred_capped_batch(cekura_sandbox, monkeypatch, agent_slots=5)
    print("capped, deferred:", {k: v for k, v in capped.items() if k not in {"kwargs", "event"}})
    assert capped["event"]["status"] == "terminal"
    assert capped["no_answer"] == 0
    assert capped["unserved"] == 0
    assert capped["peak_jobs"] <= 5
    assert capped["livekit_during_wait"] > 0  # the triggerer dispatched
    assert capped["max_loop_gap"] < 0.5  # no blocking I/O on the triggerer's loop
    assert capped["rooms_left"] == []
    # The trigger's arguments travel through the metadata database: room names and settings, no credential.
    rooms = capped["kwargs"]["rooms"]
    assert len(rooms["slots"]) == 50
    assert rooms["livekit_conn_id"] == "livekit_capped"
    text = json.dumps(capped["kwargs"])
    tokens = [r.access_token for r in cekura_sandbox.store.runs.values()]
    for secret in [cekura_sandbox.api_key, cekura_sandbox.livekit_api_key, cekura_sandbox.livekit_api_secret]:
        assert secret not in text
    assert all(token and token not in text for token in tokens)
    assert "eyJ" not in text  # no JWT of any kind


def test_deferred_without_a_cap_the_wait_is_unchanged_and_the_overflow_gets_no_agent(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without `agent_slots` the trigger gets no room session and makes no LiveKit call; its polls stay
    light (the runs-list count, the detail only at the start and the end). Today's design, measured: every
    room gets its agent at submit, 5 get a job, the 45 others never do."""
    today = _deferred_capped_batch(cekura_sandbox, monkeypatch, agent_slots=None)
    print("uncapped, deferred:", {k: v for k, v in today.items() if k not in {"kwargs", "event"}})
    assert today["kwargs"]["rooms"] is None
    assert today["livekit_during_wait"] == 0
    assert today["result_reads"] <= 4  # submit-time reads, the trigger's first detail and the last one
    assert today["unserved"] == 45
    assert today["no_answer"] >= 40
    assert today["verdict"] != "passed"


def test_the_worker_wait_refills_the_capped_batch_too(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not deferred: the same wait loop in the worker calls `RoomSession.refill` after every poll."""
    import threading

    from cekura_livekit.compat import AirflowException

    conn = json.loads(cekura_sandbox.connection_env()["AIRFLOW_CONN_LIVEKIT_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_LIVEKIT_CAPPED", json.dumps({**conn, "extra": {"agent_slots": 3}}))
    cekura_sandbox.livekit.register_worker("acme-support", slots=3)
    cekura_sandbox.store.parallel_calls = 3
    cekura_sandbox.store.agent_join_timeout = 10.0
    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], cekura_sandbox.livekit.running_jobs("acme-support"))

    sampler = threading.Thread(target=sample)
    sampler.start()
    ctx = make_context(store=MemoryStateStore())
    verdict = "passed"
    try:
        _capped_op(15, deferrable=False).execute(ctx)
    except AirflowException as exc:  # the sandbox fails some evaluations: not this test's claim
        verdict = str(exc)
    finally:
        done.set()
        sampler.join()
    assert "infra_error" not in verdict
    from cekura_livekit.hooks.cekura import CekuraHook

    detail = CekuraHook().get_result(ctx["ti"].xcoms["result_id"])
    reasons = [r["metadata"].get("ended_reason") for r in detail["runs"].values()]
    assert len(reasons) == 15
    assert "Main agent-did-not-answer" not in reasons
    assert cekura_sandbox.livekit.unserved == []
    assert peak[0] <= 3
    assert cekura_sandbox.count("POST", "CreateDispatch") > 3 + PROBE  # refilled during the wait
