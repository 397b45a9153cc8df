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
