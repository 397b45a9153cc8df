"""Real Airflow runs (dag.test(), which runs triggers inline) against the sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from cekura_livekit.sandbox import Sandbox

pytestmark = pytest.mark.usefixtures("airflow_db")


def _states(dr: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dr.get_task_instances()}


def test_deferrable_operator_defers_and_the_trigger_event_completes_it(
    sandbox: Sandbox, sandbox_connections: dict
) -> None:
    from tests.dag_files.op_cekura_flow import deferrable_dag

    dr = deferrable_dag.test()
    assert _states(dr) == {"run_suite": "success"}
    (ti,) = dr.get_task_instances()
    assert ti.next_method is None or ti.next_method == "execute_complete"
    assert sandbox.count("POST", "run_scenarios_livekit_v2") == 1
    summary = ti.xcom_pull(task_ids="run_suite")
    assert summary["status"] == "completed" and summary["total"] == 3
    assert ti.xcom_pull(task_ids="run_suite", key="dashboard_url").endswith(
        f"/results/{summary['result_id']}"
    )
    # The link the UI shows was computed on the worker from the XCom.
    assert ti.xcom_pull(task_ids="run_suite", key="_link_CekuraResultLink") == summary["dashboard_url"]


def test_operator_then_sensor_by_result_id(sandbox: Sandbox, sandbox_connections: dict) -> None:
    from tests.dag_files.op_cekura_flow import sensor_dag

    dr = sensor_dag.test()
    assert _states(dr) == {"submit": "success", "wait": "success", "wait_poke": "success"}
    tis = {ti.task_id: ti for ti in dr.get_task_instances()}
    summary = tis["wait"].xcom_pull(task_ids="wait")
    assert summary["result_id"] == tis["submit"].xcom_pull(task_ids="submit", key="result_id")
    assert summary["status"] == "completed"
    assert sandbox.count("POST", "run_scenarios_livekit_v2") == 1


def test_retry_after_crash_reattaches_without_resubmitting(
    sandbox: Sandbox, sandbox_connections: dict
) -> None:
    from tests.dag_files.op_cekura_flow import retry_dag

    dr = retry_dag.test()
    (ti,) = dr.get_task_instances()
    assert ti.state == "success"
    assert ti.try_number == 2
    assert sandbox.count("POST", "run_scenarios_livekit_v2") == 1
