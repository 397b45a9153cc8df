"""Permanent errors fail at once, transient ones retry: real task runs (`dag.test()`, retries=2) on the sandbox.

Before issue 11 item 1, a foreign scenario id (Cekura 400), a rejected API key (401) and a missing connection
all went `up_for_retry`: three tries and minutes of backoff before a red run.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cekura_sandbox import Sandbox

pytestmark = pytest.mark.usefixtures("airflow_db")


def _run(case: str) -> Any:
    """The case's DAG (tests/dag_files/fail_fast_flow.py) through dag.test(); its only task instance."""
    from tests.dag_files.fail_fast_flow import dags

    dr = dags[case].test()
    (ti,) = dr.get_task_instances()
    return ti


def _reason(ti: Any) -> dict[str, str]:
    return ti.xcom_pull(task_ids="run_scenarios", key="failure_reason")


def test_foreign_scenario_fails_in_one_try_with_the_servers_message(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    ti = _run("foreign_scenario")  # 2101 belongs to agent 102
    assert ti.state == "failed"
    assert ti.try_number == 1
    assert cekura_sandbox.count("POST", "run_scenarios_livekit_v2") == 1
    reason = _reason(ti)
    assert reason["stage"] == "submit"
    assert reason["kind"] == "permanent"
    assert "2101" in reason["message"]
    assert "do not belong to agent 101" in reason["message"]


def test_rejected_api_key_fails_in_one_try(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_CEKURA_WRONG_KEY",
        json.dumps({"conn_type": "cekura", "host": cekura_sandbox.cekura_url, "password": "not-the-key"}),
    )
    ti = _run("wrong_key")
    assert ti.state == "failed"
    assert ti.try_number == 1
    assert cekura_sandbox.count("POST", "run_scenarios_livekit_v2") == 0  # refused at the lookup by name
    assert "was rejected" in _reason(ti)["message"]
    assert "not-the-key" not in json.dumps(_reason(ti))


def test_missing_connection_fails_in_one_try(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    ti = _run("missing_conn")
    assert ti.state == "failed"
    assert ti.try_number == 1
    assert "cekura_nowhere" in _reason(ti)["message"]
    assert cekura_sandbox.count() == 0


def test_unusable_warehouse_is_refused_before_submitting(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    # mysql_wh: a connection type no engine adapter claims (MySQL itself is supported since issue 23).
    monkeypatch.setenv("AIRFLOW_CONN_MYSQL_WH", json.dumps({"conn_type": "oracle", "host": "localhost"}))
    for case, expected in (("missing_warehouse", "not a defined"), ("mysql_warehouse", "conn_type='oracle'")):
        ti = _run(case)
        assert ti.state == "failed"
        assert ti.try_number == 1
        assert expected in _reason(ti)["message"]
        assert "Nothing was submitted" in _reason(ti)["message"]
    assert cekura_sandbox.count() == 0


def test_batch_bigger_than_max_runs_is_refused_before_any_call(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    ti = _run("too_big")
    assert ti.state == "failed"
    assert ti.try_number == 1
    assert "300 runs" in _reason(ti)["message"]
    assert "max_runs=200" in _reason(ti)["message"]
    assert cekura_sandbox.count() == 0


def test_a_503_outage_at_submit_is_retried_and_then_succeeds(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    cekura_sandbox.inject_fault("run_scenarios_livekit_v2", kind="503", times=1)
    ti = _run("outage")
    assert ti.state == "success"
    assert ti.try_number == 2
    assert cekura_sandbox.count("POST", "run_scenarios_livekit_v2") == 2  # the 503, then the real one
    assert len(cekura_sandbox.store.results) == 1


def test_a_malformed_2xx_submit_reattaches_instead_of_orphaning_the_batch(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    """Issue 11 item 3: a 200 with a broken body used to fail the task with no result id pushed."""
    cekura_sandbox.inject_fault("run_scenarios_livekit_v2", kind="malformed", times=1)
    ti = _run("malformed")
    assert ti.state == "success"
    assert cekura_sandbox.count("POST", "run_scenarios_livekit_v2") == 1
    (result_id,) = cekura_sandbox.store.results
    assert ti.xcom_pull(task_ids="run_scenarios", key="result_id") == result_id
