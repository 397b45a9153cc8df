"""Room and token lifetimes cover the wait (issue 10), and the agent gets flat test_profile_data."""

from __future__ import annotations

from datetime import timedelta

from cekura_livekit.batch.rooms import (
    LIFETIME_MARGIN,
    MAX_LIFETIME,
    RunSlot,
    flat_profile,
    job_metadata,
    room_lifetime,
)


def test_lifetime_runs_to_the_deadline_plus_margin() -> None:
    assert room_lifetime(4, deadline=10_000.0, now=1_000.0) == timedelta(seconds=9_000) + LIFETIME_MARGIN
    assert room_lifetime(4, deadline=500.0, now=1_000.0) == LIFETIME_MARGIN  # already past: margin only
    assert room_lifetime(4, deadline=1e12, now=0.0) == MAX_LIFETIME


def test_lifetime_without_deadline_grows_with_the_queue() -> None:
    small, big = room_lifetime(4, None), room_lifetime(50, None)
    assert small == timedelta(minutes=25)
    assert big == timedelta(minutes=5 * 15 + 10)  # five waves of ten parallel calls
    assert big > timedelta(seconds=300)


def test_job_metadata_flattens_a_full_run_test_profile() -> None:
    slot = RunSlot(0, 2001, "room")
    nested = {"id": 7, "test_profile_data": {"id": 301, "name": "Gold", "information": {"tier": "gold"}}}
    flat = {"id": 7, "test_profile_data": {"tier": "gold"}}
    assert job_metadata(nested, slot, text_mode=False)["test_profile_data"] == {"tier": "gold"}
    assert job_metadata(flat, slot, text_mode=False)["test_profile_data"] == {"tier": "gold"}
    assert flat_profile(None) is None


def test_a_reattach_dispatches_only_into_rooms_whose_run_still_waits() -> None:
    """Issue 24.4: after a crash between submit and dispatch, runs already over (e.g. "agent-did-not-answer")
    get no agent; runs still waiting do. A stub stands in for LiveKit: the sandbox cannot hold a batch
    half-dead long enough to observe this reliably."""
    from typing import Any

    from cekura_livekit.batch.identity import TaskIdentity
    from cekura_livekit.batch.rooms import RoomSession, plan_slots

    class Rooms:
        agent_slots = None  # no capacity cap: the uncapped re-attach path

        def __init__(self) -> None:
            self.skipped: set[str] = set()
            self.created = 0

        def create(self, slots: Any) -> None:
            self.created += 1

        def already_dispatched(self, slots: Any) -> set[str]:
            return {slots[0].room}

        def dispatch(
            self, agent: str, slots: Any, runs: Any, *, text_mode: bool, skip_rooms: set[str]
        ) -> int:
            self.skipped = skip_rooms
            return len(slots) - len(skip_rooms)

    slots = plan_slots(TaskIdentity("d", "t", "r"), 1, [{"scenario": 1}, {"scenario": 2}, {"scenario": 3}], 1)
    rooms = Rooms()
    session = RoomSession(rooms, slots, "agent", text_mode=False)  # type: ignore[arg-type]
    payload = {
        "runs": {
            "10": {"id": 10, "scenario": 1, "status": "running"},
            "11": {"id": 11, "scenario": 2, "status": "failed"},
            "12": {"id": 12, "scenario": 3, "status": "in_queue"},
        }
    }
    session.ensure_dispatched(payload, fresh=False, terminal=False)
    assert rooms.created == 1  # rooms recreated (idempotent) before dispatching
    assert rooms.skipped == {slots[0].room, slots[1].room}  # already served, and over
