"""Fast tests of CekuraRunsTrigger.run() and on_kill(): exactly one event per exit, no network."""

from __future__ import annotations

import time
from typing import Any

import pytest

from cekura_livekit.hooks.errors import CekuraAuthError
from cekura_livekit.triggers.runs import CekuraRunsTrigger
from tests.support.scripted_hook import ScriptedHook, result
from tests.webhooks.support import CountingHook


@pytest.fixture(autouse=True)
def _no_webhook_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests script every request: no channel, whatever the metadata database is."""
    monkeypatch.setenv("CEKURA_WEBHOOKS", "off")


def _trigger(hook: ScriptedHook, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> CekuraRunsTrigger:
    trigger = CekuraRunsTrigger(result_id=7, run_ids=[100, 101], poll_interval=0.01, **kwargs)
    monkeypatch.setattr(trigger, "_hook", lambda: hook)
    return trigger


async def _events(trigger: CekuraRunsTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


async def test_terminal_batch_yields_one_terminal_event(monkeypatch: pytest.MonkeyPatch) -> None:
    done = result("completed", [("completed", True), ("completed", True)])
    hook = CountingHook(
        get_result=[result("running", [("running", None)] * 2), done], count_unfinished_runs=[1, 0]
    )
    events = await _events(_trigger(hook, monkeypatch))
    assert [e["status"] for e in events] == ["terminal"]
    assert events[0]["summary"]["passed"] == 2
    # the detail once to start, then only the light count until it reaches 0, then the detail once more;
    # all passed: no run-detail fetch
    assert hook.names() == ["get_result", "count_unfinished_runs", "count_unfinished_runs", "get_result"]


async def test_rejected_key_yields_one_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    denied = CekuraAuthError("key rejected", endpoint="GET /r", status_code=401)
    events = await _events(_trigger(ScriptedHook(get_result=[denied]), monkeypatch))
    assert [e["status"] for e in events] == ["error"]
    assert "key rejected" in events[0]["message"]


async def test_missing_connection_yields_one_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoConnection(ScriptedHook):
        async def __aenter__(self) -> ScriptedHook:
            raise ValueError("Connection 'cekura_default' has no API key")

    events = await _events(_trigger(NoConnection(), monkeypatch))
    assert [e["status"] for e in events] == ["error"]
    assert "no API key" in events[0]["message"]


async def test_past_deadline_ends_calls_and_yields_one_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = ScriptedHook(end_calls=[None])
    events = await _events(_trigger(hook, monkeypatch, execution_deadline=time.time() - 1))
    assert [e["status"] for e in events] == ["timeout"]
    assert events[0]["calls_ended"] is True
    assert hook.names() == ["end_calls"]


async def test_deadline_without_ending_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = ScriptedHook()
    trigger = _trigger(hook, monkeypatch, execution_deadline=time.time() - 1, end_calls_on_deadline=False)
    events = await _events(trigger)
    assert events[0]["calls_ended"] is False
    assert hook.calls == []


async def test_on_kill_ends_the_calls_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = ScriptedHook(end_calls=[None])
    await _trigger(hook, monkeypatch).on_kill()
    assert hook.names() == ["end_calls"]
    quiet = ScriptedHook()
    await _trigger(quiet, monkeypatch, cancel_on_kill=False).on_kill()
    assert quiet.calls == []


async def test_the_payload_is_the_typed_event_serialized(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the triggerer sends is exactly `WaitEvent.to_payload()`, and parses back to the same event."""
    from cekura_livekit.batch.event import EventStatus, WaitEvent

    hook = ScriptedHook(get_result=[result("completed", [("completed", True), ("completed", False)])])
    hook.script["get_runs_bulk"].append([])
    (payload,) = await _events(_trigger(hook, monkeypatch))
    event = WaitEvent.from_payload(payload)
    assert event.status is EventStatus.TERMINAL
    assert event.to_payload() == payload
    assert payload["failing_total"] == 1


async def test_a_connection_the_triggerer_cannot_read_names_the_shared_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Airflow reports a connection it cannot decrypt as "isn't defined": in a trigger that is a deployment fault
    (the task read it before deferring), so the event says which setting the components must share, and it is
    permanent (issue 21.1: a compose stack without a shared Fernet key failed every wait this way)."""
    from cekura_livekit.compat import AirflowNotFoundException

    class Undecryptable(ScriptedHook):
        async def __aenter__(self) -> ScriptedHook:
            raise AirflowNotFoundException("The conn_id `cekura_default` isn't defined")

    events = await _events(_trigger(Undecryptable(), monkeypatch))
    assert [e["status"] for e in events] == ["error"]
    assert "AIRFLOW__CORE__FERNET_KEY" in events[0]["message"]
    assert "'cekura_default'" in events[0]["message"]
    assert events[0]["permanent"] is True


def _rooms_payload(conn_id: str) -> dict[str, Any]:
    from cekura_livekit.batch.rooms import ByoRooms, RoomSession, RunSlot
    from cekura_livekit.hooks.livekit import LiveKitHook

    session = RoomSession(ByoRooms(LiveKitHook(conn_id)), [RunSlot(0, 2000, "r0")], "agent", False)
    return session.to_payload()


async def test_a_livekit_connection_the_triggerer_cannot_read_is_named_before_the_first_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A capped own-room wait reads its LiveKit connection up front: the error names that connection (not
    Cekura's), is permanent, and no Cekura request was made."""
    hook = ScriptedHook()
    events = await _events(_trigger(hook, monkeypatch, rooms=_rooms_payload("livekit_nowhere")))
    assert [e["status"] for e in events] == ["error"]
    assert "'livekit_nowhere'" in events[0]["message"]
    assert "AIRFLOW__CORE__FERNET_KEY" in events[0]["message"]
    assert events[0]["permanent"] is True
    assert hook.calls == []


async def test_a_capped_wait_refills_after_each_running_detail(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trigger builds the room session once from its serialized form and awaits `arefill` with each
    running detail; no light count (it cannot say which runs ended)."""
    from cekura_livekit.batch.rooms import RoomSession

    seen: list[int] = []
    sessions: list[int] = []
    built = RoomSession.from_payload

    def from_payload(data: Any) -> RoomSession:
        sessions.append(1)
        return built(data)

    async def arefill(self: RoomSession, payload: Any) -> int:
        seen.append(len(payload["runs"]))
        return 0

    async def acredentials(self: Any) -> Any:
        return None

    monkeypatch.setattr(RoomSession, "from_payload", staticmethod(from_payload))
    monkeypatch.setattr(RoomSession, "arefill", arefill)
    monkeypatch.setattr("cekura_livekit.hooks.livekit.LiveKitHook.acredentials", acredentials)
    running = result("running", [("running", None)] * 2)
    done = result("completed", [("completed", True), ("completed", True)])
    hook = CountingHook(get_result=[running, running, done])
    events = await _events(_trigger(hook, monkeypatch, rooms=_rooms_payload("livekit_x")))
    assert [e["status"] for e in events] == ["terminal"]
    assert hook.names() == ["get_result"] * 3
    assert seen == [2, 2]
    assert sessions == [1]
