"""One load → one trends pass → one report: each derived asset has one producer, each DAG one trigger.

Issue 9 item 4: the load recomputed trends AND emitted `regressions` while the trends DAG (triggered by the
same load) emitted it again, so the report ran twice per load. Checked here on the parsed DAGs (who
produces and who consumes each asset) and with `dag.test()` against the metadata database (which events a
load registers and which DAG runs they queue). What only a real scheduler shows — the queued runs actually
starting, once — is issue 12's end-to-end test.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cekura_livekit.assets import daily_asset, fact_assets, regressions_asset, runs_asset
from cekura_sandbox import Sandbox
from tests.support.warehouse import WarehouseTarget

ROOT = Path(__file__).resolve().parents[2]
WH, SCHEMA = "cekura_warehouse", "cekura"


@pytest.fixture(scope="module")
def dagbag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    return bag


def _producers(bag: Any) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for dag in bag.dags.values():
        for task in dag.tasks:
            for outlet in task.outlets:
                found[outlet.name].add(f"{dag.dag_id}.{task.task_id}")
    return found


def _consumers(bag: Any) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for dag in bag.dags.values():
        condition = getattr(dag.timetable, "asset_condition", None)
        if condition is None:
            continue
        for asset in _assets_in(condition):
            found[asset.name].add(dag.dag_id)
    return found


def _assets_in(condition: Any) -> list[Any]:
    """The assets of a schedule condition (an Asset, or nested AssetAll / AssetAny)."""
    nested = getattr(condition, "objects", None)
    if nested is None:
        return [condition]
    return [a for obj in nested for a in _assets_in(obj)]


def test_each_asset_has_one_kind_of_producer(dagbag: Any) -> None:
    producers = _producers(dagbag)
    suites = {d for d in dagbag.dags if d.startswith("cekura_regression_")}
    for asset in fact_assets(WH, SCHEMA):
        assert producers[asset.name] == {f"{d}.load_results" for d in suites} | {
            "cekura_sync.sync_results"
        }, asset.name
    assert producers[daily_asset(WH, SCHEMA).name] == {"cekura_trends.refresh_trends"}
    assert producers[regressions_asset(WH, SCHEMA).name] == {"cekura_trends.detect_and_alert"}


def test_trends_runs_on_loads_and_the_report_on_the_last_trends_asset(dagbag: Any) -> None:
    consumers = _consumers(dagbag)
    assert consumers[runs_asset(WH, SCHEMA).name] == {"cekura_trends"}
    assert consumers[regressions_asset(WH, SCHEMA).name] == {"cekura_report"}
    everything_else = set(consumers) - {runs_asset(WH, SCHEMA).name, regressions_asset(WH, SCHEMA).name}
    assert everything_else == set()  # no DAG is triggered by results, run_metrics or the daily table
    trends = dagbag.dags["cekura_trends"]
    # The asset the report waits for is produced by the trends DAG's last task.
    assert [t.task_id for t in trends.leaves] == ["detect_and_alert"]
    assert trends.get_task("detect_and_alert").upstream_task_ids == {"refresh_trends"}


def _scheduler_asset_housekeeping() -> None:
    """What the scheduler does every loop: retire assets no DAG references any more (here: the longer names
    of earlier versions, which share the URIs) and activate the referenced ones; events only go to active
    assets."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.utils.session import create_session

    with create_session() as session:
        SchedulerJobRunner(job=Job(), num_runs=1)._update_asset_orphanage(session=session)


def _queued(dag_ids: set[str]) -> dict[str, int]:
    from airflow.models.asset import AssetDagRunQueue
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(AssetDagRunQueue.target_dag_id).all()
    counts: dict[str, int] = defaultdict(int)
    for (dag_id,) in rows:
        if dag_id in dag_ids:
            counts[dag_id] += 1
    return dict(counts)


def _events(name: str, since: datetime) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == name, AssetEvent.timestamp >= since)
            .all()
        )
        return [dict(r.extra or {}) for r in rows]


def test_one_load_registers_fact_events_with_run_dates_and_queues_trends_only(
    airflow_db: None,
    cekura_sandbox: Sandbox,
    cekura_sandbox_connections: dict[str, str],
    sqlite_warehouse: WarehouseTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """dag.test() of a suite: the load emits results/runs/run_metrics events carrying the run dates, no
    daily/regressions event, and the only DAG run it queues is `cekura_trends`; the trends pass then queues
    exactly one report."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.models.asset import AssetDagRunQueue
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    monkeypatch.setenv("CEKURA_WAREHOUSE_CONN_ID", sqlite_warehouse.conn_id)
    monkeypatch.setenv("CEKURA_POLL_INTERVAL_SECONDS", "0.5")
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    # A fresh metadata DB knows no bundle yet, and a DAG row needs its bundle's (as the dag-processor does).
    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(bag, "dags-folder", None)  # the scheduler's view: which DAG waits for which asset
    _scheduler_asset_housekeeping()
    watched = {"cekura_trends", "cekura_report"}
    with create_session() as session:
        session.query(AssetDagRunQueue).filter(AssetDagRunQueue.target_dag_id.in_(watched)).delete()
        # New DAGs start paused and paused DAGs are not queued: unpause the chain, as a deployment must.
        session.query(DagModel).filter(DagModel.dag_id.in_(watched)).update({"is_paused": False})
    start = datetime.now(UTC) - timedelta(seconds=1)
    day = datetime(2026, 11, 12, 3, tzinfo=UTC)
    cekura_sandbox.set_time(day)
    suite = "cekura_regression_acme_support_nightly"
    state = bag.dags[suite].test(logical_date=day + timedelta(microseconds=start.microsecond))
    assert str(state.state) in {"success", "failed"}  # failed = the suite's gate, never a crash

    conn = sqlite_warehouse.conn_id
    runs_events = _events(runs_asset(conn, SCHEMA).name, start)
    assert len(runs_events) == 1
    assert runs_events[0]["run_dates"] == ["2026-11-12"]
    assert len(_events(fact_assets(conn, SCHEMA)[0].name, start)) == 1
    assert _events(daily_asset(conn, SCHEMA).name, start) == []
    assert _events(regressions_asset(conn, SCHEMA).name, start) == []
    assert _queued(watched) == {"cekura_trends": 1}

    with create_session() as session:
        session.query(AssetDagRunQueue).filter(AssetDagRunQueue.target_dag_id.in_(watched)).delete()
    trends = bag.dags["cekura_trends"].test(logical_date=day + timedelta(hours=3))
    assert str(trends.state) == "success"
    assert len(_events(daily_asset(conn, SCHEMA).name, start)) == 1
    assert len(_events(regressions_asset(conn, SCHEMA).name, start)) == 1
    assert _queued(watched) == {"cekura_report": 1}
    with create_session() as session:
        session.query(DagModel).filter(DagModel.dag_id.in_(watched)).update({"is_paused": True})
