"""The trigger's serialized form: primitives only, and a faithful round trip."""

from __future__ import annotations

import json

from airflow.sdk.module_loading import import_string

from cekura_livekit.batch.wait import ErrorBudget, snapshot_of_result
from cekura_livekit.hooks.errors import CekuraAuthError, CekuraRateLimitError, CekuraServerError
from cekura_livekit.triggers.runs import CekuraRunsTrigger


def test_serialize_round_trip_holds_only_primitives() -> None:
    trigger = CekuraRunsTrigger(
        cekura_conn_id="cekura_x",
        result_id=501,
        run_ids=[1001, 1002],
        poll_interval=5,
        execution_deadline=1_900_000_000.5,
        end_calls_on_deadline=False,
        cancel_on_kill=False,
        per_run_progress=True,
        hook_params={"retry_limit": 3},
        max_consecutive_errors=4,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "cekura_livekit.triggers.runs.CekuraRunsTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs  # JSON-able primitives only
    rebuilt = import_string(classpath)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.target.result_id == 501
    assert rebuilt.target.run_ids == (1001, 1002)


def test_error_budget_is_bounded_and_honours_retry_after() -> None:
    budget = ErrorBudget(max_consecutive=3, base_delay=1.0, max_delay=10.0)
    err = CekuraServerError("boom", endpoint="GET /x")
    assert [budget.next_delay(err) for _ in range(4)] == [1.0, 2.0, 4.0, None]
    budget.reset()
    assert budget.next_delay(CekuraRateLimitError("slow", endpoint="GET /x", retry_after=7)) == 7
    assert budget.next_delay(CekuraAuthError("no", endpoint="GET /x")) is None


def test_snapshot_treats_unknown_status_as_not_finished() -> None:
    payload = {"id": 1, "status": "provisioning", "total_runs_count": 2, "runs": {"5": {"status": "weird"}}}
    snap = snapshot_of_result(payload)
    assert not snap.terminal
    assert snap.progress.pending == 2
    done = snapshot_of_result(
        {"id": 1, "status": "completed", "runs": {"5": {"status": "completed", "success": True}}}
    )
    assert done.terminal
    assert done.summary()["passed"] == 1


def test_a_capped_room_session_round_trips_without_a_credential() -> None:
    from cekura_livekit.batch.rooms import ByoRooms, RoomSession, RunSlot
    from cekura_livekit.hooks.livekit import LiveKitHook

    session = RoomSession(
        ByoRooms(LiveKitHook("livekit_capped"), concurrency=4),
        [RunSlot(0, 2001, "cekura-r000", {"publish_data_message": "hi"}), RunSlot(1, 2002, "cekura-r001")],
        "acme-support",
        False,
    )
    trigger = CekuraRunsTrigger(result_id=501, rooms=session.to_payload())
    classpath, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs
    rebuilt = import_string(classpath)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    again = RoomSession.from_payload(kwargs["rooms"])
    assert (again.slots, again.agent_name, again.livekit_conn_id) == (
        session.slots,
        "acme-support",
        "livekit_capped",
    )
    assert CekuraRunsTrigger(result_id=501).serialize()[1]["rooms"] is None
