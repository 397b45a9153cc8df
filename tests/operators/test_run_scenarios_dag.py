"""Real Airflow runs (dag.test(), which runs triggers inline) against the sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from cekura_sandbox import Sandbox

pytestmark = pytest.mark.usefixtures("airflow_db")


def _states(dr: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dr.get_task_instances()}


def test_deferrable_operator_defers_and_the_trigger_event_completes_it(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    from unittest import mock

    from cekura_livekit.operators.run_scenarios import CekuraRunLiveKitScenariosOperator
    from cekura_livekit.triggers.runs import CekuraRunsTrigger
    from tests.dag_files.op_cekura_flow import deferrable_dag

    # Spy on both ends of a deferral: the trigger's run() must have produced the event that
    # execute_complete judged. A task that finished in execute() without deferring calls neither.
    events: list[dict] = []
    real_run, real_complete = CekuraRunsTrigger.run, CekuraRunLiveKitScenariosOperator.execute_complete

    async def spied_run(trigger: CekuraRunsTrigger) -> Any:
        async for event in real_run(trigger):
            events.append(event.payload)
            yield event

    with (
        mock.patch.object(CekuraRunsTrigger, "run", spied_run),
        mock.patch.object(
            CekuraRunLiveKitScenariosOperator, "execute_complete", autospec=True, side_effect=real_complete
        ) as completed,
    ):
        dr = deferrable_dag.test()
    assert _states(dr) == {"run_suite": "success"}
    (ti,) = dr.get_task_instances()
    assert len(events) == 1
    assert events[0]["status"] == "terminal"
    completed.assert_called_once()
    assert events[0] in [*completed.call_args.args, *completed.call_args.kwargs.values()]
    assert cekura_sandbox.count("POST", "run_scenarios_livekit_v2") == 1
    summary = ti.xcom_pull(task_ids="run_suite")
    assert summary["status"] == "completed"
    assert summary["total"] == 3
    assert ti.xcom_pull(task_ids="run_suite", key="dashboard_url").endswith(
        f"/results/{summary['result_id']}"
    )
    # The link the UI shows was computed on the worker from the XCom.
    assert ti.xcom_pull(task_ids="run_suite", key="_link_CekuraResultLink") == summary["dashboard_url"]


def test_operator_then_sensor_by_result_id(cekura_sandbox: Sandbox, cekura_sandbox_connections: dict) -> None:
    from tests.dag_files.op_cekura_flow import sensor_dag

    dr = sensor_dag.test()
    assert _states(dr) == {"submit": "success", "wait": "success", "wait_poke": "success"}
    tis = {ti.task_id: ti for ti in dr.get_task_instances()}
    summary = tis["wait"].xcom_pull(task_ids="wait")
    assert summary["result_id"] == tis["submit"].xcom_pull(task_ids="submit", key="result_id")
    assert summary["status"] == "completed"
    assert cekura_sandbox.count("POST", "run_scenarios_livekit_v2") == 1


def test_retry_after_crash_reattaches_without_resubmitting(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    from tests.dag_files.op_cekura_flow import retry_dag

    dr = retry_dag.test()
    (ti,) = dr.get_task_instances()
    assert ti.state == "success"
    assert ti.try_number == 2
    assert cekura_sandbox.count("POST", "run_scenarios_livekit_v2") == 1


def test_byo_deferrable_cleans_up_and_leaks_no_secret(
    cekura_sandbox: Sandbox,
    cekura_sandbox_connections: dict,
    capfd: pytest.CaptureFixture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import json
    import logging

    from tests.dag_files.op_cekura_flow import byo_dag

    caplog.set_level(logging.DEBUG)
    dr = byo_dag.test()
    (ti,) = dr.get_task_instances()
    assert ti.state == "success"
    assert cekura_sandbox.count("POST", "CreateDispatch") == 4 + 1  # + the agent probe's, before paying
    assert cekura_sandbox.livekit_rooms == {}  # deleted after the trigger's event, in execute_complete
    # Deleted, or closed by LiveKit `departure_timeout` after the tester left (can come first at this speed).
    gone = set(cekura_sandbox.livekit_deleted_rooms) | {n for n, _ in cekura_sandbox.livekit_closed_rooms}
    assert len({r for r in gone if not r.startswith("cekura-probe-")}) == 4
    xcoms = {
        key: ti.xcom_pull(task_ids="run_byo", key=key)
        for key in ("return_value", "result_id", "run_ids", "dashboard_url", "failing_runs")
    }
    out, err = capfd.readouterr()
    task_log = out + err + caplog.text
    assert "Dispatched agent" in task_log
    tokens = [r.access_token for r in cekura_sandbox.store.runs.values()]
    assert len(tokens) == 4
    blob = task_log + json.dumps(xcoms, default=str)
    for secret in [cekura_sandbox.api_key, cekura_sandbox.livekit_api_secret, *tokens]:
        assert secret not in blob
