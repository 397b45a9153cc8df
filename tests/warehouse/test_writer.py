"""Loading into real PostgreSQL and SQLite: schema, evolution, idempotency, updates, atomicity, dialects."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from cekura_livekit.results.frames import extract
from cekura_livekit.warehouse.dialects import UnsupportedDialectError, open_warehouse
from cekura_livekit.warehouse.tables import ALL_TABLES, RESULTS, RUN_METRICS, RUNS, Table
from cekura_livekit.warehouse.writer import load_extract
from tests.support.warehouse import WarehouseTarget, make_result, make_run


def _rows(
    target: WarehouseTarget, table: Table, order: str, exclude: tuple[str, ...] = ()
) -> list[tuple[Any, ...]]:
    with open_warehouse(target.conn_id, target.schema) as wh:
        cols = [c for c in table.column_names if c not in exclude]
        _, rows = wh.query(f"SELECT {', '.join(cols)} FROM {wh.dialect.table(table)} ORDER BY {order}")
    return rows


def _count(target: WarehouseTarget, table: Table) -> int:
    with open_warehouse(target.conn_id, target.schema) as wh:
        _, rows = wh.query(f"SELECT COUNT(*) FROM {wh.dialect.table(table)}")
    return int(rows[0][0])


def _batch(outcome_of_2: str = "pending") -> dict[str, Any]:
    runs = [
        make_run(1, day="2024-03-01", outcome="passed", metrics=2),
        make_run(2, day="2024-03-01", outcome=outcome_of_2, metrics=1),
        make_run(3, day="2024-03-02", outcome="infra_error", scenario=None),
    ]
    return make_result(100, runs)


def test_load_creates_schema_and_tables(warehouse: WarehouseTarget) -> None:
    summary = load_extract(warehouse.conn_id, extract(_batch()), warehouse.schema)
    assert summary.results == 1
    assert summary.runs == 3
    assert summary.run_metrics == 3
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        names = {wh.dialect.raw_table_name(t) for t in ALL_TABLES}
        if wh.dialect.name == "postgres":
            _, rows = wh.query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (warehouse.schema,),
            )
        else:
            _, rows = wh.query("SELECT name FROM sqlite_master WHERE type = 'table'")
    assert names <= {r[0] for r in rows}
    assert names == {
        "cekura_results",
        "cekura_runs",
        "cekura_run_metrics",
        "cekura_success_rate_daily",
        "cekura_regressions",
    }
    assert _count(warehouse, RUNS) == 3
    assert _count(warehouse, RUN_METRICS) == 3


def test_reload_is_idempotent(warehouse: WarehouseTarget) -> None:
    frames = extract(_batch())
    load_extract(warehouse.conn_id, frames, warehouse.schema)
    before = {t.name: _rows(warehouse, t, ", ".join(t.key)) for t in (RESULTS, RUNS, RUN_METRICS)}
    again = load_extract(warehouse.conn_id, extract(_batch()), warehouse.schema)
    assert again.changed == {"results": 0, "runs": 0, "run_metrics": 0}
    after = {t.name: _rows(warehouse, t, ", ".join(t.key)) for t in (RESULTS, RUNS, RUN_METRICS)}
    assert after == before  # loaded_at included: unchanged rows are not even touched
    assert [_count(warehouse, t) for t in (RESULTS, RUNS, RUN_METRICS)] == [1, 3, 3]


def test_changed_status_is_updated(warehouse: WarehouseTarget) -> None:
    load_extract(warehouse.conn_id, extract(_batch("pending")), warehouse.schema)
    summary = load_extract(warehouse.conn_id, extract(_batch("failed_evaluation")), warehouse.schema)
    assert summary.changed["runs"] == 1
    rows = _rows(warehouse, RUNS, "run_id")
    by_id = {r[0]: dict(zip(RUNS.column_names, r, strict=True)) for r in rows}
    assert by_id[2]["status"] == "completed"
    assert by_id[2]["outcome"] == "failed_evaluation"
    assert not by_id[2]["success"]
    assert by_id[1]["outcome"] == "passed"
    assert _count(warehouse, RUNS) == 3


def test_failure_mid_load_leaves_tables_as_they_were(warehouse: WarehouseTarget) -> None:
    load_extract(warehouse.conn_id, extract(_batch()), warehouse.schema)
    snapshot = {t.name: _rows(warehouse, t, ", ".join(t.key)) for t in ALL_TABLES}

    # 1) a bad row after good ones: results are upserted first, then the runs COPY/executemany hits it
    changed = extract(
        make_result(
            100,
            [
                make_run(1, day="2024-03-01", outcome="failed_evaluation"),
                make_run(4, day="2024-03-03"),
                make_run(5, day="2024-03-03"),
            ],
        )
    )
    changed.results.loc[:, "name"] = "renamed"
    traces: list[object] = changed.runs["trace_id"].tolist()
    traces[2] = {"not": "bindable"}  # the third run cannot be bound by either driver
    changed.runs = changed.runs.assign(trace_id=pd.Series(traces, dtype=object))
    with pytest.raises(Exception, match=r"(?i)dict|bind|adapt|type"):
        load_extract(warehouse.conn_id, changed, warehouse.schema)
    assert {t.name: _rows(warehouse, t, ", ".join(t.key)) for t in ALL_TABLES} == snapshot

    # 2) an exception after every statement ran (trends included), just before commit
    def boom(_cur: Any) -> None:
        raise RuntimeError("injected failure between the statements and the commit")

    good = extract(make_result(100, [make_run(1, day="2024-03-01", outcome="failed_evaluation")]))
    with pytest.raises(RuntimeError, match="injected"):
        load_extract(warehouse.conn_id, good, warehouse.schema, _before_commit=boom)
    assert {t.name: _rows(warehouse, t, ", ".join(t.key)) for t in ALL_TABLES} == snapshot


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


def test_values_round_trip_with_types(warehouse: WarehouseTarget) -> None:
    frames = extract(_batch("timeout"))
    load_extract(warehouse.conn_id, frames, warehouse.schema)
    rows = _rows(warehouse, RUNS, "run_id", exclude=("loaded_at",))
    got = pd.DataFrame(rows, columns=[c for c in RUNS.column_names if c != "loaded_at"])
    assert got["run_id"].tolist() == [1, 2, 3]
    assert got["outcome"].tolist() == ["passed", "timeout", "infra_error"]
    assert got["duration_s"].tolist() == [90.0, 90.0, 90.0]
    assert [str(d) for d in got["run_date"]] == ["2024-03-01", "2024-03-01", "2024-03-02"]
    assert got["scenario_id"].isna().tolist() == [False, False, True]
    started = pd.to_datetime(got["started_at"].astype(str), utc=True, format="ISO8601")
    assert started.tolist() == frames.runs["started_at"].tolist()


def test_unsupported_connection_type_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WH_MYSQL", json.dumps({"conn_type": "mysql", "host": "127.0.0.1"}))
    with pytest.raises(UnsupportedDialectError, match="conn_type='mysql'") as info:
        load_extract("wh_mysql", extract(_batch()))
    assert "postgres" in str(info.value)
    assert "sqlite" in str(info.value)


@pytest.mark.parametrize("schema", ["bad-name", "1x", "a;drop", ""])
def test_bad_schema_fails_before_any_side_effect(sqlite_warehouse: WarehouseTarget, schema: str) -> None:
    with pytest.raises(ValueError, match="schema="):
        load_extract(sqlite_warehouse.conn_id, extract(_batch()), schema)


def test_bad_trailing_days_fails_early(sqlite_warehouse: WarehouseTarget) -> None:
    with pytest.raises(ValueError, match="trailing_days=-1"):
        load_extract(sqlite_warehouse.conn_id, extract(_batch()), trailing_days=-1)


def test_sqlite_schema_is_a_table_prefix(sqlite_warehouse: WarehouseTarget) -> None:
    load_extract(sqlite_warehouse.conn_id, extract(_batch()), "qa")
    with open_warehouse(sqlite_warehouse.conn_id, "qa") as wh:
        _, rows = wh.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    assert [r[0] for r in rows] == [
        "qa_regressions",
        "qa_results",
        "qa_run_metrics",
        "qa_runs",
        "qa_success_rate_daily",
    ]
