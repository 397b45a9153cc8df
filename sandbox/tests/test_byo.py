"""Bring-your-own rooms (v1): join tokens minted by `livekit.api.AccessToken` are really verified."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import httpx
from livekit import api

from cekura_sandbox import Sandbox

V1 = "/test_framework/v1/scenarios-external/run_scenarios_livekit/"


def _token(
    sb: Sandbox, room: str, *, secret: str | None = None, ttl: dt.timedelta = dt.timedelta(minutes=10)
) -> str:
    return (
        api.AccessToken(sb.livekit_api_key, secret or sb.livekit_api_secret)
        .with_identity("cekura-tester")
        .with_ttl(ttl)
        .with_grants(api.VideoGrants(room_join=True, room=room))
        .to_jwt()
    )


async def _wait(sb: Sandbox, result_id: int, timeout: float = 15.0) -> dict:
    headers = {"X-CEKURA-API-KEY": sb.api_key}
    async with httpx.AsyncClient(base_url=sb.cekura_url, headers=headers) as client:
        for _ in range(int(timeout / 0.1)):
            result = (await client.get(f"/test_framework/v1/results/{result_id}/")).json()
            if result["status"] in {"completed", "failed", "timeout", "cancelled"}:
                return result
            await asyncio.sleep(0.1)
    raise AssertionError(f"result {result_id} did not finish")


async def test_v1_tokens_verified_per_run(cekura_sandbox: Sandbox) -> None:
    rooms = [f"byo-room-{i}" for i in range(5)]
    async with api.LiveKitAPI(
        cekura_sandbox.livekit_url, cekura_sandbox.livekit_api_key, cekura_sandbox.livekit_api_secret
    ) as lk:
        for room in rooms:
            await lk.room.create_room(api.CreateRoomRequest(name=room, empty_timeout=120, max_participants=2))
        tokens = [
            _token(cekura_sandbox, rooms[0]),
            _token(cekura_sandbox, rooms[1]),
            _token(cekura_sandbox, rooms[2], secret="w" * 40),  # wrong secret
            _token(cekura_sandbox, rooms[3], ttl=dt.timedelta(minutes=-5)),  # expired
            _token(cekura_sandbox, "no-such-room"),  # joins a fresh auto-created room: no agent there
        ]
        body = {
            "scenarios": [
                {"scenario": 2005, "livekit_room_url": cekura_sandbox.livekit_ws_url, "access_token": t}
                for t in tokens
            ],
            "name": "byo-batch",
        }
        async with httpx.AsyncClient(headers={"X-CEKURA-API-KEY": cekura_sandbox.api_key}) as client:
            resp = await client.post(cekura_sandbox.cekura_url + V1, json=body)
        assert resp.status_code == 200, resp.text
        submitted = resp.json()
        for run, room in zip(submitted["runs"], rooms, strict=True):
            meta = json.dumps({"scenario_id": run["scenario"], "run_id": run["id"]})
            await lk.agent_dispatch.create_dispatch(
                api.CreateAgentDispatchRequest(agent_name="acme-support", room=room, metadata=meta)
            )
    result = await _wait(cekura_sandbox, submitted["id"])
    runs = [result["runs"][str(r["id"])] for r in submitted["runs"]]
    for good in runs[:2]:
        assert good["status"] in {"completed", "timeout"}, good
        assert not good["error_message"].startswith("Failed to connect")
    for bad, why in zip(runs[2:4], ("signature", "expired"), strict=True):
        assert bad["status"] == "failed", bad
        assert bad["error_message"].startswith("Failed to connect to LiveKit room:"), bad["error_message"]
        assert why in bad["error_message"]
        assert bad["metadata"]["ended_reason"] == "Testing agent-did-not-connect"
        assert tokens[0] not in json.dumps(bad)
    # A valid token for a room that does not exist: LiveKit auto-creates it, empty; nobody answers.
    assert runs[4]["status"] == "failed"
    assert runs[4]["metadata"]["ended_reason"] == "Main agent-did-not-answer"
    assert "no-such-room" in cekura_sandbox.livekit_rooms or (
        ("no-such-room", "departure_timeout") in cekura_sandbox.livekit_closed_rooms
    )
    assert result["status"] == "completed"
    assert result["failed_infrastructure_runs"] == 3


async def test_v1_agent_never_dispatched_fails_run() -> None:
    with Sandbox(seed=3, speed=600.0, agent_join_timeout=0.5) as sb:
        async with api.LiveKitAPI(sb.livekit_url, sb.livekit_api_key, sb.livekit_api_secret) as lk:
            await lk.room.create_room(api.CreateRoomRequest(name="lonely"))
            await lk.room.create_room(api.CreateRoomRequest(name="late"))
        body = {
            "scenarios": [
                {
                    "scenario": 2101,
                    "livekit_room_url": sb.livekit_ws_url,
                    "access_token": _token(sb, "lonely"),
                },
                {"scenario": 2101, "livekit_room_url": sb.livekit_ws_url, "access_token": _token(sb, "late")},
            ]
        }
        async with httpx.AsyncClient(headers={"X-CEKURA-API-KEY": sb.api_key}) as client:
            submitted = (await client.post(sb.cekura_url + V1, json=body)).json()
        await asyncio.sleep(0.15)  # the call has started (simulated); the agent for "late" comes now
        async with api.LiveKitAPI(sb.livekit_url, sb.livekit_api_key, sb.livekit_api_secret) as lk:
            await lk.agent_dispatch.create_dispatch(
                api.CreateAgentDispatchRequest(agent_name="acme-bookings", room="late")
            )
        result = await _wait(sb, submitted["id"])
        lonely, late = (result["runs"][str(r["id"])] for r in submitted["runs"])
        assert lonely["status"] == "failed"
        assert lonely["metadata"]["ended_reason"] == "Main agent-did-not-answer"
        assert "did not answer" in lonely["error_message"]
        assert late["status"] != "failed", late
