"""Results no Airflow task submitted (cron jobs, CI, dashboard, API) and the `results/{id}/rerun/` endpoint."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import httpx

from cekura_sandbox import Sandbox

TERMINAL = {"completed", "failed", "timeout", "cancelled"}
V2 = "/test_framework/v1/scenarios-external/run_scenarios_livekit_v2/"


def _client(sb: Sandbox) -> httpx.Client:
    return httpx.Client(base_url=sb.cekura_url, headers={"X-CEKURA-API-KEY": sb.api_key}, timeout=30)


def _finish(client: httpx.Client, result_id: int, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = client.get(f"/test_framework/v2/results/{result_id}/").json()
        if result["status"] in TERMINAL:
            return dict(result)
        time.sleep(0.1)
    raise AssertionError(f"result {result_id} never finished")


def test_a_cron_result_says_is_cronjob_and_others_do_not() -> None:
    with Sandbox(seed=7, speed=5000.0) as sb, _client(sb) as c:
        cron = sb.create_result("cron", 101, [2001])
        ci = c.post("/_sandbox/results", json={"origin": "ci", "agent": 101, "scenarios": [2002]}).json()
        api = c.post(V2, json={"agent": 101, "scenarios": [{"scenario": 2001}], "name": "mine"}).json()
        listed = {
            r["id"]: r
            for r in c.get("/test_framework/v2/results/", params={"agent_id": 101}).json()["results"]
        }
        assert listed[cron["id"]]["is_cronjob"] is True
        assert listed[ci["id"]]["is_cronjob"] is False
        assert listed[ci["id"]]["name"].startswith("ci: ")
        assert listed[api["id"]]["is_cronjob"] is False
        assert _finish(c, cron["id"])["is_cronjob"] is True


def test_a_cron_job_creates_one_result_per_tick_dated_at_its_tick() -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=6)
    with Sandbox(seed=7, speed=1.0, start_time=start) as sb, _client(sb) as c:
        sb.add_cron_job(101, [2001, 2002], every_minutes=60, start=start + dt.timedelta(minutes=1))
        assert c.get("/test_framework/v2/results/").json()["count"] == 0
        sb.set_time(start + dt.timedelta(hours=3, minutes=2))
        results = c.get("/test_framework/v2/results/").json()["results"]
        assert len(results) == 4  # ticks at +0:01, +1:01, +2:01, +3:01
        assert all(r["is_cronjob"] is True and len(r["runs"]) == 2 for r in results)
        created = [r["created_at"] for r in results]
        assert created == sorted(created, reverse=True)  # newest first
        assert c.get("/test_framework/v2/results/").json()["count"] == 4  # fired once, not on every read


def test_rerun_adds_one_new_run_per_failed_run_and_keeps_the_originals() -> None:
    with Sandbox(seed=7, speed=5000.0) as sb, _client(sb) as c:
        rid = c.post(V2, json={"agent": 101, "scenarios": [{"scenario": 2006}], "frequency": 12}).json()["id"]
        before = _finish(c, rid)
        failed = {
            int(k) for k, r in before["runs"].items() if not r["success"] and r["status"] != "cancelled"
        }
        assert failed, "the seed gives scenario 2006 (pass rate 0.65) some failures"
        answer = c.post(f"/test_framework/v1/results/{rid}/rerun/")
        assert answer.status_code == 200
        body = answer.json()
        assert body["id"] == rid
        new_ids = {r["id"] for r in body["runs"]} - {int(k) for k in before["runs"]}
        assert len(new_ids) == len(failed)
        after = _finish(c, rid)
        assert {int(k) for k in after["runs"]} == {int(k) for k in before["runs"]} | new_ids
        for run_id in failed:  # the failed originals are unchanged
            assert after["runs"][str(run_id)]["success"] is False
        # A second rerun re-runs only the reruns that failed, never the originals again.
        again_failed = {i for i in new_ids if not after["runs"][str(i)]["success"]}
        second = c.post(f"/test_framework/v1/results/{rid}/rerun/")
        if again_failed:
            assert len(second.json()["runs"]) == len(after["runs"]) + len(again_failed)
        else:
            assert second.status_code == 400


def test_rerun_refuses_a_running_result_and_an_unknown_one() -> None:
    with Sandbox(seed=7, speed=1.0) as sb, _client(sb) as c:
        rid = c.post(V2, json={"agent": 101, "scenarios": [{"scenario": 2001}]}).json()["id"]
        answer = c.post(f"/test_framework/v1/results/{rid}/rerun/")
        assert answer.status_code == 400
        assert "in progress" in answer.text
        assert c.post("/test_framework/v1/results/99999/rerun/").status_code == 404
