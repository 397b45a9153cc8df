"""The real `livekit-api` client against the LiveKit stand-in, and Cekura's rooms on it."""

from __future__ import annotations

import json

import aiohttp
import httpx
import pytest
from livekit import api

from cekura_sandbox import Sandbox


async def test_rooms_and_dispatch_with_real_client(cekura_sandbox: Sandbox) -> None:
    async with api.LiveKitAPI(
        cekura_sandbox.livekit_url, cekura_sandbox.livekit_api_key, cekura_sandbox.livekit_api_secret
    ) as lk:
        room = await lk.room.create_room(
            api.CreateRoomRequest(name="byo-1", empty_timeout=60, max_participants=3, metadata='{"cfg": 1}')
        )
        assert room.sid.startswith("RM_")
        assert room.name == "byo-1"
        assert room.metadata == '{"cfg": 1}'
        again = await lk.room.create_room(api.CreateRoomRequest(name="byo-1"))
        assert again.sid == room.sid  # idempotent, like the real server
        await lk.room.create_room(api.CreateRoomRequest(name="byo-2"))
        listed = await lk.room.list_rooms(api.ListRoomsRequest(names=["byo-1"]))
        assert [r.name for r in listed.rooms] == ["byo-1"]
        assert {r.name for r in (await lk.room.list_rooms(api.ListRoomsRequest())).rooms} == {
            "byo-1",
            "byo-2",
        }

        meta = {"scenario_id": 2001, "run_id": 1001, "test_profile_data": {"id": 301}}
        dispatch = await lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name="acme-support", room="byo-1", metadata=json.dumps(meta))
        )
        assert dispatch.id.startswith("AD_")
        found = await lk.agent_dispatch.list_dispatch("byo-1")
        assert [json.loads(d.metadata) for d in found] == [meta]
        assert cekura_sandbox.livekit_dispatches[0]["metadata"] == meta
        await lk.agent_dispatch.delete_dispatch(dispatch.id, "byo-1")
        assert await lk.agent_dispatch.list_dispatch("byo-1") == []

        await lk.room.delete_room(api.DeleteRoomRequest(room="byo-1"))
        with pytest.raises(api.TwirpError) as missing:
            await lk.room.delete_room(api.DeleteRoomRequest(room="byo-1"))
        assert missing.value.status == 404
        assert missing.value.code == "not_found"
    assert cekura_sandbox.livekit_deleted_rooms == ["byo-1"]
    assert set(cekura_sandbox.livekit_rooms) == {"byo-2"}


async def test_wrong_secret_is_401(cekura_sandbox: Sandbox) -> None:
    async with api.LiveKitAPI(cekura_sandbox.livekit_url, cekura_sandbox.livekit_api_key, "x" * 40) as lk:
        with pytest.raises(api.TwirpError) as err:
            await lk.room.list_rooms(api.ListRoomsRequest())
    assert err.value.status == 401
    # A token that does not verify is refused by the auth middleware with a plain-text body: the client
    # cannot parse a Twirp error out of it and reports `unknown` with the HTTP status.
    assert err.value.code == "unknown"
    assert cekura_sandbox.livekit_rooms == {}


async def test_grants_are_checked(cekura_sandbox: Sandbox) -> None:
    """A token without the grant a method needs is refused, as on the real server."""
    url = f"{cekura_sandbox.livekit_url}/twirp/livekit.RoomService/CreateRoom"
    weak = api.AccessToken(cekura_sandbox.livekit_api_key, cekura_sandbox.livekit_api_secret).with_grants(
        api.VideoGrants(room_list=True)
    )
    body = api.CreateRoomRequest(name="nope").SerializeToString()
    headers = {"Authorization": f"Bearer {weak.to_jwt()}", "Content-Type": "application/protobuf"}
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as resp:
        # livekit-server answers permission problems with `unauthenticated` / 401, not 403.
        assert resp.status == 401
        assert await resp.json() == {"code": "unauthenticated", "msg": "permissions denied"}
    other_room = api.AccessToken(
        cekura_sandbox.livekit_api_key, cekura_sandbox.livekit_api_secret
    ).with_grants(api.VideoGrants(room_admin=True, room="room-a"))
    req = api.CreateAgentDispatchRequest(agent_name="a", room="room-b").SerializeToString()
    headers["Authorization"] = f"Bearer {other_room.to_jwt()}"
    dispatch_url = f"{cekura_sandbox.livekit_url}/twirp/livekit.AgentDispatchService/CreateDispatch"
    async with (
        aiohttp.ClientSession() as session,
        session.post(dispatch_url, data=req, headers=headers) as resp,
    ):
        assert resp.status == 401
        assert (await resp.json())["code"] == "unauthenticated"
    # No token at all: the middleware lets it through without grants; the method then denies permission.
    proto = {"Content-Type": "application/protobuf"}
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=proto) as resp:
        assert resp.status == 401
        assert await resp.json() == {"code": "unauthenticated", "msg": "permissions denied"}
    assert cekura_sandbox.livekit_rooms == {}


def test_managed_v2_creates_rooms_and_dispatches(cekura_sandbox: Sandbox) -> None:
    h = {"X-CEKURA-API-KEY": cekura_sandbox.api_key}
    body = {
        "scenarios": [{"scenario": 2001}, {"scenario": 2002}],
        "agent": 101,
        "test_profile_ids": [301],
        "livekit_data": {"agent_name": "acme-support-canary", "config": {"voice": "nova"}},
    }
    r = httpx.post(
        f"{cekura_sandbox.cekura_url}/test_framework/v1/scenarios-external/run_scenarios_livekit_v2/",
        json=body,
        headers=h,
    )
    assert r.status_code == 200, r.text
    runs = r.json()["runs"]
    # Flat: the profile's values, as in Cekura's documents and the SDK.
    assert all(run["test_profile_data"] == {"tier": "gold", "account_id": "A-1001"} for run in runs)
    dispatches = cekura_sandbox.livekit_dispatches
    assert len(dispatches) == 2
    assert {d["agent_name"] for d in dispatches} == {"acme-support-canary"}
    for run, dispatch in zip(runs, dispatches, strict=True):
        assert dispatch["metadata"] == {
            "scenario_id": run["scenario"],
            "run_id": run["id"],
            "test_profile_data": {"tier": "gold", "account_id": "A-1001"},
        }
        assert json.loads(cekura_sandbox.livekit_rooms[dispatch["room"]]["metadata"]) == {"voice": "nova"}

    plain = httpx.post(
        f"{cekura_sandbox.cekura_url}/test_framework/v1/scenarios/run_scenarios_livekit_v2",
        json={"scenarios": [{"scenario": 2101}]},
        headers=h,
    )
    assert plain.status_code == 200
    last = cekura_sandbox.livekit_dispatches[-1]
    assert last["agent_name"] == "acme-bookings"
    assert "test_profile_data" not in last["metadata"]
    assert json.loads(cekura_sandbox.livekit_rooms[last["room"]]["metadata"])["voice"] == "verse"
