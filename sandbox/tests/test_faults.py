"""Fault injection, request recording and the HTTP control surface."""

from __future__ import annotations

import time

import httpx
import pytest
from livekit import api

from cekura_sandbox import Sandbox

V2 = "/test_framework/v1/scenarios-external/run_scenarios_livekit_v2/"


def _client(sb: Sandbox) -> httpx.Client:
    return httpx.Client(base_url=sb.cekura_url, headers={"X-CEKURA-API-KEY": sb.api_key})


def test_429_5xx_slow_and_counting(cekura_sandbox: Sandbox) -> None:
    with _client(cekura_sandbox) as c:
        rid = c.post(V2, json={"scenarios": [{"scenario": 2001}]}).json()["id"]
        cekura_sandbox.clear_requests()
        cekura_sandbox.inject_fault(path_contains="/results/", kind="429", times=2, retry_after=7)
        cekura_sandbox.inject_fault(path_contains="/results/", kind="503", times=1)
        first, second, third, fourth = (c.get(f"/test_framework/v1/results/{rid}/") for _ in range(4))
        assert (first.status_code, first.headers["Retry-After"]) == (429, "7")
        assert second.status_code == 429
        assert third.status_code == 503
        assert fourth.status_code == 200
        cekura_sandbox.inject_fault(path_contains="/results/", kind="slow", delay=0.4, method="GET")
        t0 = time.monotonic()
        assert c.get(f"/test_framework/v1/results/{rid}/").status_code == 200
        assert time.monotonic() - t0 >= 0.4
    assert cekura_sandbox.count("GET", "/results/") == 5
    assert [r.status for r in cekura_sandbox.requests] == [429, 429, 503, 200, 200]
    assert cekura_sandbox.count("POST", "run_scenarios_livekit_v2") == 0


def test_drop_after_submit_still_creates_the_result(cekura_sandbox: Sandbox) -> None:
    cekura_sandbox.inject_fault(path_contains="run_scenarios_livekit_v2", kind="drop", method="POST")
    with _client(cekura_sandbox) as c:
        with pytest.raises(httpx.TransportError):
            c.post(V2, json={"scenarios": [{"scenario": 2001}], "name": "lost-response"})
        listed = c.get("/test_framework/v1/results/", params={"search": "lost-response"}).json()
    assert listed["count"] == 1  # the batch exists although the client never saw the response
    assert cekura_sandbox.count("POST", "run_scenarios_livekit_v2") == 1
    assert cekura_sandbox.requests[0].status == 0


def test_malformed_and_unknown_status(cekura_sandbox: Sandbox) -> None:
    with _client(cekura_sandbox) as c:
        rid = c.post(V2, json={"scenarios": [{"scenario": 2001}]}).json()["id"]
        cekura_sandbox.inject_fault(path_contains=f"/results/{rid}", kind="malformed")
        broken = c.get(f"/test_framework/v1/results/{rid}/")
        assert broken.status_code == 200
        with pytest.raises(ValueError):
            broken.json()
        cekura_sandbox.inject_fault(
            path_contains=f"/results/{rid}", kind="unknown_status", status_value="paused"
        )
        odd = c.get(f"/test_framework/v1/results/{rid}/").json()
        assert odd["status"] == "paused"
        assert {r["status"] for r in odd["runs"].values()} == {"paused"}
        assert c.get(f"/test_framework/v1/results/{rid}/").json()["status"] != "paused"


async def test_livekit_faults_surface_as_twirp_errors(cekura_sandbox: Sandbox) -> None:
    cekura_sandbox.inject_fault(path_contains="CreateRoom", kind="503", server="livekit")
    async with api.LiveKitAPI(
        cekura_sandbox.livekit_url, cekura_sandbox.livekit_api_key, cekura_sandbox.livekit_api_secret
    ) as lk:
        with pytest.raises(api.TwirpError) as err:
            await lk.room.create_room(api.CreateRoomRequest(name="r"))
        assert err.value.status == 503
        assert err.value.code == "unavailable"
        await lk.room.create_room(api.CreateRoomRequest(name="r"))
    assert cekura_sandbox.count("POST", "CreateRoom", server="livekit") == 2


def test_http_controls(cekura_sandbox: Sandbox) -> None:
    with _client(cekura_sandbox) as c:
        assert (
            c.post(
                "/_sandbox/faults", json={"kind": "500", "path_contains": "/runs/", "times": 2}
            ).status_code
            == 200
        )
        assert c.post("/_sandbox/faults", json={"kind": "explode"}).status_code == 400
        assert c.get("/test_framework/v1/runs/").status_code == 500
        assert len(c.get("/_sandbox/faults").json()) == 1
        c.delete("/_sandbox/faults")
        assert c.get("/test_framework/v1/runs/").status_code == 200
        c.post(V2, json={"scenarios": [{"scenario": 2001}]})
        recorded = c.get("/_sandbox/requests").json()
        assert [(r["method"], r["status"]) for r in recorded] == [("GET", 500), ("GET", 200), ("POST", 200)]
        rooms = c.get("/_sandbox/livekit/rooms").json()
        assert len(rooms["rooms"]) == 1
        assert len(rooms["dispatches"]) == 1
        c.delete("/_sandbox/requests")
        assert c.get("/_sandbox/requests").json() == []
    assert httpx.get(f"{cekura_sandbox.cekura_url}/_sandbox/requests").status_code == 401


def test_connections_fixture(cekura_sandbox_connections: dict[str, str], cekura_sandbox: Sandbox) -> None:
    import json
    import os

    cekura = json.loads(os.environ["AIRFLOW_CONN_CEKURA_DEFAULT"])
    livekit = json.loads(os.environ["AIRFLOW_CONN_LIVEKIT_DEFAULT"])
    assert cekura == {
        "conn_type": "cekura",
        "host": cekura_sandbox.cekura_url,
        "password": cekura_sandbox.api_key,
    }
    assert livekit["login"] == cekura_sandbox.livekit_api_key
    assert livekit["host"] == cekura_sandbox.livekit_url
