"""Issue 24 item 9: rooms a DeleteRoom outage left open are deleted at the next try or run, not hours later."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cekura_livekit.batch.leftover_rooms import (
    LEFTOVER_ROOMS_KEY,
    LeftoverLedger,
    LeftoverRooms,
    delete_leftover_rooms,
)
from cekura_livekit.batch.submit import StateStore
from cekura_livekit.hooks.livekit import LiveKitHook, RoomSpec
from cekura_livekit.operators.run_scenarios import CekuraRunLiveKitScenariosOperator
from cekura_sandbox import Sandbox
from tests.support.task_context import FakeTI, MemoryStateStore, make_context


@dataclass
class PriorRunsTI(FakeTI):
    """A task instance of a later run: `include_prior_dates` sees what earlier runs of the task pushed."""

    prior: dict[str, Any] = field(default_factory=dict)

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value", **kw: Any) -> Any:
        if kw.get("include_prior_dates") and key not in self.xcoms:
            return self.prior.get(key)
        return super().xcom_pull(task_ids, key)


def _op(**kwargs: Any) -> CekuraRunLiveKitScenariosOperator:
    defaults: dict[str, Any] = {
        "task_id": "run_suite",
        "scenarios": [2001, 2002],
        "agent": 101,
        "mode": "bring_your_own_rooms",
        "livekit_conn_id": "livekit_default",
        "livekit_agent_name": "acme-support",
        "poll_interval": 0.1,
        "deferrable": False,
    }
    return CekuraRunLiveKitScenariosOperator(**{**defaults, **kwargs})


def test_payload_round_trip_and_foreign_records() -> None:
    record = LeftoverRooms("lk", ("a", "b"))
    assert LeftoverRooms.from_payload(record.to_payload()) == record
    assert LeftoverRooms.from_payload(None) is None
    assert LeftoverRooms.from_payload({"rooms": ["a"]}) is None  # no connection: not ours to delete
    assert LeftoverRooms.from_payload({"livekit_conn_id": "lk", "rooms": "a"}) is None


def test_an_outage_at_the_end_is_recorded_and_the_next_try_deletes_the_rooms(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    store = MemoryStateStore()
    cekura_sandbox.inject_fault(path_contains="DeleteRoom", kind="503", times=1000, server="livekit")
    ctx = make_context(FakeTI(), store)
    assert _op().execute(ctx)["status"] == "completed"  # cleanup trouble never fails the task
    left = LeftoverRooms.from_payload(store.data[LEFTOVER_ROOMS_KEY])
    assert left is not None
    assert len(left.rooms) == 2
    assert ctx["ti"].xcoms[LEFTOVER_ROOMS_KEY] == left.to_payload()  # for the next run

    cekura_sandbox.clear_faults()
    before = cekura_sandbox.count("POST", "DeleteRoom", server="livekit")
    _op().execute(make_context(FakeTI(try_number=2), store))
    deleted = cekura_sandbox.count("POST", "DeleteRoom", server="livekit") - before
    assert deleted == 2 + 2  # the two leftovers first, then this try's own two rooms
    assert store.data[LEFTOVER_ROOMS_KEY]["rooms"] == []
    assert cekura_sandbox.livekit_rooms == {}


def test_the_next_run_deletes_rooms_an_earlier_run_left(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    hook = LiveKitHook()
    hook.create_rooms([RoomSpec("cekura-old-r000", 86_400), RoomSpec("cekura-old-r001", 86_400)])
    earlier = LeftoverRooms("livekit_default", ("cekura-old-r000", "cekura-old-r001")).to_payload()
    ti = PriorRunsTI(run_id="scheduled__2026-01-02", prior={LEFTOVER_ROOMS_KEY: earlier})
    ctx = make_context(ti, MemoryStateStore())
    _op(wait_for_completion=False).execute(ctx)
    assert "cekura-old-r000" not in cekura_sandbox.livekit_rooms
    assert "cekura-old-r001" not in cekura_sandbox.livekit_rooms
    # An empty record shadows the old one, so later runs stop deleting what is gone.
    assert ctx["ti"].xcoms[LEFTOVER_ROOMS_KEY] == {"livekit_conn_id": "livekit_default", "rooms": []}


def test_delete_leftover_rooms_reports_what_is_still_left(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    LiveKitHook().create_rooms([RoomSpec("x1", 86_400)])
    cekura_sandbox.inject_fault(path_contains="DeleteRoom", kind="500", times=1000, server="livekit")
    assert delete_leftover_rooms(LeftoverRooms("livekit_default", ("x1",))) == ["x1"]
    cekura_sandbox.clear_faults()
    assert delete_leftover_rooms(LeftoverRooms("livekit_default", ("x1", "gone"))) == []
    assert "x1" not in cekura_sandbox.livekit_rooms


def test_ledger_without_a_state_store_still_uses_xcom() -> None:
    ti = FakeTI()
    ledger = LeftoverLedger(ti, StateStore(None))
    ledger.remember(LeftoverRooms("lk", ("a",)))
    assert ti.xcoms[LEFTOVER_ROOMS_KEY] == {"livekit_conn_id": "lk", "rooms": ["a"]}
