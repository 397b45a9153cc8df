"""The official `cekura` SDK, pointed at the stand-in, must work with its own parsing."""

from __future__ import annotations

import time

import pytest
from cekura import Cekura
from cekura._exceptions import APIError, AuthenticationError, NotFoundError

from cekura_livekit.models import BatchProgress, ResultSummary, RunStatus, runs_of
from cekura_sandbox import Sandbox


def _wait_terminal(client: Cekura, result_id: int, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = client.results.get(result_id)
        if ResultSummary.from_result(result).is_terminal:
            return result
        time.sleep(0.1)
    raise AssertionError(f"result {result_id} not terminal after {timeout}s")


def test_sdk_v2_submit_poll_bulk_and_end_calls(cekura_sandbox: Sandbox) -> None:
    client = Cekura(api_key=cekura_sandbox.api_key, base_url=cekura_sandbox.cekura_url)
    submitted = client.scenarios.run_livekit_v2(
        scenarios=[{"scenario": 2001}, {"scenario": 2003}], frequency=3, agent=101, name="nightly-1"
    )
    assert isinstance(submitted["runs"], list)
    assert len(submitted["runs"]) == 6
    assert {r["status"] for r in submitted["runs"]} == {"pending"}
    assert cekura_sandbox.count("POST", "run_scenarios_livekit_v2") == 1

    result = _wait_terminal(client, submitted["id"])
    assert isinstance(result["runs"], dict)
    assert sorted(result["runs"]) == sorted(str(r["id"]) for r in submitted["runs"])
    progress = BatchProgress.from_runs(runs_of(result), total=result["total_runs_count"])
    assert progress.pending == 0
    assert result["success_runs_count"] == progress.passed
    assert result["total_runs_count"] == 6

    run_ids = [r["id"] for r in submitted["runs"]]
    # The SDK's results.get_runs sends `ids=`; the spec (and so the sandbox) requires `run_ids`.
    with pytest.raises(APIError) as sdk_bug:
        client.results.get_runs(run_ids)
    assert sdk_bug.value.status_code == 400
    via_ids = client.runs.bulk(run_ids=",".join(map(str, run_ids)))
    via_run_ids = client.runs.bulk(run_ids=",".join(map(str, reversed(run_ids))))
    assert [r["id"] for r in via_ids] == sorted(run_ids) == [r["id"] for r in via_run_ids]
    for run in via_ids:
        assert RunStatus(run["status"]).is_terminal
        assert run["result_id"] == submitted["id"]
        if run["status"] == "completed":
            assert run["executed_at"]
            assert ":" in run["duration"]
            assert run["evaluation"]["metrics"], run
            assert run["success"] is all(m["passed"] for m in run["evaluation"]["metrics"])

    second = client.scenarios.run_livekit_v2(scenarios=[{"scenario": 2002}], frequency=4, agent=101, name="x")
    client.results.end_calls(second["id"])
    ended = client.results.get(second["id"])
    assert {r["status"] for r in ended["runs"].values()} == {"cancelled"}
    assert ended["status"] == "cancelled"
    assert all(r["success"] is False for r in ended["runs"].values())


def test_sdk_auth_not_found_agent_and_share(cekura_sandbox: Sandbox) -> None:
    client = Cekura(api_key=cekura_sandbox.api_key, base_url=cekura_sandbox.cekura_url)
    with pytest.raises(AuthenticationError):
        Cekura(api_key="wrong", base_url=cekura_sandbox.cekura_url).results.list()
    with pytest.raises(NotFoundError):
        client.results.get(999999)
    assert client.agents.get(101)["project"] == 11
    submitted = client.scenarios.run_livekit_v2(scenarios=[{"scenario": 2101}], agent=102, name="share-me")
    link = client.results.create_shareable_link_token(submitted["id"])
    assert link["token"]
    assert str(submitted["id"]) in link["shareable_link"]
    listed = client.results.list(search="share-me")
    assert listed["count"] == 1
    assert listed["results"][0]["id"] == submitted["id"]
    run_id = submitted["runs"][0]["id"]
    client.runs.end_call(run_id)
    assert client.runs.get(run_id)["status"] == "cancelled"
