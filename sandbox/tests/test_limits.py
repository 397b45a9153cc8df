"""The limits real teams hit, in the stand-ins: LiveKit agent workers and capacity, livekit-server's room and auth
rules, and Cekura's plan limits — each checked against its source, cited per test."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time

import httpx
import pytest
from livekit import api

from cekura_sandbox import Sandbox
from cekura_sandbox.limits import INSUFFICIENT_BALANCE, PERMISSION_DENIED, RateLimit, insufficient_balance
from cekura_sandbox.livekit_state import LiveKitState

V1 = "/test_framework/v1/scenarios-external/run_scenarios_livekit/"
V2 = "/test_framework/v1/scenarios-external/run_scenarios_livekit_v2/"
TERMINAL = {"completed", "failed", "timeout", "cancelled"}


def _lk(sb: Sandbox) -> api.LiveKitAPI:
    return api.LiveKitAPI(sb.livekit_url, sb.livekit_api_key, sb.livekit_api_secret)


def _token(sb: Sandbox, room: str, identity: str = "cekura-tester") -> str:
    return (
        api.AccessToken(sb.livekit_api_key, sb.livekit_api_secret)
        .with_identity(identity)
        .with_ttl(dt.timedelta(hours=1))
        .with_grants(api.VideoGrants(room_join=True, room=room))
        .to_jwt()
    )


def _cekura(sb: Sandbox) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=sb.cekura_url, headers={"X-CEKURA-API-KEY": sb.api_key})


async def _wait(sb: Sandbox, result_id: int, timeout: float = 30.0) -> dict:
    async with _cekura(sb) as client:
        for _ in range(int(timeout / 0.1)):
            result = (await client.get(f"/test_framework/v1/results/{result_id}/")).json()
            if result["status"] in TERMINAL:
                return result
            await asyncio.sleep(0.1)
    raise AssertionError(f"result {result_id} did not finish")


# ---- LiveKit: agent workers -------------------------------------------------------------------------
async def test_dispatch_of_a_name_no_worker_serves_is_accepted_with_no_job(cekura_sandbox: Sandbox) -> None:
    """pkg/agent/client.go `LaunchJob`: no worker registered the name → "not dispatching agent job since no
    worker is available", the dispatch stays, its `state.jobs` empty; a served name gets a running job."""
    async with _lk(cekura_sandbox) as lk:
        await lk.room.create_room(api.CreateRoomRequest(name="typo"))
        typo = await lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name="acme-suport", room="typo")
        )
        assert typo.id.startswith("AD_")  # accepted like any other
        found = await lk.agent_dispatch.list_dispatch("typo")
        assert [d.agent_name for d in found] == ["acme-suport"]
        assert list(found[0].state.jobs) == []
        served = await lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name="acme-support", room="typo")
        )
        jobs = next(d.state.jobs for d in await lk.agent_dispatch.list_dispatch("typo") if d.id == served.id)
        assert [j.state.status for j in jobs] == [api.JobStatus.JS_RUNNING]
        assert jobs[0].agent_name == "acme-support"
    assert cekura_sandbox.livekit.unserved[0][:2] == ("acme-suport", "typo")


async def test_byo_run_whose_agent_no_worker_serves_ends_main_agent_did_not_answer(
    cekura_sandbox: Sandbox,
) -> None:
    """The product's symptom: the dispatch succeeds, the tester joins, nobody answers (Cekura's
    `Main agent-did-not-answer`, documentation/advanced/call-end-reasons.mdx)."""
    async with _lk(cekura_sandbox) as lk:
        await lk.room.create_room(api.CreateRoomRequest(name="byo-typo", empty_timeout=3600))
        body = {
            "scenarios": [
                {
                    "scenario": 2001,
                    "livekit_room_url": cekura_sandbox.livekit_ws_url,
                    "access_token": _token(cekura_sandbox, "byo-typo"),
                }
            ]
        }
        async with _cekura(cekura_sandbox) as client:
            submitted = (await client.post(V1, json=body)).json()
        run_id = submitted["runs"][0]["id"]
        await lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(
                agent_name="acme-suport", room="byo-typo", metadata=json.dumps({"run_id": run_id})
            )
        )
    result = await _wait(cekura_sandbox, submitted["id"])
    run = result["runs"][str(run_id)]
    assert run["status"] == "failed"
    assert run["metadata"]["ended_reason"] == "Main agent-did-not-answer"


async def test_worker_job_slots_cap_running_jobs_and_free_when_the_room_goes(cekura_sandbox: Sandbox) -> None:
    """pkg/service/agentservice.go `JobRequest` → `selectWorkerWeightedByLoad`: no worker with capacity →
    ResourceExhausted, which `LaunchJob` only logs: the overflow dispatch never gets a job, even later."""
    cekura_sandbox.livekit.register_worker("acme-support", slots=2)
    async with _lk(cekura_sandbox) as lk:
        for i in range(3):
            await lk.agent_dispatch.create_dispatch(
                api.CreateAgentDispatchRequest(agent_name="acme-support", room=f"cap-{i}")
            )
        jobs = [len((await lk.agent_dispatch.list_dispatch(f"cap-{i}"))[0].state.jobs) for i in range(3)]
        assert jobs == [1, 1, 0]
        assert cekura_sandbox.livekit.unserved[-1][2] == "no workers with sufficient capacity"
        await lk.room.delete_room(api.DeleteRoomRequest(room="cap-0"))  # its job ends: a slot frees
        assert len((await lk.agent_dispatch.list_dispatch("cap-2"))[0].state.jobs) == 0  # never retried
        await lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name="acme-support", room="cap-3")
        )
        assert len((await lk.agent_dispatch.list_dispatch("cap-3"))[0].state.jobs) == 1
    assert cekura_sandbox.livekit.running_jobs("acme-support") == 2


def test_stopped_worker_serves_no_new_dispatch() -> None:
    state = LiveKitState()
    assert state.create_dispatch("anything", "r0").job_id  # a bare state serves every name
    state.register_worker("agent-a")
    state.stop_worker("agent-a")
    assert state.create_dispatch("agent-a", "r1").job_id == ""
    assert not state.has_agent("r1")
    assert state.has_dispatch("r1")


# ---- LiveKit: room lifetime ----------------------------------------------------------------------------
def _clocked() -> tuple[LiveKitState, list[dt.datetime]]:
    now = [dt.datetime(2026, 1, 1, tzinfo=dt.UTC)]
    return LiveKitState(lambda: now[0]), now


def test_departure_timeout_counts_from_the_last_participant_of_any_kind() -> None:
    """pkg/rtc/room.go `CloseIfEmpty` uses `LastLeftAt()`, which `RemoveParticipant` stamps for every
    participant, agents included, once a non-agent joined (`FirstJoinedAt() > 0`)."""
    state, now = _clocked()
    start = now[0]
    state.create_room("r", empty_timeout=600, departure_timeout=20)
    dispatch = state.create_dispatch("agent", "r")
    state.join("r", "tester", start, leaves_at=start + dt.timedelta(seconds=10))
    now[0] = start + dt.timedelta(seconds=25)
    state.delete_dispatch("r", dispatch.id)  # the agent leaves 15 s after the tester
    now[0] = start + dt.timedelta(seconds=40)  # 30 s after the tester, 15 s after the agent: still open
    assert state.has_room("r")
    now[0] = start + dt.timedelta(seconds=46)  # 21 s after the agent left
    assert not state.has_room("r")
    assert state.closed_rooms == [("r", "departure_timeout")]


async def test_create_room_honours_departure_timeout(cekura_sandbox: Sandbox) -> None:
    """livekit protocol `CreateRoomRequest.departure_timeout`; 0 takes the server default (room.go NewRoom)."""
    async with _lk(cekura_sandbox) as lk:
        room = await lk.room.create_room(api.CreateRoomRequest(name="dep", departure_timeout=90))
        default = await lk.room.create_room(api.CreateRoomRequest(name="dep-default"))
    assert room.departure_timeout == 90
    assert default.departure_timeout == 20
    assert cekura_sandbox.livekit.rooms["dep"].departure_timeout == 90


# ---- LiveKit: limits and auth --------------------------------------------------------------------------
async def test_room_name_and_metadata_limits(cekura_sandbox: Sandbox) -> None:
    """pkg/config/config.go defaults `max_room_name_length: 256`, `max_metadata_size: 512 KiB`;
    roomservice.go / agent_dispatch_service.go answer `invalid_argument` beyond them."""
    async with _lk(cekura_sandbox) as lk:
        await lk.room.create_room(api.CreateRoomRequest(name="n" * 256, metadata="m" * 512 * 1024))
        with pytest.raises(api.TwirpError) as long_name:
            await lk.room.create_room(api.CreateRoomRequest(name="n" * 257))
        with pytest.raises(api.TwirpError) as big_meta:
            await lk.room.create_room(api.CreateRoomRequest(name="big", metadata="m" * (512 * 1024 + 1)))
        with pytest.raises(api.TwirpError) as big_job:
            await lk.agent_dispatch.create_dispatch(
                api.CreateAgentDispatchRequest(agent_name="a", room="big", metadata="m" * (512 * 1024 + 1))
            )
    assert (long_name.value.status, long_name.value.code) == (400, "invalid_argument")
    assert "room name length exceeds limits" in long_name.value.message
    for exc in (big_meta.value, big_job.value):
        assert (exc.status, exc.code) == (400, "invalid_argument")
        assert "metadata size exceeds limits" in exc.message


def _signed(sb: Sandbox, **claims: object) -> str:
    import jwt

    base = {
        "iss": sb.livekit_api_key,
        "sub": "ops",
        "video": {"roomList": True},
        "exp": int(time.time()) + 600,
    }
    return jwt.encode({**base, **claims}, sb.livekit_api_secret, algorithm="HS256")


async def test_authorization_header_must_start_with_bearer(cekura_sandbox: Sandbox) -> None:
    """pkg/service/auth.go: a non-empty header without the case-sensitive `Bearer ` prefix gets a plain-text
    401 ("invalid authorization header. Must start with Bearer "), not a Twirp JSON error."""
    url = cekura_sandbox.livekit_url + "/twirp/livekit.RoomService/ListRooms"
    good = _signed(cekura_sandbox)
    async with httpx.AsyncClient() as client:
        headers = {"Content-Type": "application/json"}
        ok = await client.post(url, content=b"{}", headers={**headers, "Authorization": f"Bearer {good}"})
        for value in (good, f"Token {good}", f"bearer {good}"):
            bad = await client.post(url, content=b"{}", headers={**headers, "Authorization": value})
            assert bad.status_code == 401
            assert bad.headers["content-type"].startswith("text/plain")
            assert bad.text == "invalid authorization header. Must start with Bearer "
    assert ok.status_code == 200


async def test_token_nbf_has_the_servers_leeway(cekura_sandbox: Sandbox) -> None:
    """livekit protocol auth `APIKeyTokenVerifier.Verify` → go-jose `Validate` with its one-minute
    `DefaultLeeway`: a token not valid for 30 s more passes, one for 2 minutes more is a plain-text 401."""
    url = cekura_sandbox.livekit_url + "/twirp/livekit.RoomService/ListRooms"
    now = int(time.time())
    async with httpx.AsyncClient(headers={"Content-Type": "application/json"}) as client:
        soon = _signed(cekura_sandbox, nbf=now + 30)
        later = _signed(cekura_sandbox, nbf=now + 120)
        ok = await client.post(url, content=b"{}", headers={"Authorization": f"Bearer {soon}"})
        bad = await client.post(url, content=b"{}", headers={"Authorization": f"Bearer {later}"})
    assert ok.status_code == 200
    assert bad.status_code == 401
    assert bad.headers["content-type"].startswith("text/plain")


# ---- Cekura: plan limits -------------------------------------------------------------------------------
async def test_rate_limit_answers_429_with_retry_after(cekura_sandbox: Sandbox) -> None:
    """cli-sdk/sdk.mdx "Rate limited (429)": per-plan rate limits; DRF's throttled body and Retry-After."""
    cekura_sandbox.store.limits.rate = RateLimit(requests=5, window=60)
    async with _cekura(cekura_sandbox) as client:
        answers = [await client.get("/test_framework/v1/results/") for _ in range(7)]
        control = await client.get("/_sandbox/limits")  # sandbox controls are never throttled
    assert [r.status_code for r in answers] == [200] * 5 + [429] * 2
    refused = answers[-1]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["detail"].startswith("Request was throttled. Expected available in")
    assert control.status_code == 200
    assert control.json()["rate"] == {"requests": 5, "window": 60.0}


async def test_rate_limit_off_by_default_and_set_by_the_control_endpoint(cekura_sandbox: Sandbox) -> None:
    async with _cekura(cekura_sandbox) as client:
        statuses = [(await client.get("/test_framework/v1/results/")).status_code for _ in range(50)]
        assert statuses == [200] * 50
        await client.post("/_sandbox/limits", json={"rate": {"requests": 1, "window": 30}})
        assert (await client.get("/test_framework/v1/results/")).status_code == 200
        assert (await client.get("/test_framework/v1/results/")).status_code == 429


async def test_project_scoped_key_cannot_use_another_projects_agent(cekura_sandbox: Sandbox) -> None:
    """documentation/advanced/enterprise-setup.mdx: Project API keys "cannot access other projects": a submit
    for another project's agent is DRF's 403; its objects are invisible (404)."""
    async with _cekura(cekura_sandbox) as client:
        mine = (await client.post(V2, json={"scenarios": [{"scenario": 2001}], "agent": 101})).json()
        cekura_sandbox.store.limits.key_projects[cekura_sandbox.api_key] = {12}
        refused = await client.post(V2, json={"scenarios": [{"scenario": 2001}], "agent": 101})
        hidden = await client.get(f"/test_framework/v1/results/{mine['id']}/")
        agent = await client.get("/test_framework/v2/aiagents/101/")
    assert refused.status_code == 403
    assert refused.json() == {"detail": PERMISSION_DENIED}
    assert hidden.status_code == 404
    assert agent.status_code == 404
    assert len(cekura_sandbox.store.results) == 1  # nothing created by the refused submit


async def test_managed_submit_for_an_agent_without_livekit_credentials(cekura_sandbox: Sandbox) -> None:
    """api-reference/test_framework/run-evaluator-livekit-v2.mdx: "Requires LiveKit credentials configured on
    the agent or project"; the error body follows the sibling Agora endpoint's ({"agent": [...]}, 400)."""
    cekura_sandbox.store.limits.agents_without_livekit.add(101)
    async with _cekura(cekura_sandbox) as client:
        managed = await client.post(V2, json={"scenarios": [{"scenario": 2001}], "agent": 101})
        other = await client.post(V2, json={"scenarios": [{"scenario": 2101}], "agent": 102})
    assert managed.status_code == 400
    assert "LiveKit credentials" in managed.json()["agent"][0]
    assert other.status_code == 200


async def test_billing_guard_refuses_with_insufficient_balance(cekura_sandbox: Sandbox) -> None:
    """documentation/integrations/agora.mdx "Insufficient balance": `{"detail": "Insufficient balance for this
    operation"}` (402 inferred). The billing model plugs in as a submit guard; nothing is created."""
    seen: list[tuple[int, int]] = []

    def guard(agent_id: int, runs: int) -> None:
        seen.append((agent_id, runs))
        if runs > 2:
            raise insufficient_balance()

    cekura_sandbox.store.limits.submit_guards.append(guard)
    async with _cekura(cekura_sandbox) as client:
        small = await client.post(V2, json={"scenarios": [{"scenario": 2001}], "agent": 101, "frequency": 2})
        big = await client.post(V2, json={"scenarios": [{"scenario": 2001}], "agent": 101, "frequency": 3})
    assert small.status_code == 200
    assert big.status_code == 402
    assert big.json() == {"detail": INSUFFICIENT_BALANCE}
    assert seen == [(101, 2), (101, 3)]
    assert len(cekura_sandbox.store.results) == 1
