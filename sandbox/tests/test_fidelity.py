"""The sandbox fails the way the real services fail (issue 10): each test here failed against the kinder
stand-in it replaced (no queue, rooms that never closed, wall-clock token expiry, `ids` alias, JSON cancel
bodies, invented end reasons, no list endpoints, a clock running into the future)."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from livekit import api

from cekura_sandbox import Sandbox
from cekura_sandbox.catalogue import load_catalogue, parse_catalogue

V1 = "/test_framework/v1/scenarios-external/run_scenarios_livekit/"
CHAT = "/test_framework/v1/scenarios-external/run_scenarios_livekit_chat/"
V2 = "/test_framework/v1/scenarios-external/run_scenarios_livekit_v2/"


def _client(sb: Sandbox) -> httpx.Client:
    return httpx.Client(base_url=sb.cekura_url, headers={"X-CEKURA-API-KEY": sb.api_key}, timeout=10)


def _token(sb: Sandbox, room: str, ttl: dt.timedelta = dt.timedelta(hours=1)) -> str:
    return (
        api.AccessToken(sb.livekit_api_key, sb.livekit_api_secret)
        .with_identity(f"tester-{room}")
        .with_ttl(ttl)
        .with_grants(api.VideoGrants(room_join=True, room=room))
        .to_jwt()
    )


def _wait_result(c: httpx.Client, rid: int, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = c.get(f"/test_framework/v1/results/{rid}/").json()
        if result["status"] in {"completed", "failed", "timeout", "cancelled"}:
            return result
        time.sleep(0.05)
    raise AssertionError(f"result {rid} not terminal")


# ---- the organisation's parallel-call limit --------------------------------------------------------------
def test_big_batch_queues_behind_the_parallel_call_limit() -> None:
    with Sandbox(seed=7, speed=600.0) as sb, _client(sb) as c:
        assert sb.store.parallel_calls == 10  # the default
        sub = c.post(V2, json={"scenarios": [{"scenario": 2001}], "frequency": 50, "agent": 101}).json()
        time.sleep(0.1)  # ~1 simulated minute: at most 10 calls may have started
        runs = c.get(f"/test_framework/v1/results/{sub['id']}/").json()["runs"].values()
        statuses = Counter(r["status"] for r in runs)
        assert statuses["pending"] + statuses["in_queue"] >= 35, statuses
        result = _wait_result(c, sub["id"], timeout=30)
        started = sorted(dt.datetime.fromisoformat(r["executed_at"]) for r in result["runs"].values())
        created = dt.datetime.fromisoformat(result["created_at"])
        # Five waves of calls of 40–110 s: the last call starts many minutes after submit.
        assert (started[-1] - created).total_seconds() > 4 * 60


def test_parallel_call_limit_from_flag_catalogue_and_agent(tmp_path: Path) -> None:
    data = copy.deepcopy(_default_catalogue_data())
    data["organisation"] = {"parallel_call_limit": 3}
    data["agents"][1]["parallel_call_limit"] = 1
    catalogue = parse_catalogue(data)
    assert catalogue.parallel_call_limit == 3
    with Sandbox(speed=600.0, catalogue=catalogue) as sb, _client(sb) as c:
        assert sb.store.parallel_calls == 3
        a = c.post(V2, json={"scenarios": [{"scenario": 2001}], "frequency": 6}).json()["id"]
        b = c.post(V2, json={"scenarios": [{"scenario": 2101}], "frequency": 2}).json()["id"]
        a_runs = _wait_result(c, a, 30)["runs"].values()
        b_runs = sorted(_wait_result(c, b, 30)["runs"].values(), key=lambda r: r["id"])
        assert _max_overlap(a_runs) <= 3
        assert _max_overlap(b_runs) == 1  # agent 102 has its own limit of one line
    assert Sandbox(parallel_calls=25).store.parallel_calls == 25


def _default_catalogue_data() -> dict:
    from importlib import resources

    import yaml

    return yaml.safe_load(resources.files("cekura_sandbox").joinpath("default_catalogue.yaml").read_text())


def _max_overlap(runs: object) -> int:
    events = []
    for r in runs:  # type: ignore[attr-defined]
        start = dt.datetime.fromisoformat(r["executed_at"])
        mm, ss = r["duration"].split(":")
        events += [(start, 1), (start + dt.timedelta(seconds=int(mm) * 60 + int(ss)), -1)]
    level = peak = 0
    for _, step in sorted(events):
        level += step
        peak = max(peak, level)
    return peak


# ---- LiveKit rooms close like livekit-server's ----------------------------------------------------------
async def test_room_with_only_an_agent_closes_after_empty_timeout() -> None:
    with Sandbox(speed=600.0) as sb:
        async with api.LiveKitAPI(sb.livekit_url, sb.livekit_api_key, sb.livekit_api_secret) as lk:
            await lk.room.create_room(api.CreateRoomRequest(name="agent-only", empty_timeout=60))
            await lk.agent_dispatch.create_dispatch(
                api.CreateAgentDispatchRequest(agent_name="acme-support", room="agent-only")
            )
            listed = await lk.room.list_rooms(api.ListRoomsRequest(names=["agent-only"]))
            assert listed.rooms[0].num_participants == 0  # the agent does not count
            people = await lk.room.list_participants(api.ListParticipantsRequest(room="agent-only"))
            assert [p.kind for p in people.participants] == [api.ParticipantInfo.Kind.AGENT]
            await asyncio.sleep(0.2)  # 120 simulated seconds
            gone = await lk.room.list_rooms(api.ListRoomsRequest(names=["agent-only"]))
            assert list(gone.rooms) == []
        assert ("agent-only", "empty_timeout") in sb.livekit_closed_rooms
        assert sb.livekit_dispatches == []


async def test_update_room_metadata_and_list_participants() -> None:
    with Sandbox(speed=1.0) as sb:
        async with api.LiveKitAPI(sb.livekit_url, sb.livekit_api_key, sb.livekit_api_secret) as lk:
            await lk.room.create_room(api.CreateRoomRequest(name="meta", metadata='{"a": 1}'))
            room = await lk.room.update_room_metadata(
                api.UpdateRoomMetadataRequest(room="meta", metadata='{"a": 2}')
            )
            assert room.metadata == '{"a": 2}'
            sb.livekit.join("meta", "someone", sb.now())
            people = await lk.room.list_participants(api.ListParticipantsRequest(room="meta"))
            assert [p.identity for p in people.participants] == ["someone"]
            listed = await lk.room.list_rooms(api.ListRoomsRequest(names=["meta"]))
            assert listed.rooms[0].num_participants == 1
            with pytest.raises(api.TwirpError) as missing:
                await lk.room.list_participants(api.ListParticipantsRequest(room="nope"))
            assert missing.value.status == 404


def test_departure_timeout_after_the_last_participant_leaves() -> None:
    with Sandbox(speed=60.0) as sb:
        room = sb.livekit.create_room("dep", empty_timeout=3600, departure_timeout=30)
        now = sb.now()
        sb.livekit.join("dep", "caller", now, leaves_at=now + dt.timedelta(seconds=5))
        assert sb.livekit.get_room("dep") is room
        time.sleep(0.5)  # 30 simulated seconds: left 25 s ago, still within departure_timeout
        assert "dep" in sb.livekit_rooms
        time.sleep(0.3)  # 48 s
        assert "dep" not in sb.livekit_rooms
        assert ("dep", "departure_timeout") in sb.livekit_closed_rooms


def test_byo_run_queued_past_empty_timeout_joins_a_fresh_room_and_fails() -> None:
    """The likeliest production failure: rooms closed while the runs waited in Cekura's queue."""
    with Sandbox(speed=600.0, parallel_calls=1, agent_join_timeout=0.3) as sb, _client(sb) as c:
        rooms = [f"q-{i}" for i in range(4)]
        for room in rooms:
            sb.livekit.create_room(room, empty_timeout=60, metadata='{"cfg": 1}')
        body = {
            "scenarios": [
                {"scenario": 2001, "livekit_room_url": sb.livekit_ws_url, "access_token": _token(sb, r)}
                for r in rooms
            ]
        }
        sub = c.post(V1, json=body).json()
        for run, room in zip(sub["runs"], rooms, strict=True):
            sb.livekit.create_dispatch("acme-support", room, json.dumps({"run_id": run["id"]}))
        result = _wait_result(c, sub["id"], timeout=30)
        runs = [result["runs"][str(r["id"])] for r in sub["runs"]]
        assert runs[0]["status"] != "failed"
        # With one line, three calls of 40–110 s push the last run's start past its room's 60 s
        # empty_timeout: the agent alone did not keep the room open; the tester gets a fresh, empty room.
        assert runs[-1]["status"] == "failed", runs[-1]
        assert runs[-1]["metadata"]["ended_reason"] == "Main agent-did-not-answer"
        assert ("q-3", "empty_timeout") in sb.livekit_closed_rooms


def test_token_expiry_is_checked_when_the_tester_joins() -> None:
    with Sandbox(speed=600.0, parallel_calls=1) as sb, _client(sb) as c:
        rooms = [f"t-{i}" for i in range(5)]
        for room in rooms:
            sb.livekit.create_room(room, empty_timeout=36000)
            sb.livekit.create_dispatch("acme-support", room)
        tokens = [_token(sb, r, ttl=dt.timedelta(minutes=1)) for r in rooms]
        body = {
            "scenarios": [
                {"scenario": 2001, "livekit_room_url": sb.livekit_ws_url, "access_token": t} for t in tokens
            ]
        }
        sub = c.post(V1, json=body).json()
        result = _wait_result(c, sub["id"], timeout=30)
        last = result["runs"][str(sub["runs"][-1]["id"])]
        # Queued behind four calls of 40–110 s (beyond the minute of leeway), the 1-minute token expired.
        assert last["status"] == "failed"
        assert "token is expired" in last["error_message"]
        assert last["metadata"]["ended_reason"] == "Testing agent-did-not-connect"


# ---- what the Cekura stand-in answers -------------------------------------------------------------------
def test_name_switch_drops_name_on_v1_and_chat_only() -> None:
    with Sandbox(speed=600.0, ignore_v1_name=True) as sb, _client(sb) as c:
        sb.livekit.create_room("n-1")
        element = {"scenario": 2001, "livekit_room_url": sb.livekit_ws_url, "access_token": _token(sb, "n-1")}
        v1 = c.post(V1, json={"scenarios": [element], "name": "mine", "agent": 101}).json()
        chat = c.post(CHAT, json={"scenarios": [element], "name": "mine-chat"}).json()
        v2 = c.post(V2, json={"scenarios": [{"scenario": 2001}], "name": "kept"}).json()
        assert (v1["name"], chat["name"], v2["name"]) == ("", "", "kept")
        assert c.get("/test_framework/v1/results/", params={"search": "mine"}).json()["count"] == 0
    with Sandbox(speed=600.0) as sb, _client(sb) as c:
        sb.livekit.create_room("n-1")
        element["access_token"] = _token(sb, "n-1")
        element["livekit_room_url"] = sb.livekit_ws_url
        assert c.post(V1, json={"scenarios": [element], "name": "mine"}).json()["name"] == "mine"
        # Without a name, a result is named "" (source example), not an invented label.
        assert c.post(V2, json={"scenarios": [{"scenario": 2001}]}).json()["name"] == ""


def test_flat_test_profile_data_in_submit_and_job_metadata() -> None:
    with Sandbox(speed=600.0) as sb, _client(sb) as c:
        sub = c.post(V2, json={"scenarios": [{"scenario": 2001}], "test_profile_ids": [301]}).json()
        assert sub["runs"][0]["test_profile_data"] == {"tier": "gold", "account_id": "A-1001"}
        assert sb.livekit_dispatches[0]["metadata"]["test_profile_data"] == {
            "tier": "gold",
            "account_id": "A-1001",
        }


def test_end_calls_answer_without_body_and_bulk_requires_run_ids() -> None:
    with Sandbox(speed=600.0) as sb, _client(sb) as c:
        sub = c.post(V2, json={"scenarios": [{"scenario": 2001}], "frequency": 2}).json()
        ended = c.post(f"/test_framework/v1/results/{sub['id']}/end_calls/")
        assert (ended.status_code, ended.content) == (200, b"")
        one = c.post(f"/test_framework/v1/runs/{sub['runs'][0]['id']}/end_call/")
        assert (one.status_code, one.content) == (200, b"")
        result = c.get(f"/test_framework/v1/results/{sub['id']}/").json()
        assert {r["metadata"]["ended_reason"] for r in result["runs"].values()} == {"run-cancelled-by-user"}
        ids = ",".join(str(r["id"]) for r in sub["runs"])
        assert c.get("/test_framework/v1/runs/bulk/", params={"ids": ids}).status_code == 400
        assert len(c.get("/test_framework/v1/runs/bulk/", params={"run_ids": ids}).json()) == 2


def test_documented_end_reasons_and_spec_fields() -> None:
    documented = {
        "Testing agent-ended-call",
        "Main agent-ended-call",
        "exceeded-max-duration",
        "Testing agent-did-not-connect",
        "Testing agent-pipeline-error",
    }
    with Sandbox(speed=6000.0) as sb, _client(sb) as c:
        sub = c.post(V2, json={"scenarios": [{"scenario": s} for s in (2001, 2003, 2005)], "frequency": 6})
        result = _wait_result(c, sub.json()["id"], timeout=30)
        runs = list(result["runs"].values())
        assert {r["metadata"]["ended_reason"] for r in runs} <= documented
        for key in ("agent_version", "rubric", "scenario_instructions", "provider_call_details"):
            assert all(key in r for r in runs), key
        assert result["run_settings"]["frequency"] == 6
        assert result["ai_summary"]["generated_from_runs_count"] == 18
        assert result["ai_summary_status"] == "completed"
        if result["failed_runs_count"]:
            assert result["failed_reasons"]["total_failed_runs"] == result["failed_runs_count"]


def test_agent_and_scenario_lists(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with Sandbox(speed=600.0) as sb, _client(sb) as c:
        agents = c.get("/test_framework/v2/aiagents/").json()
        assert [a["id"] for a in agents["results"]] == [101, 102]
        scenarios = c.get("/test_framework/v1/scenarios/", params={"agent_id": 102}).json()
        assert scenarios["count"] == len([s for s in sb.catalogue.scenarios.values() if s.agent == 102])
        assert all(s["agent"] == 102 for s in scenarios["results"])
        # The official CLI, unmodified.
        from cekura.cli.main import app
        from typer.testing import CliRunner

        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.setenv("CEKURA_API_KEY", sb.api_key)
        monkeypatch.setenv("CEKURA_API_URL", sb.cekura_url)
        runner = CliRunner()
        listed = runner.invoke(app, ["agents", "list", "--format", "json"])
        assert listed.exit_code == 0, listed.output
        assert "Acme Bookings" in listed.output
        sc = runner.invoke(app, ["scenarios", "list", "--agent-id", "101", "--format", "json"])
        assert sc.exit_code == 0, sc.output
        assert "Reset password" in sc.output
        assert "2001" in sc.output


# ---- clock and documentation ----------------------------------------------------------------------------
def test_simulated_clock_never_runs_ahead_of_the_wall_clock() -> None:
    sb = Sandbox(speed=60.0)
    assert sb.now() <= dt.datetime.now(dt.UTC)
    fast = Sandbox(speed=10_000.0)
    time.sleep(0.05)
    assert fast.now() <= dt.datetime.now(dt.UTC)
    with pytest.raises(ValueError, match="future"):
        sb.set_time(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    with pytest.raises(ValueError, match="future"):
        Sandbox(start_time=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))


def test_help_states_that_controls_need_the_api_key() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cekura_sandbox.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "X-CEKURA-API-KEY" in out
    assert "--parallel-calls" in out
    assert "--ignore-v1-name" in out
    assert load_catalogue().parallel_call_limit == 10
