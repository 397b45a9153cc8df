"""200 concurrent polling clients get answers without errors."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from cekura_sandbox import Sandbox

V2 = "/test_framework/v1/scenarios-external/run_scenarios_livekit_v2/"


async def test_200_concurrent_pollers(cekura_sandbox: Sandbox) -> None:
    headers = {"X-CEKURA-API-KEY": cekura_sandbox.api_key}
    limits = httpx.Limits(max_connections=250)
    async with httpx.AsyncClient(
        base_url=cekura_sandbox.cekura_url, headers=headers, timeout=60, limits=limits
    ) as c:
        submitted = (
            await c.post(V2, json={"scenarios": [{"scenario": 2001}, {"scenario": 2003}], "frequency": 10})
        ).json()
        rid = submitted["id"]
        ids = ",".join(str(r["id"]) for r in submitted["runs"])

        async def poller(i: int) -> list[int]:
            codes = []
            for j in range(3):
                if (i + j) % 2:
                    resp = await c.get(f"/test_framework/v1/results/{rid}/")
                    assert len(resp.json()["runs"]) == 20
                else:
                    resp = await c.get("/test_framework/v1/runs/bulk/", params={"run_ids": ids})
                    assert len(resp.json()) == 20
                codes.append(resp.status_code)
            return codes

        results = await asyncio.gather(*(poller(i) for i in range(200)))
    assert all(code == 200 for codes in results for code in codes)
    assert cekura_sandbox.count("GET") == 600


def test_room_expiry_looks_only_at_rooms_whose_moment_has_come(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each access once examined every open room (a 500-batch submit spent 97% of its time there). Counted,
    not timed: with 2,000 rooms open, another create examines none of them, and expiry still closes each room
    on time — the agent-only ones at their empty timeout, the called one after its caller left."""
    from datetime import UTC, datetime, timedelta

    from cekura_sandbox.livekit_state import LiveKitState, RoomInfo

    clock = [datetime(2026, 1, 1, tzinfo=UTC)]
    state = LiveKitState(now=lambda: clock[0])
    for i in range(2000):
        state.create_room(f"room-{i}", empty_timeout=600)
    state.join(
        "room-7", "tester", clock[0] + timedelta(seconds=10), leaves_at=clock[0] + timedelta(seconds=900)
    )
    examined: set[str] = set()
    original = RoomInfo.closes_at

    def counting(self: RoomInfo, now: datetime) -> datetime | None:
        examined.add(self.name)
        return original(self, now)

    monkeypatch.setattr(RoomInfo, "closes_at", counting)
    clock[0] += timedelta(seconds=300)
    state.create_room("one-more", empty_timeout=600)  # closes at 900 s
    assert examined == {"room-7", "one-more"}  # the room whose arrival (10 s) came, the new one: not 2,000
    clock[0] += timedelta(seconds=301)
    state.expire()
    assert set(state.rooms) == {"room-7", "one-more"}  # the other 1,999 closed at 600 s
    assert len(state.closed_rooms) == 1999
    clock[0] += timedelta(seconds=920 - 601)  # the caller left at 900 s; departure timeout 20 s
    state.expire()
    assert ("room-7", "departure_timeout") in state.closed_rooms
    assert ("one-more", "empty_timeout") in state.closed_rooms
    assert state.rooms == {}
