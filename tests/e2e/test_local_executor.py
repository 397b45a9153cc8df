"""End to end on a real Airflow 3.3 deployment with the LocalExecutor: scheduler, dag-processor, triggerer and
api-server as separate processes on a PostgreSQL metadata DB, the sandbox as the Cekura/LiveKit services."""

from __future__ import annotations

import time

import pytest

from tests.e2e.stack import REGRESSION_DAG, AirflowStack, RegressionRun, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(600)]


def test_run_defers_and_the_triggerer_completes_the_wait(
    local_stack: AirflowStack, local_run: RegressionRun
) -> None:
    assert local_run.state == "success", local_stack.tail("scheduler")
    assert "deferred" in local_run.run_scenarios_states, local_run.run_scenarios_states
    assert local_run.run_scenarios_states[-1] == "success"
    ti = local_stack.task_instance(REGRESSION_DAG, local_run.run_id, "run_scenarios")
    assert ti["try_number"] == 1  # resumed after the trigger, not retried
    # The triggerer writes each trigger's log next to the task's attempt log (…/attempt=1.log.trigger.<id>.log).
    task_logs = local_stack.home / "logs" / f"dag_id={REGRESSION_DAG}" / f"run_id={local_run.run_id}"
    trigger_logs = sorted(task_logs.rglob("task_id=run_scenarios/*trigger*"))
    assert trigger_logs, sorted(p.name for p in (local_stack.home / "logs").rglob("*"))
    text = "\n".join(p.read_text(errors="replace") for p in trigger_logs)
    assert "trigger completed" in text, text[-3000:]


def test_the_wait_was_woken_by_the_sandbox_webhook_through_the_api_server(
    local_stack: AirflowStack, local_run: RegressionRun
) -> None:
    """Issue 22: the sandbox posts `result.completed` to the receiver the real api-server serves; it is
    recorded in the metadata database and NOTIFYs the triggerer, whose wait then reads the result once —
    no poll between its first read and the last (its safety poll is 10 minutes away)."""
    local_stack.assert_woken_by_webhook(local_run.run_id)


def test_warehouse_holds_every_run_exactly_once(local_stack: AirflowStack, local_run: RegressionRun) -> None:
    run_ids = local_stack.xcom(REGRESSION_DAG, local_run.run_id, "run_scenarios", "run_ids")
    assert len(run_ids) == 4  # 2 scenarios x frequency 2
    stored = dict(local_stack.warehouse_runs())
    assert sorted(stored) == sorted(str(r) for r in run_ids)
    assert set(stored.values()) == {1}


def test_cekura_result_link_has_the_dashboard_url(
    local_stack: AirflowStack, local_run: RegressionRun
) -> None:
    dashboard = local_stack.xcom(REGRESSION_DAG, local_run.run_id, "run_scenarios", "dashboard_url")
    result_id = local_stack.xcom(REGRESSION_DAG, local_run.run_id, "run_scenarios", "result_id")
    assert dashboard == f"https://dashboard.cekura.ai/11/results/{result_id}"
    links = local_stack.api(
        "GET", f"/dags/{REGRESSION_DAG}/dagRuns/{local_run.run_id}/taskInstances/run_scenarios/links"
    )
    assert links["extra_links"].get("Cekura result") == dashboard, links


def _finished_runs(stack: AirflowStack, dag_id: str) -> list[dict]:
    runs = stack.dag_runs(dag_id)
    return runs if runs and all(r["state"] in {"success", "failed"} for r in runs) else []


def test_asset_chain_ran_after_the_load(local_stack: AirflowStack, local_run: RegressionRun) -> None:
    with local_stack.phases.phase("asset chain"):
        trends = wait_for(
            "cekura_trends to run", lambda: _finished_runs(local_stack, "cekura_trends"), 120, 1
        )
        report = wait_for(
            "cekura_report to run", lambda: _finished_runs(local_stack, "cekura_report"), 120, 1
        )
    assert [r["state"] for r in trends][-1] == "success"
    assert [r["state"] for r in report][-1] == "success"
    assert all(r["run_type"] == "asset_triggered" for r in trends + report)
    report = local_stack.home / "reports" / "cekura_report.html"
    assert "<html" in report.read_text()[:500].lower()


def _wait_quiet(stack: AirflowStack) -> None:
    wait_for("cekura_report to run", lambda: _finished_runs(stack, "cekura_report"), 120, 1)
    time.sleep(8)  # a duplicate would be queued by now: the scheduler loops every second here


def test_trends_ran_once_per_load(local_stack: AirflowStack, local_run: RegressionRun) -> None:
    _wait_quiet(local_stack)
    assert len(local_stack.dag_runs("cekura_trends")) == 1


def test_report_ran_once_per_load(local_stack: AirflowStack, local_run: RegressionRun) -> None:
    _wait_quiet(local_stack)
    assert len(local_stack.dag_runs("cekura_report")) == 1
