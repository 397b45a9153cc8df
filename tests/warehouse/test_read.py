"""Reading the warehouse back: typed frames, read-only (a missing table is an error that creates nothing,
a read-only role can read), and one connection for a whole report."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cekura_livekit.results.frames import extract
from cekura_livekit.tasks import report as report_tasks
from cekura_livekit.warehouse import connection
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.ddl import ensure_tables
from cekura_livekit.warehouse.read import (
    WarehouseTableMissingError,
    read_daily,
    read_flaky,
    read_regressions,
    read_runs_summary,
    read_worst_scenarios,
    select_daily,
    select_flaky_scores,
)
from cekura_livekit.warehouse.tables import ALL_TABLES
from cekura_livekit.warehouse.trends import detect_regressions
from cekura_livekit.warehouse.views import view_table
from cekura_livekit.warehouse.writer import load_extract
from tests.support.warehouse import PG_DSN, WarehouseTarget, make_result
from tests.warehouse.test_trends import RunMaker, _load


def test_flaky_has_one_definition_the_read_the_view_and_the_scores_agree(warehouse: WarehouseTarget) -> None:
    """Flaky = scored flaky in `cekura_flaky_scenarios` (flip rate over the window). The read used to
    count "mixed outcomes within one batch" instead, and disagreed with the view and the report."""
    m = RunMaker()
    runs = []
    for batch in range(1, 7):  # 6 batches × 4 runs: scenario 1 alternates, scenario 2 always passes
        day = f"2024-03-{batch:02d}"
        for i in range(4):
            runs += m.many(day, "passed" if i % 2 else "failed_evaluation", 1, scenario=1, result_id=batch)
            runs += m.many(day, "passed", 1, scenario=2, result_id=batch)
        # scenario 3: one mixed batch (the old definition's flaky), otherwise stable
        runs += m.many(day, "failed_evaluation" if batch == 1 else "passed", 4, scenario=3, result_id=batch)
        runs += m.many(day, "passed", 1, scenario=3, result_id=batch)
    for batch in range(1, 7):
        _load(warehouse, [r for r in runs if r["result_id"] == batch], result_id=batch)
    flaky = read_flaky(warehouse.conn_id, schema=warehouse.schema)
    assert flaky["scenario_id"].tolist() == [1]
    row = flaky.iloc[0]
    assert (row["status"], row["runs"], row["passed"], row["failed_evaluation"]) == ("flaky", 24, 12, 12)
    assert row["score"] == pytest.approx(1.0)
    assert row["scenario_name"] == "scenario-1"
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        view = wh.query(f"SELECT scenario_id FROM {wh.dialect.table(view_table('flaky_scenarios'))}")[1]
        scores = select_flaky_scores(wh)
    assert view == [(1,)]
    assert scores.loc[scores["status"] == "flaky", "scenario_id"].tolist() == [1]
    assert read_flaky(warehouse.conn_id, since="2024-03-07", schema=warehouse.schema).empty


def test_runs_summary_and_worst_scenarios(warehouse: WarehouseTarget) -> None:
    m = RunMaker()
    runs = [
        *m.many("2024-03-01", "passed", 6, scenario=1),
        *m.many("2024-03-01", "infra_error", 2, scenario=1),
        *m.many("2024-03-01", "passed", 1, scenario=2),
        *m.many("2024-03-01", "failed_evaluation", 5, scenario=2),
        *m.many("2024-03-02", "passed", 5, scenario=1, agent=2),
    ]
    _load(warehouse, runs)
    summary = read_runs_summary(warehouse.conn_id, schema=warehouse.schema)
    first = summary[(summary["run_date"] == pd.Timestamp("2024-03-01")) & (summary["agent_id"] == 1)].iloc[0]
    assert first["runs"] == 14
    assert first["infra_error_rate"] == pytest.approx(2 / 14)
    assert first["success_rate"] == pytest.approx(7 / 12)
    assert read_runs_summary(warehouse.conn_id, agent_id=2, schema=warehouse.schema)["agent_id"].tolist() == [
        2
    ]

    worst = read_worst_scenarios(warehouse.conn_id, days=7, min_evaluated=5, schema=warehouse.schema)
    assert worst[["agent_id", "scenario_id"]].values.tolist() == [[1, 2], [1, 1], [2, 1]]
    assert worst.iloc[0]["success_rate"] == pytest.approx(1 / 6)


def test_readers_on_an_empty_warehouse_return_empty_typed_frames(warehouse: WarehouseTarget) -> None:
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh, wh.transaction() as cur:
        ensure_tables(wh.dialect, cur)  # what the first load does
    daily = read_daily(warehouse.conn_id, schema=warehouse.schema)
    assert daily.empty
    assert str(daily["wilson_low"].dtype) == "Float64"
    assert read_regressions(warehouse.conn_id, schema=warehouse.schema).empty
    assert read_flaky(warehouse.conn_id, schema=warehouse.schema).empty
    assert detect_regressions(warehouse.conn_id, schema=warehouse.schema) == []


def _objects(target: WarehouseTarget, schema: str) -> list[str]:
    """Every schema or table a read could have left behind."""
    if target.dialect == "postgres":
        import psycopg

        with psycopg.connect(PG_DSN) as conn:
            rows = conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname = %s "
                "UNION ALL SELECT table_schema || '.' || table_name FROM information_schema.tables "
                "WHERE table_schema = %s",
                (schema, schema),
            ).fetchall()
    else:
        with open_warehouse(target.conn_id, schema) as wh:
            cur = wh.conn.cursor()
            try:
                d = wh.dialect
                found = {
                    d.raw_table_name(t) for t in ALL_TABLES if d.table_exists(cur, t)
                } | d.existing_views(cur)
            finally:
                cur.close()
        return sorted(found)
    return [r[0] for r in rows]


@pytest.mark.parametrize(
    "read",
    [
        lambda c, s: read_daily(c, schema=s),
        lambda c, s: read_regressions(c, schema=s),
        lambda c, s: read_flaky(c, schema=s),
        lambda c, s: read_runs_summary(c, schema=s),
        lambda c, s: read_worst_scenarios(c, schema=s),
        lambda c, s: report_tasks.latest_run_date(c, s),
        lambda c, s: report_tasks.render_report(c, s, "/nonexistent/never-written.html", today=None),
    ],
    ids=["daily", "regressions", "flaky", "runs_summary", "worst", "latest_run_date", "render_report"],
)
def test_a_read_of_a_missing_schema_is_a_clear_error_and_creates_nothing(
    warehouse: WarehouseTarget, read: Any
) -> None:
    """Issue 13 "reads never write": `read_daily(…, schema='analytics')` used to create a schema with five
    tables and return an empty frame."""
    schema = "analytics" if warehouse.dialect == "sqlite" else f"analytics_{uuid.uuid4().hex[:8]}"
    assert _objects(warehouse, schema) == []
    with pytest.raises(WarehouseTableMissingError) as info:
        read(warehouse.conn_id, schema)
    message = str(info.value)
    assert schema in message
    assert "Run a load" in message
    assert "check the schema name" in message
    assert info.value.schema == schema
    assert _objects(warehouse, schema) == []


def test_a_report_reads_on_one_connection(
    warehouse: WarehouseTarget, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    m = RunMaker()
    _load(warehouse, [*m.many("2024-03-01", "passed", 2), *m.many("2024-03-01", "failed_evaluation", 1)])
    opened: list[str] = []
    real = connection.open_warehouse

    def counting(conn_id: str, schema: str = "cekura") -> Any:
        opened.append(conn_id)
        return real(conn_id, schema)

    monkeypatch.setattr(connection, "open_warehouse", counting)
    out = report_tasks.render_report(warehouse.conn_id, warehouse.schema, str(tmp_path / "r.html"))
    assert opened == [warehouse.conn_id]
    assert out["days"] == 1
    assert out["flaky"] == 0  # 3 evaluated runs: below the 20 needed to score flakiness (warehouse/flaky.py)


def test_select_readers_share_an_open_warehouse(warehouse: WarehouseTarget) -> None:
    m = RunMaker()
    _load(warehouse, m.many("2024-03-01", "passed", 2))
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        first = select_daily(wh)
        second = select_daily(wh, since="2024-03-01")
    pd.testing.assert_frame_equal(first, second)
    assert first["runs"].tolist() == [2]


@pytest.mark.postgres
def test_a_read_only_role_reads_the_report_frames(
    pg_warehouse: WarehouseTarget, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An analyst role with USAGE on the schema and SELECT on its tables renders the report; the same role
    cannot load (so the test would notice if it could write)."""
    import psycopg

    m = RunMaker()
    runs = [*m.many("2024-03-01", "passed", 3), *m.many("2024-03-01", "failed_evaluation", 2)]
    _load(pg_warehouse, runs)
    role = f"cekura_reader_{uuid.uuid4().hex[:8]}"
    schema = pg_warehouse.schema
    with psycopg.connect(PG_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        admin.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
        admin.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
    monkeypatch.setenv(
        "AIRFLOW_CONN_WH_READER",
        json.dumps(
            {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": role, "schema": "test"}
        ),
    )
    try:
        out = report_tasks.render_report("wh_reader", schema, str(tmp_path / "report.html"))
        assert out["days"] == 1
        assert out["flaky"] == 0  # 5 evaluated runs: too few to score flakiness
        assert (tmp_path / "report.html").stat().st_size > 1000
        assert read_daily("wh_reader", schema=schema)["runs"].tolist() == [5]
        assert read_runs_summary("wh_reader", schema=schema)["passed"].tolist() == [3]
        assert report_tasks.latest_run_date("wh_reader", schema) is not None
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            load_extract("wh_reader", extract(make_result(9, runs)), schema)
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE "{role}"')
