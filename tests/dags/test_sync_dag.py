"""The `cekura_sync` DAG with real Airflow: hourly by default, configurable, feeds the trends DAG, backfills by
params — run with `dag.test()` against the sandbox and a SQLite warehouse."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cekura_livekit.assets import runs_asset
from cekura_sandbox import Sandbox
from tests.support.warehouse import WarehouseTarget

ROOT = Path(__file__).resolve().parents[2]
_counter = iter(range(1, 10_000))


def _bag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "cekura_sync.py"))
    assert bag.import_errors == {}
    return bag


def test_the_dag_is_hourly_and_produces_the_runs_asset() -> None:
    dag = _bag().dags["cekura_sync"]
    assert dag.timetable.expression == "0 * * * *"  # @hourly
    assert dag.max_active_runs == 1
    task = dag.get_task("sync_results")
    assert runs_asset("cekura_warehouse", "cekura").name in {a.name for a in task.outlets}  # trends run after
    assert set(dag.params) == {"since", "until"}


def test_schedule_and_scope_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CEKURA_SYNC_SCHEDULE", "*/20 * * * *")
    monkeypatch.setenv("CEKURA_SYNC_AGENT_IDS", "101, 102")
    dag = _bag().dags["cekura_sync"]
    assert dag.timetable.expression == "*/20 * * * *"
    assert dag.get_task("sync_results").agent_ids == [101, 102]
    monkeypatch.setenv("CEKURA_SYNC_SCHEDULE", "none")
    assert not _bag().dags["cekura_sync"].timetable.can_be_scheduled


def _finished(sandbox: Sandbox, result_id: int) -> None:
    from cekura_livekit.hooks.cekura import CekuraHook
    from cekura_livekit.models import ResultSummary

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ResultSummary.from_result(CekuraHook().get_result(result_id)).is_terminal:
            return
        time.sleep(0.1)
    raise AssertionError(f"result {result_id} did not finish")


def _loaded(target: WarehouseTarget) -> set[int]:
    from cekura_livekit.warehouse.connection import open_warehouse
    from cekura_livekit.warehouse.tables import RESULTS

    with open_warehouse(target.conn_id, target.schema) as wh:
        _, rows = wh.query(f"SELECT result_id FROM {wh.dialect.table(RESULTS)}")
    return {int(r[0]) for r in rows}


def test_dag_test_syncs_a_cron_result_then_backfills_a_range(
    airflow_db: None,
    cekura_sandbox: Sandbox,
    cekura_sandbox_connections: dict[str, str],
    sqlite_warehouse: WarehouseTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CEKURA_WAREHOUSE_CONN_ID", sqlite_warehouse.conn_id)
    monkeypatch.setenv("CEKURA_SYNC_AGENT_IDS", "101")
    now = datetime.now(UTC)
    cekura_sandbox.set_time(now - timedelta(hours=2))
    cron = int(cekura_sandbox.create_result("cron", 101, [2001])["id"])
    old = int(cekura_sandbox.create_result("cron", 101, [2001], at=now - timedelta(days=30))["id"])
    _finished(cekura_sandbox, cron)
    dag = _bag().dags["cekura_sync"]
    run = dag.test(logical_date=now + timedelta(microseconds=next(_counter)))
    assert str(run.state) == "success"
    assert _loaded(sqlite_warehouse) == {cron}  # 30 days back is before the first sync's look-back
    since = (now - timedelta(days=31)).date().isoformat()
    until = (now - timedelta(days=29)).date().isoformat()
    run = dag.test(
        logical_date=now + timedelta(microseconds=next(_counter)), run_conf={"since": since, "until": until}
    )
    assert str(run.state) == "success"
    assert _loaded(sqlite_warehouse) == {cron, old}


def test_webhooks_can_also_start_the_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 22.3: with CEKURA_SYNC_ON_WEBHOOKS, a result completed outside Airflow (the webhooks feed asset)
    runs the sync as well as its hourly schedule; without it the DAG stays purely time-scheduled."""
    from cekura_livekit.webhooks.feed import results_asset

    monkeypatch.setenv("CEKURA_SYNC_ON_WEBHOOKS", "true")
    timetable = _bag().dags["cekura_sync"].timetable
    assert type(timetable).__name__ == "AssetOrTimeSchedule"
    assert results_asset().uri in repr(timetable.asset_condition)
    assert timetable.timetable.expression == "0 * * * *"  # still hourly as well
