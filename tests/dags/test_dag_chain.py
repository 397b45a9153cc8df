"""The user-facing chain with real Airflow: regression DAGs → trends DAG → report DAG, via dag.test(),
against the sandbox, on SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cekura_sandbox import Sandbox
from tests.conftest import ARTIFACTS
from tests.support.chromium import chromium_or_skip, run_chromium
from tests.support.warehouse import PG_DSN, WarehouseTarget

ROOT = Path(__file__).resolve().parents[2]
NIGHTLY = "cekura_regression_acme_support_nightly"
BYO = "cekura_regression_acme_bookings_byo"
_counter = iter(range(1, 10_000))


def logical(day: datetime) -> datetime:
    """A logical date unique to this test session, so re-runs never collide with earlier DAG runs."""
    return day + timedelta(microseconds=next(_counter))


@pytest.fixture
def chain_env(
    airflow_db: None,
    cekura_sandbox_connections: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Path:
    monkeypatch.setenv("CEKURA_POLL_INTERVAL_SECONDS", "0.5")
    report = tmp_path / "reports" / "cekura_report.html"
    monkeypatch.setenv("CEKURA_REPORT_DESTINATION", str(report))
    return report


def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    return bag


def run_days(sandbox: Sandbox, dag_ids: list[str], days: list[datetime]) -> dict[str, str]:
    bag = dagbag()
    states = {}
    for day in days:
        sandbox.set_time(day)
        for dag_id in dag_ids:
            states[f"{dag_id}@{day.date()}"] = str(bag.dags[dag_id].test(logical_date=logical(day)).state)
    return states


def test_chain_on_sqlite_end_to_end(
    chain_env: Path,
    cekura_sandbox: Sandbox,
    sqlite_warehouse: WarehouseTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CEKURA_WAREHOUSE_CONN_ID", sqlite_warehouse.conn_id)
    days = [datetime(2026, 11, d, 3, tzinfo=UTC) for d in (12, 13, 14)]
    states = run_days(cekura_sandbox, [NIGHTLY], days) | run_days(cekura_sandbox, [BYO], days[-1:])
    assert set(states.values()) <= {"success", "failed"}  # failed = the suite's gate, never a crash
    assert cekura_sandbox.count("POST", "run_scenarios_livekit_v2") == 3
    assert cekura_sandbox.count("POST", "run_scenarios_livekit/") == 1
    # BYO: the DAG created 10 rooms, dispatched the agent into each, and deleted every one of them
    # (a room's dispatches go with it, as on a real server, so count the Twirp calls).
    # + 1 each: the agent probe's throw-away room and dispatch before anything is paid (issue 21.5)
    assert cekura_sandbox.count("POST", "RoomService/CreateRoom", server="livekit") == 10 + 1
    assert cekura_sandbox.count("POST", "AgentDispatchService/CreateDispatch", server="livekit") == 10 + 1
    # Gone: deleted by the task, or closed by LiveKit itself `departure_timeout` after the tester left
    # (at the sandbox's speed that can come first; the task's DeleteRoom then finds it gone, a 404).
    gone = set(cekura_sandbox.livekit_deleted_rooms) | {n for n, _ in cekura_sandbox.livekit_closed_rooms}
    byo_rooms = [r for r in gone if "acme-bookings" in r or "run-scenarios" in r]
    assert len(set(byo_rooms)) == 10
    assert not [r for r in cekura_sandbox.livekit_rooms if "run-scenarios" in r]

    bag = dagbag()
    after = days[-1] + timedelta(hours=3)
    assert str(bag.dags["cekura_trends"].test(logical_date=logical(after)).state) == "success"
    assert str(bag.dags["cekura_report"].test(logical_date=logical(after)).state) == "success"
    assert str(bag.dags["cekura_report_weekly"].test(logical_date=logical(after)).state) == "success"
    weekly = chain_env.parent / "weekly"
    assert (weekly / "cekura_report_2026-11-14.html").exists()  # dated by the newest day in the warehouse
    assert "cekura_report_2026-11-14.html" in (weekly / "index.html").read_text()

    db_path = re.search(r'"host": "([^"]+)"', __import__("os").environ["AIRFLOW_CONN_WH_SQLITE"]).group(1)
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT COUNT(*) FROM cekura_results").fetchone() == (4,)
        runs, dates = db.execute("SELECT COUNT(*), COUNT(DISTINCT run_date) FROM cekura_runs").fetchone()
        assert runs == 3 * 6 * 5 + 5 * 2
        assert dates == 3
        assert db.execute("SELECT COUNT(*) FROM cekura_success_rate_daily").fetchone()[0] == 3 * 6 + 5
        # The suite id travels from the regression DAG through the load into the rows: the trend grain.
        grain = set(db.execute("SELECT DISTINCT mode, suite FROM cekura_runs"))
        assert grain == {("voice/managed", "acme_support_nightly"), ("voice/byo", "acme_bookings_byo")}
        outcomes = {r[0] for r in db.execute("SELECT DISTINCT outcome FROM cekura_runs")}
        assert "passed" in outcomes
        assert outcomes <= {"passed", "failed_evaluation", "infra_error", "timeout", "cancelled"}

    html = chain_env.read_text()
    assert html.count('data-chart="success-rate"') == 2  # one chart per agent × mode
    assert 'data-chart="heatmap"' in html
    assert "Cancel subscription" in html
    assert "written by cekura-livekit: report" in html  # the marker that lets the next run overwrite it
    assert 'href="https://' in html  # rows link to their dashboard pages (stored at load time)

    browser = chromium_or_skip()
    dom = run_chromium(browser, chain_env.parent / "profile", "--dump-dom", chain_env.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("data-chart=") >= 4
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dag_chain_report.png"
    run_chromium(
        browser,
        chain_env.parent / "profile2",
        f"--screenshot={shot}",
        "--window-size=1400,2400",
        chain_env.as_uri(),
    )
    assert shot.stat().st_size > 50_000


@pytest.mark.postgres
def test_regression_dag_on_postgres(
    chain_env: Path, cekura_sandbox: Sandbox, pg_warehouse: WarehouseTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    monkeypatch.setenv("CEKURA_WAREHOUSE_CONN_ID", pg_warehouse.conn_id)
    monkeypatch.setenv("CEKURA_WAREHOUSE_SCHEMA", pg_warehouse.schema)
    day = datetime(2026, 11, 16, 3, tzinfo=UTC)
    states = run_days(cekura_sandbox, [NIGHTLY], [day])
    assert set(states.values()) <= {"success", "failed"}
    # Re-running the load for the same batch (a retry, a backfill) changes no row counts.
    bag = dagbag()
    load = bag.dags[NIGHTLY].get_task("load_results")
    result_id = cekura_sandbox.requests and max(
        int(r.path.rstrip("/").split("/")[-1])
        for r in cekura_sandbox.requests
        if re.search(r"/results/\d+/?$", r.path)
    )
    from cekura_livekit.operators.warehouse import CekuraResultsToWarehouseOperator

    with psycopg.connect(PG_DSN) as conn:
        before = conn.execute(f'SELECT COUNT(*) FROM "{pg_warehouse.schema}".cekura_runs').fetchone()
        assert before == (30,)
        again = CekuraResultsToWarehouseOperator(
            task_id="reload",
            result_id=result_id,
            warehouse_conn_id=pg_warehouse.conn_id,
            schema=pg_warehouse.schema,
            owner=load.owner,
        ).execute({})
        assert again["runs"] == 30
        after = conn.execute(f'SELECT COUNT(*) FROM "{pg_warehouse.schema}".cekura_runs').fetchone()
        assert after == before
        # The load wrote facts only; the trends step (the trends DAG's first task) derives the daily rows.
        from cekura_livekit.tasks.trends import refresh_trends

        refresh_trends(pg_warehouse.conn_id, pg_warehouse.schema, touched=again["run_dates"])
        daily = conn.execute(
            f'SELECT SUM(runs) FROM "{pg_warehouse.schema}".cekura_success_rate_daily'
        ).fetchone()
        assert daily == (30,)
