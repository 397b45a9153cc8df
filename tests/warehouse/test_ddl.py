"""Table DDL (`warehouse/ddl.py`): creation, evolution, and race-free first loads on real databases."""

from __future__ import annotations

import threading

import pytest

from cekura_livekit.results.frames import extract
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.ddl import ensure_tables, missing_columns
from cekura_livekit.warehouse.tables import (
    ALERTS,
    ALL_TABLES,
    BATCH_DIFFS,
    FACT_TABLES,
    RUN_METRICS,
    RUNS,
    SYNC_STATE,
    TREND_TABLES,
)
from cekura_livekit.warehouse.writer import load_extract
from tests.support.warehouse import WarehouseTarget, make_result, make_run
from tests.warehouse.test_writer import _batch, _count, _rows


def test_every_table_is_declared_once_in_tables_py() -> None:
    assert (*FACT_TABLES, *TREND_TABLES, ALERTS, BATCH_DIFFS, SYNC_STATE) == ALL_TABLES
    assert len({t.name for t in ALL_TABLES}) == len(ALL_TABLES)
    assert ALERTS.name == "regression_alerts"


def test_load_creates_schema_and_tables(warehouse: WarehouseTarget) -> None:
    summary = load_extract(warehouse.conn_id, extract(_batch()), warehouse.schema)
    assert summary.results == 1
    assert summary.runs == 3
    assert summary.run_metrics == 3
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        names = {wh.dialect.raw_table_name(t) for t in ALL_TABLES}
        cur = wh.conn.cursor()
        try:
            existing = {wh.dialect.raw_table_name(t) for t in ALL_TABLES if wh.dialect.table_exists(cur, t)}
        finally:
            cur.close()
    assert names <= existing
    assert names == {
        "cekura_results",
        "cekura_runs",
        "cekura_run_metrics",
        "cekura_success_rate_daily",
        "cekura_regressions",
        "cekura_regression_alerts",
        "cekura_regression_episodes",
        "cekura_metric_daily",
        "cekura_metric_episodes",
        "cekura_metric_regressions",
        "cekura_quality_alerts",
        "cekura_flaky_scenarios",
        "cekura_batch_diffs",
        "cekura_sync_state",
    }
    assert _count(warehouse, RUNS) == 3
    assert _count(warehouse, RUN_METRICS) == 3


def test_new_column_is_added_to_an_existing_table(warehouse: WarehouseTarget) -> None:
    # An older version's runs table: no trace_id, no expected_outcome_score, one row already in it.
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh, wh.transaction() as cur:
        wh.dialect.ensure_schema(cur)
        cur.execute(
            f"CREATE TABLE {wh.dialect.table(RUNS)} (run_id BIGINT NOT NULL PRIMARY KEY, status TEXT, outcome TEXT)"
        )
        cur.execute(f"INSERT INTO {wh.dialect.table(RUNS)} (run_id, status) VALUES (999, 'completed')")
    summary = load_extract(warehouse.conn_id, extract(_batch()), warehouse.schema)
    prefix = "cekura_runs."
    assert f"{prefix}trace_id" in summary.columns_added
    assert f"{prefix}expected_outcome_score" in summary.columns_added
    assert f"{prefix}status" not in summary.columns_added
    rows = {r[0]: r for r in _rows(warehouse, RUNS, "run_id")}
    assert set(rows) == {1, 2, 3, 999}
    score_at = RUNS.column_names.index("expected_outcome_score")
    assert rows[1][score_at] == 100.0
    assert rows[999][score_at] is None
    # a second load adds nothing more
    assert load_extract(warehouse.conn_id, extract(_batch()), warehouse.schema).columns_added == []


def test_ensure_tables_on_a_complete_warehouse_changes_nothing(warehouse: WarehouseTarget) -> None:
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh, wh.transaction() as cur:
        assert ensure_tables(wh.dialect, cur) == []
        assert missing_columns(wh.dialect, cur) == {}
        assert ensure_tables(wh.dialect, cur) == []


@pytest.mark.postgres
def test_concurrent_first_loads_into_a_new_schema_all_succeed(pg_warehouse: WarehouseTarget) -> None:
    """Issue 11 item 5: 24 loads start together against a schema that does not exist yet. Without the DDL
    lock some failed on `pg_namespace` / `pg_type` unique keys; every one must succeed, rows exact."""
    loads = 24
    barrier = threading.Barrier(loads)
    errors: list[str] = []

    def first_load(i: int) -> None:
        runs = [make_run(1000 * i + j, day="2024-03-01", result_id=i + 1) for j in range(5)]
        frames = extract(make_result(i + 1, runs))
        barrier.wait(30)
        try:
            load_extract(pg_warehouse.conn_id, frames, pg_warehouse.schema, recompute_trends=True)
        except Exception as exc:
            errors.append(f"load {i}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=first_load, args=(i,)) for i in range(loads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert _count(pg_warehouse, RUNS) == loads * 5
    with open_warehouse(pg_warehouse.conn_id, pg_warehouse.schema) as wh:
        _, rows = wh.query(f"SELECT runs FROM {wh.dialect.table(TREND_TABLES[0])}")
    assert rows == [(loads * 5,)]  # and the trend recomputes serialised: one exact daily row


def test_sqlite_schema_is_a_table_prefix(sqlite_warehouse: WarehouseTarget) -> None:
    load_extract(sqlite_warehouse.conn_id, extract(_batch()), "qa")
    with open_warehouse(sqlite_warehouse.conn_id, "qa") as wh:
        _, rows = wh.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    assert [r[0] for r in rows] == [
        "qa_batch_diffs",
        "qa_flaky_scenarios",
        "qa_metric_daily",
        "qa_metric_episodes",
        "qa_metric_regressions",
        "qa_quality_alerts",
        "qa_regression_alerts",
        "qa_regression_episodes",
        "qa_regressions",
        "qa_results",
        "qa_run_metrics",
        "qa_runs",
        "qa_success_rate_daily",
        "qa_sync_state",
    ]
