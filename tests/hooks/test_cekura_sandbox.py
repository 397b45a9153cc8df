"""CekuraHook against the sandbox over real HTTP: every method the project uses, end to end."""

from __future__ import annotations

import time

import pytest

from cekura_livekit.hooks.cekura import CekuraHook
from cekura_livekit.hooks.errors import CekuraAuthError, CekuraNotFoundError, CekuraValidationError
from cekura_livekit.models import ResultSummary
from cekura_sandbox import Sandbox

pytestmark = pytest.mark.usefixtures("cekura_sandbox_connections")


def wait_terminal(hook: CekuraHook, result_id: int, limit: float = 30) -> dict:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        result = hook.get_result(result_id)
        if ResultSummary.from_result(result).is_terminal:
            return result
        time.sleep(0.2)
    raise AssertionError(f"result {result_id} did not finish in {limit}s")


def test_managed_batch_lifecycle(cekura_sandbox: Sandbox) -> None:
    hook = CekuraHook()
    submitted = hook.submit_managed(
        {
            "scenarios": [{"scenario": 2001}, {"scenario": 2002}],
            "agent": 101,
            "frequency": 3,
            "name": "hook-it-1",
        }
    )
    result_id = submitted["id"]
    run_ids = [r["id"] for r in submitted["runs"]]
    assert len(run_ids) == 6
    assert cekura_sandbox.count("POST", "run_scenarios_livekit_v2") == 1

    result = wait_terminal(hook, result_id)
    assert isinstance(result["runs"], dict)
    summary = ResultSummary.from_result(result)
    assert summary.progress.total == 6
    assert summary.progress.terminal == 6

    runs = hook.get_runs_bulk(run_ids)
    assert sorted(r["id"] for r in runs) == sorted(run_ids)
    assert all(r["result_id"] == result_id for r in runs)
    listed = list(hook.iter_runs(result_id=result_id, page_size=4))
    assert sorted(r["id"] for r in listed) == sorted(run_ids)
    assert cekura_sandbox.count("GET", "/runs/", server="cekura") >= 2  # two pages were followed

    assert [r["id"] for r in hook.find_results_by_name("hook-it-1")] == [result_id]
    assert hook.find_results_by_name("hook-it") == []  # substring matches are filtered out
    assert hook.get_agent_project_id(101) == 11
    assert hook.dashboard_url(result_id, 11).endswith(f"/11/results/{result_id}")
    assert hook.test_connection()[0] is True


def test_end_calls_cancels_unfinished_runs(cekura_sandbox: Sandbox) -> None:
    hook = CekuraHook()
    submitted = hook.submit_managed({"scenarios": [{"scenario": 2003}], "agent": 101, "frequency": 4})
    hook.end_calls(submitted["id"])
    result = wait_terminal(hook, submitted["id"])
    statuses = {r["status"] for r in result["runs"].values()}
    assert "cancelled" in statuses
    hook.end_call(submitted["runs"][0]["id"])  # ending an ended call is harmless


def test_server_side_errors_are_typed(cekura_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = CekuraHook()
    with pytest.raises(CekuraNotFoundError, match="404"):
        hook.get_result(999_999)
    with pytest.raises(CekuraValidationError, match="frequency"):
        hook.submit_managed({"scenarios": [{"scenario": 2001}], "agent": 101, "frequency": 101})
    with pytest.raises(CekuraValidationError, match="scenario"):
        hook.submit_managed({"scenarios": [{"scenario": 987654}], "agent": 101})
    assert cekura_sandbox.count("POST", "run_scenarios_livekit_v2") == 2  # rejected submits are not retried

    monkeypatch.setenv(
        "AIRFLOW_CONN_CEKURA_BADKEY",
        f'{{"conn_type": "cekura", "host": "{cekura_sandbox.cekura_url}", "password": "wrong-key-0000"}}',
    )
    with pytest.raises(CekuraAuthError) as info:
        CekuraHook("cekura_badkey").get_result(1)
    assert "wrong-key-0000" not in str(info.value)


def test_faults_are_survived_on_reads(cekura_sandbox: Sandbox) -> None:
    hook = CekuraHook(retry_delay=0.05, retry_max_delay=0.2)
    submitted = hook.submit_managed({"scenarios": [{"scenario": 2005}], "agent": 101})
    cekura_sandbox.inject_fault(path_contains="/results/", kind="429", times=2, retry_after=0)
    cekura_sandbox.inject_fault(path_contains="/results/", kind="500", times=2)
    cekura_sandbox.inject_fault(path_contains="/results/", kind="malformed", times=1)
    assert hook.get_result(submitted["id"])["id"] == submitted["id"]


async def test_async_side_against_sandbox(cekura_sandbox: Sandbox) -> None:
    submitted = CekuraHook().submit_managed({"scenarios": [{"scenario": 2005}], "agent": 101, "frequency": 2})
    async with CekuraHook() as hook:
        result = await hook.aget_result(submitted["id"])
        runs = await hook.aget_runs_bulk([int(k) for k in result["runs"]])
        await hook.aend_calls(submitted["id"])
    assert len(runs) == 2
