"""The sandbox's credits and run facts: billing/info per Cekura's BillingInfo schema, documented rates, the
refusal of a submit without credits, agent versions and recording URLs (issue 19 items 3, 4)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from cekura_sandbox import Sandbox
from cekura_sandbox.billing import run_credits


def _client(sandbox: Sandbox) -> httpx.Client:
    return httpx.Client(base_url=sandbox.cekura_url, headers={"X-CEKURA-API-KEY": sandbox.api_key})


def _finished(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    result_id = client.post(
        "/test_framework/v1/scenarios-external/run_scenarios_livekit_v2/", json=body
    ).json()["id"]
    for _ in range(300):
        result = client.get(f"/test_framework/v2/results/{result_id}/").json()
        if result["status"] in {"completed", "failed", "timeout", "cancelled"}:
            return result
        time.sleep(0.1)
    raise AssertionError("the sandbox result did not finish")


def test_billing_info_reports_credits_used_by_the_documented_rates(cekura_sandbox: Sandbox) -> None:
    with _client(cekura_sandbox) as client:
        before = client.get("/test_framework/billing/info/").json()
        assert set(before) >= {"organization", "credits_remaining", "credits_used", "initial_balance"}
        assert before["subscription_status"]["pack"]["max_concurrent_runs_limit"] >= 1
        result = _finished(client, {"agent": 101, "scenarios": [{"scenario": 2001}], "frequency": 2})
        after = client.get("/test_framework/billing/info/").json()
    runs = list(result["runs"].values())
    spent = sum(run_credits(r) for r in runs)
    assert spent > 0
    assert float(after["credits_used"]) - float(before["credits_used"]) == pytest.approx(spent, abs=0.02)
    assert float(after["credits_remaining"]) == pytest.approx(
        float(after["initial_balance"]) - float(after["credits_used"])
    )
    # 5 credits a voice minute + 0.2 a metric (Cekura's FAQ)
    run = runs[0]
    minutes, seconds = (int(x) for x in run["duration"].split(":"))
    assert run_credits(run) == pytest.approx(
        round((minutes * 60 + seconds) / 60 * 5 + 0.2 * len(run["evaluation"]["metrics"]), 2)
    )


def test_a_submit_without_credits_is_refused_before_anything_is_created(cekura_sandbox: Sandbox) -> None:
    cekura_sandbox.set_credits(0)
    with _client(cekura_sandbox) as client:
        before = client.get("/test_framework/v1/results/").json()["count"]
        answer = client.post(
            "/test_framework/v1/scenarios-external/run_scenarios_livekit_v2/",
            json={"agent": 101, "scenarios": [{"scenario": 2001}]},
        )
        assert answer.status_code == 402
        assert answer.json()["detail"] == "Insufficient balance for this operation"
        assert client.get("/test_framework/v1/results/").json()["count"] == before
        cekura_sandbox.set_credits(None)
        assert client.get("/test_framework/billing/info/").status_code == 404


def test_runs_report_the_agent_version_of_their_submit_and_a_recording(cekura_sandbox: Sandbox) -> None:
    with _client(cekura_sandbox) as client:
        first = _finished(client, {"agent": 101, "scenarios": [{"scenario": 2001}]})
        cekura_sandbox.set_agent_version(101, "2026.12.0")
        second = _finished(client, {"agent": 101, "scenarios": [{"scenario": 2001}]})
    assert first["agent_version"] == "2026.11.1"
    assert second["agent_version"] == "2026.12.0"
    (run,) = first["runs"].values()
    assert run["agent_version"]["version"] == "2026.11.1"
    (later,) = second["runs"].values()
    assert later["agent_version"]["id"] != run["agent_version"]["id"]
    if run["status"] == "completed":
        assert run["voice_recording_url"].endswith(f"/runs/{run['id']}.wav")
        assert run["transcript"]
