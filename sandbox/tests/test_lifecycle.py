"""Lifecycle, determinism, validation and routing of the Cekura stand-in."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter

import httpx
import pytest

from cekura_livekit.models import RunStatus, parse_status
from cekura_sandbox import Sandbox

V2 = "/test_framework/v1/scenarios-external/run_scenarios_livekit_v2/"
TERMINAL = {"completed", "failed", "timeout", "cancelled"}


def _client(sb: Sandbox) -> httpx.Client:
    return httpx.Client(base_url=sb.cekura_url, headers={"X-CEKURA-API-KEY": sb.api_key}, timeout=30)


def _finish(client: httpx.Client, result_id: int, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = client.get(f"/test_framework/v1/results/{result_id}/").json()
        if result["status"] in TERMINAL:
            return result
        time.sleep(0.2)
    raise AssertionError("not terminal")


def _outcomes(seed: int) -> list[tuple[str, bool]]:
    start = dt.datetime(2026, 10, 1, 12, tzinfo=dt.UTC)
    with Sandbox(seed=seed, speed=5000.0, start_time=start) as sb, _client(sb) as c:
        rid = c.post(
            V2, json={"scenarios": [{"scenario": 2003}, {"scenario": 2006}], "frequency": 20}
        ).json()["id"]
        runs = _finish(c, rid)["runs"]
        return [(runs[k]["status"], runs[k]["success"]) for k in sorted(runs)]


def test_same_seed_same_outcomes() -> None:
    first, second, other = _outcomes(11), _outcomes(11), _outcomes(12)
    assert first == second
    assert first != other


def test_statuses_progress_in_order() -> None:
    order = ["pending", "in_queue", "running", "in_progress", "evaluating"]
    with Sandbox(seed=7, speed=100.0) as sandbox, _client(sandbox) as c:
        rid = c.post(V2, json={"scenarios": [{"scenario": 2001}]}).json()["id"]
        seen: list[str] = []
        for _ in range(1000):
            run = next(iter(c.get(f"/test_framework/v1/results/{rid}/").json()["runs"].values()))
            if not seen or seen[-1] != run["status"]:
                seen.append(run["status"])
            if run["status"] in TERMINAL:
                break
            time.sleep(0.005)
    assert seen[-1] in TERMINAL
    ranks = [order.index(s) for s in seen[:-1]]
    assert ranks == sorted(ranks), seen
    assert len(ranks) >= 2, seen


def test_thousand_run_batch_reaches_terminal_states() -> None:
    with Sandbox(seed=5, speed=20000.0) as sb, _client(sb) as c:
        scenarios = [{"scenario": s} for s in (2001, 2002, 2003, 2004, 2006)]
        body = {"scenarios": scenarios, "frequency": 100, "personality_ids": [1, 2], "name": "big"}
        submitted = c.post(V2, json=body).json()
        assert len(submitted["runs"]) == 1000
        result = _finish(c, submitted["id"], timeout=60)
        statuses = Counter(r["status"] for r in result["runs"].values())
        assert sum(statuses.values()) == 1000
        assert set(statuses) <= TERMINAL
        assert result["total_runs_count"] == 1000
        passed = sum(1 for r in result["runs"].values() if r["status"] == "completed" and r["success"])
        assert result["success_runs_count"] == passed
        assert result["success_rate"] == pytest.approx(100 * passed / 1000, abs=0.01)
        assert 0.6 < passed / 1000 < 0.98
        assert statuses["failed"] > 0
        assert statuses["timeout"] > 0


def test_regression_after_date() -> None:
    def rate(day: dt.datetime) -> float:
        with Sandbox(seed=1, speed=20000.0, start_time=day) as sb, _client(sb) as c:
            rid = c.post(V2, json={"scenarios": [{"scenario": 2004}], "frequency": 100}).json()["id"]
            runs = _finish(c, rid)["runs"].values()
            done = [r for r in runs if r["status"] == "completed"]
            return sum(r["success"] for r in done) / len(done)

    # Pass rates are drawn at submit time from the simulated date: at 20,000x an hour is 0.18 real seconds,
    # so starting at 23:00 the day before let a slow start-up (a loaded CI machine) submit after midnight.
    before = rate(dt.datetime(2026, 11, 13, 0, tzinfo=dt.UTC))
    after = rate(dt.datetime(2026, 11, 15, 1, tzinfo=dt.UTC))
    assert before > 0.85
    assert after < 0.7


def test_set_time_moves_timestamps(cekura_sandbox: Sandbox) -> None:
    cekura_sandbox.set_time(dt.datetime(2025, 1, 2, 3, 4, tzinfo=dt.UTC))
    with _client(cekura_sandbox) as c:
        created = c.post(V2, json={"scenarios": [{"scenario": 2001}]}).json()["created_at"]
        assert created.startswith("2025-01-02T03:0")
        assert c.get("/_sandbox/clock").json()["now"].startswith("2025-01-02T03:0")
        c.post("/_sandbox/clock", json={"now": "2024-05-05T00:00:00Z"}).raise_for_status()
    assert cekura_sandbox.now().year == 2024


def test_concurrency_limit_queues_runs() -> None:
    with Sandbox(seed=7, speed=60.0) as sandbox, _client(sandbox) as c:
        rid = c.post(
            V2, json={"scenarios": [{"scenario": 2001}], "frequency": 6, "concurrency_limit": 2}
        ).json()["id"]
        time.sleep(0.3)  # ~18 simulated seconds: the first two calls may run, the rest must wait
        statuses = Counter(
            r["status"] for r in c.get(f"/test_framework/v1/results/{rid}/").json()["runs"].values()
        )
    assert statuses["in_queue"] + statuses["pending"] >= 4, statuses


def test_end_call_and_runs_list_filters() -> None:
    # Slow clock: no run may finish on its own before the test cancels it.
    with Sandbox(seed=7, speed=5.0) as sandbox, _client(sandbox) as c:
        rid = c.post(V2, json={"scenarios": [{"scenario": 2001}, {"scenario": 2002}], "frequency": 5}).json()[
            "id"
        ]
        other = c.post(V2, json={"scenarios": [{"scenario": 2101}]}).json()["id"]
        runs = c.get("/test_framework/v1/runs/", params={"result_id": rid, "page_size": 4}).json()
        assert runs["count"] == 10
        assert len(runs["results"]) == 4
        assert runs["next"]
        assert runs["previous"] is None
        page3 = httpx.get(
            runs["next"].replace("page=2", "page=3"), headers={"X-CEKURA-API-KEY": sandbox.api_key}
        ).json()
        assert len(page3["results"]) == 2
        assert page3["next"] is None
        target = runs["results"][0]["id"]
        assert c.post(f"/test_framework/v1/runs-external/{target}/end_call").status_code == 200
        cancelled = c.get(
            "/test_framework/v1/runs", params={"result_id": rid, "status__in": "cancelled,failed"}
        ).json()
        assert [r["id"] for r in cancelled["results"]] == [target]
        assert c.get("/test_framework/v2/runs/", params={"result_id": other}).json()["count"] == 1
        assert c.get("/test_framework/v1/runs/", params={"page": 99}).status_code == 404
        assert c.post(f"/test_framework/v1/results/{rid}/end_calls/").status_code == 200
        result = c.get(f"/test_framework/v1/results-external/{rid}").json()
        assert {r["status"] for r in result["runs"].values()} <= TERMINAL
        assert result["status"] in TERMINAL


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (V2, {"scenarios": []}, "scenarios"),
        (V2, {}, "scenarios"),
        (V2, {"scenarios": [{"scenario": "abc"}]}, "scenarios"),
        (V2, {"scenarios": [{"scenario": 424242}]}, "scenarios"),
        (V2, {"scenarios": [{"scenario": 2001}], "frequency": 0}, "frequency"),
        (V2, {"scenarios": [{"scenario": 2001}], "frequency": 101}, "frequency"),
        (V2, {"scenarios": [{"scenario": 2001}], "agent": 777}, "agent"),
        (V2, {"scenarios": [{"scenario": 2001}, {"scenario": 2101}]}, "agent"),
        (V2, {"scenarios": [{"scenario": 2001}], "personality_ids": [99]}, "personality_ids"),
        (
            "/test_framework/v1/scenarios-external/run_scenarios_livekit/",
            {"scenarios": [{"scenario": 2001}]},
            "scenarios",
        ),
        (
            "/test_framework/v1/scenarios-external/run_scenarios_livekit_chat/",
            {"scenarios": [{"scenario": 2001, "livekit_room_url": "ws://x"}]},
            "scenarios",
        ),
    ],
)
def test_validation_errors(cekura_sandbox_session: Sandbox, path: str, body: dict, field: str) -> None:
    before = cekura_sandbox_session.store._next_result
    with _client(cekura_sandbox_session) as c:
        resp = c.post(path, json=body)
    assert resp.status_code == 400
    messages = resp.json()[field]
    assert isinstance(messages, list)
    assert messages
    assert all(isinstance(m, str) for m in messages)
    assert cekura_sandbox_session.store._next_result == before  # nothing was created


def test_auth_404_bulk_and_path_families(cekura_sandbox: Sandbox) -> None:
    base = cekura_sandbox.cekura_url
    assert httpx.get(f"{base}/test_framework/v1/results/").status_code == 401
    bad = httpx.get(f"{base}/test_framework/v1/results/", headers={"X-CEKURA-API-KEY": "nope"})
    assert bad.status_code == 401
    assert "detail" in bad.json()
    with _client(cekura_sandbox) as c:
        assert c.get("/test_framework/v1/results/4242/").json() == {"detail": "Not found."}
        assert c.get("/test_framework/v1/results/4242/").status_code == 404
        rid = c.post(
            "/test_framework/v2/scenarios/run_scenarios_livekit_v2", json={"scenarios": [{"scenario": 2001}]}
        ).json()["id"]
        for family in ("v1/results", "v1/results-external", "v2/results", "v2/results-external"):
            for slash in ("", "/"):
                assert c.get(f"/test_framework/{family}/{rid}{slash}").json()["id"] == rid
        run_id = int(next(iter(c.get(f"/test_framework/v1/results/{rid}/").json()["runs"])))
        assert [
            r["id"]
            for r in c.get("/test_framework/v1/runs/bulk/", params={"run_ids": f"{run_id},99999"}).json()
        ] == [run_id]
        malformed = c.get("/test_framework/v1/runs/bulk/", params={"run_ids": "[1,2]"})
        assert malformed.status_code == 400
        assert malformed.json() == ["run_ids must be comma-separated integers"]
        assert c.get("/test_framework/v1/runs/bulk/").status_code == 400
        assert c.get("/test_framework/v2/aiagents/102/").json()["project"] == 11
        assert c.get("/test_framework/v2/aiagents/5/").status_code == 404


def test_statuses_are_known_to_the_status_model(cekura_sandbox: Sandbox) -> None:
    with _client(cekura_sandbox) as c:
        rid = c.post(V2, json={"scenarios": [{"scenario": 2006}], "frequency": 10}).json()["id"]
        for _ in range(20):
            result = c.get(f"/test_framework/v1/results/{rid}/").json()
            assert parse_status(result["status"]) is not RunStatus.UNKNOWN
            assert all(parse_status(r["status"]) is not RunStatus.UNKNOWN for r in result["runs"].values())
            time.sleep(0.02)
