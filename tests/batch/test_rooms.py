"""Room and token lifetimes cover the wait (issue 10), and the agent gets flat test_profile_data."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

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


# ---- issue 21.7: the deployment in every room name --------------------------------------------------------
def test_deployment_id_explicit_derived_and_validated() -> None:
    import pytest

    from cekura_livekit.batch.identity import deployment_id

    assert deployment_id({"CEKURA_DEPLOYMENT_ID": "staging"}) == "staging"
    prod = deployment_id({"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://a:pw@prod-db/airflow"})
    stage = deployment_id({"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://a:pw@stage-db/airflow"})
    assert prod != stage
    assert len(prod) == 6
    assert "pw" not in prod  # only a digest of the URL leaves the process
    with pytest.raises(ValueError, match=r"CEKURA_DEPLOYMENT_ID='Prod EU'.*lower-case"):
        deployment_id({"CEKURA_DEPLOYMENT_ID": "Prod EU"})


def test_two_deployments_never_share_a_room_and_names_stay_within_livekits_limit() -> None:
    """Before: names came from dag/task/run/attempt only, so staging and production running the same DAG run
    dispatched into the same room of a shared LiveKit project."""
    from cekura_livekit.batch.identity import TaskIdentity
    from cekura_livekit.batch.rooms import MAX_ROOM_NAME_LENGTH, room_name

    ident = TaskIdentity("d" * 250, "t" * 250, "scheduled__2026-01-01T00:00:00+00:00", map_index=999)
    staging = room_name(ident, 1, 0, "staging")
    production = room_name(ident, 1, 0, "production")
    assert staging != production
    assert staging.startswith("cekura-staging-")
    assert len(room_name(ident, 99, 999, "a" * 16)) < 90 < MAX_ROOM_NAME_LENGTH


# ---- issue 21.6: agents in flight capped by the workers' job slots ----------------------------------------
def _capped_batch(
    sb: Any, monkeypatch: Any, *, agent_slots: int | None, runs: int = 50, parallel: int = 5
) -> dict[str, Any]:
    """Submit a `runs`-run own-room batch against a worker with 5 job slots and Cekura running 5 at a time,
    poll like the wait loop does (`refill` each poll) and report what happened."""
    import json
    import time as clock

    import httpx

    from cekura_livekit.batch.identity import TaskIdentity
    from cekura_livekit.batch.rooms import ByoRooms, RoomSession, plan_slots
    from cekura_livekit.hooks.livekit import LiveKitHook

    extra = {} if agent_slots is None else {"agent_slots": agent_slots}
    conn = {
        "conn_type": "livekit",
        "host": sb.livekit_url,
        "login": sb.livekit_api_key,
        "password": sb.livekit_api_secret,
        "extra": extra,
    }
    monkeypatch.setenv("AIRFLOW_CONN_LIVEKIT_CAPPED", json.dumps(conn))
    sb.livekit.register_worker("acme-support", slots=5)
    sb.store.parallel_calls = parallel
    # Cekura's tester waits for the agent; on 2 shared cores a poll can stall for seconds, so give it 10 real
    # seconds (the claim here is capacity, not latency: a run that starts waits at most one poll).
    sb.store.agent_join_timeout = 10.0 if agent_slots is not None else 3.0
    rooms = ByoRooms(LiveKitHook("livekit_capped"), empty_timeout=7200, token_ttl=timedelta(hours=3))
    slots = plan_slots(TaskIdentity("d", "t", "r"), 1, [{"scenario": 2001}], runs, "test")
    session = RoomSession(rooms, slots, "acme-support", text_mode=False)
    session.create()
    headers = {"X-CEKURA-API-KEY": sb.api_key}
    with httpx.Client(base_url=sb.cekura_url, headers=headers, timeout=30) as client:
        body = {"scenarios": session.scenario_elements()}
        submitted = client.post(
            "/test_framework/v1/scenarios-external/run_scenarios_livekit/", json=body
        ).json()
        session.ensure_dispatched(submitted, fresh=True, terminal=False)
        peak, started = 0, clock.monotonic()
        while True:
            detail = client.get(f"/test_framework/v1/results/{submitted['id']}/").json()
            peak = max(peak, sb.livekit.running_jobs("acme-support"))
            if detail["status"] in {"completed", "failed", "timeout", "cancelled"}:
                break
            session.refill(detail)
            assert clock.monotonic() - started < 120, "batch did not finish"
            clock.sleep(0.05)
    reasons = [r["metadata"].get("ended_reason") for r in detail["runs"].values()]
    session.rooms.delete([s.room for s in slots])
    return {
        "no_answer": reasons.count("Main agent-did-not-answer"),
        "unserved": len(sb.livekit.unserved),
        "peak_jobs": peak,
        "seconds": clock.monotonic() - started,
    }


def test_fifty_runs_against_five_job_slots_all_get_their_agent(cekura_sandbox: Any, monkeypatch: Any) -> None:
    """With `agent_slots=5` on the LiveKit connection, the first 5 runs get their agent at submit and `refill`
    hands each freed slot to the next run in queue order: no run ends `Main agent-did-not-answer`."""
    capped = _capped_batch(cekura_sandbox, monkeypatch, agent_slots=5)
    print("capped:", capped)
    assert capped["no_answer"] == 0
    assert capped["unserved"] == 0
    assert capped["peak_jobs"] <= 5


def test_without_a_cap_the_overflow_gets_no_agent(cekura_sandbox: Any, monkeypatch: Any) -> None:
    """Today's design, measured on the same batch: every room gets its agent at submit, 5 dispatches get a
    job and the other 45 never do (LiveKit does not retry them): 45 runs end `Main agent-did-not-answer`."""
    today = _capped_batch(cekura_sandbox, monkeypatch, agent_slots=None)
    print("uncapped:", today)
    # 45 on an idle machine; under load some simulated calls end before the last dispatches arrive and
    # their freed slots serve a few more (34 and 41 seen at load average 15): most of the overflow is unserved.
    assert today["unserved"] >= 30
    assert today["no_answer"] >= today["unserved"] - 5  # the unserved fail; under load one may end otherwise


def test_refill_without_agent_slots_makes_no_livekit_call() -> None:
    import asyncio

    from cekura_livekit.batch.rooms import RoomSession
    from cekura_livekit.hooks.livekit import LiveKitCredentials

    class Hook:
        livekit_conn_id = "x"

        async def acredentials(self) -> LiveKitCredentials:
            return LiveKitCredentials("http://lk", "k", "s" * 32)

        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"unexpected LiveKit call {name}")

    class Rooms:
        hook = Hook()
        concurrency = 10

    session = RoomSession(Rooms(), [RunSlot(0, 1, "r0")], "agent", text_mode=False)  # type: ignore[arg-type]
    assert asyncio.run(session.arefill({"runs": [{"id": 1, "scenario": 1, "status": "running"}]})) == 0


def test_a_detail_without_runs_refills_nothing_and_does_not_end_the_wait() -> None:
    """A result detail that lists no runs (yet) says nothing about which calls ended. Before, it raised the
    "answered with 0 runs for N rooms" ValueError, a permanent error that ended a paid batch's wait."""
    import asyncio

    from cekura_livekit.batch.rooms import RoomSession
    from cekura_livekit.hooks.livekit import LiveKitCredentials

    class Hook:
        livekit_conn_id = "x"

        async def acredentials(self) -> LiveKitCredentials:
            return LiveKitCredentials("http://lk", "k", "s" * 32, agent_slots=1)

        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"unexpected LiveKit call {name}")

    class Rooms:
        hook = Hook()
        concurrency = 10

    session = RoomSession(Rooms(), [RunSlot(0, 1, "r0")], "agent", text_mode=False)  # type: ignore[arg-type]
    assert asyncio.run(session.arefill({"status": "pending", "runs": {}})) == 0


def test_room_session_payload_round_trip_holds_no_secret() -> None:
    from cekura_livekit.batch.rooms import ByoRooms, RoomSession
    from cekura_livekit.hooks.livekit import LiveKitHook

    session = RoomSession(
        ByoRooms(LiveKitHook("lk"), concurrency=3),
        [RunSlot(0, 2001, "r0", {"publish_data_message": 1})],
        "a",
        True,
    )
    data = session.to_payload()
    again = RoomSession.from_payload(data)
    assert (again.slots, again.agent_name, again.text_mode, again.livekit_conn_id) == (
        session.slots,
        "a",
        True,
        "lk",
    )
    assert set(data) == {"livekit_conn_id", "agent_name", "text_mode", "concurrency", "slots"}


def test_a_failed_refill_dispatch_asks_livekit_before_dispatching_again() -> None:
    """A CreateAgentDispatch batch that failed part-way may have put agents into some rooms: the next refill
    asks LiveKit (`ListDispatch`) which, instead of dispatching a second agent into them. Before, it
    dispatched into every room of the failed batch again."""
    import asyncio

    import pytest

    from cekura_livekit.batch.rooms import RoomSession
    from cekura_livekit.hooks.livekit import LiveKitCredentials, LiveKitError

    class Hook:
        livekit_conn_id = "x"

        def __init__(self) -> None:
            self.landed: set[str] = set()
            self.dispatches: list[list[str]] = []
            self.listed = 0

        async def acredentials(self) -> LiveKitCredentials:
            return LiveKitCredentials("http://lk", "k", "s" * 32, agent_slots=2)

        async def alist_dispatched_rooms(self, rooms: Any, *, concurrency: int) -> set[str]:
            self.listed += 1
            return set(self.landed)

        async def adelete_rooms(self, rooms: Any, *, concurrency: int) -> int:
            return len(rooms)

        async def adispatch_agents(self, agent: str, items: Any, *, concurrency: int) -> list[str]:
            rooms = [room for room, _ in items]
            self.dispatches.append(rooms)
            if len(self.dispatches) == 1:  # the first lands in r0 only
                self.landed.add(rooms[0])
                raise LiveKitError("CreateAgentDispatch failed for 1 of 2 rooms", failed_rooms=rooms[1:])
            self.landed.update(rooms)
            return rooms

    class Rooms:
        hook = Hook()
        concurrency = 10

    slots = [RunSlot(i, 1, f"r{i}") for i in range(3)]
    session = RoomSession(Rooms(), slots, "agent", text_mode=False, dispatched=set())  # type: ignore[arg-type]
    waiting = {"runs": [{"id": 10 + i, "scenario": 1, "status": "in_queue"} for i in range(3)]}
    with pytest.raises(LiveKitError):
        asyncio.run(session.arefill(waiting))
    assert asyncio.run(session.arefill(waiting)) == 1
    assert Rooms.hook.listed == 1
    assert Rooms.hook.dispatches == [["r0", "r1"], ["r1"]]  # r0 kept its one agent
