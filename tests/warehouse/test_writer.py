"""Loading into real PostgreSQL and SQLite: idempotency, updates, atomicity, dialects, concurrent loads."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pandas as pd
import pytest

from cekura_livekit.results.frames import extract
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.engines import UnsupportedDialectError
from cekura_livekit.warehouse.tables import (
    ALL_TABLES,
    REGRESSIONS,
    RESULTS,
    RUN_METRICS,
    RUNS,
    SUCCESS_RATE_DAILY,
    Table,
)
from cekura_livekit.warehouse.writer import load_extract
from tests.support.warehouse import WarehouseTarget, make_result, make_run


def _rows(
    target: WarehouseTarget, table: Table, order: str, exclude: tuple[str, ...] = ()
) -> list[tuple[Any, ...]]:
    with open_warehouse(target.conn_id, target.schema) as wh:
        cols = [c for c in table.column_names if c not in exclude]
        columns = ", ".join(wh.dialect.quote(c) for c in cols)
        _, rows = wh.query(f"SELECT {columns} FROM {wh.dialect.table(table)} ORDER BY {order}")
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
    traces[2] = {"not": "bindable"}  # the third run cannot be bound by the driver
    changed.runs = changed.runs.assign(trace_id=pd.Series(traces, dtype=object))
    if warehouse.dialect != "mysql":  # MySQLdb binds any object as its text, so no bind error happens there;
        # the injected failure below proves the same all-or-nothing on MariaDB
        with pytest.raises(Exception, match=r"(?i)dict|bind|adapt|type"):
            load_extract(warehouse.conn_id, changed, warehouse.schema)
        assert {t.name: _rows(warehouse, t, ", ".join(t.key)) for t in ALL_TABLES} == snapshot

    # 2) an exception after every statement ran (trends included when asked for), just before commit
    def boom(_cur: Any) -> None:
        raise RuntimeError("injected failure between the statements and the commit")

    good = extract(make_result(100, [make_run(1, day="2024-03-01", outcome="failed_evaluation")]))
    for recompute in (False, True):
        with pytest.raises(RuntimeError, match="injected"):
            load_extract(
                warehouse.conn_id, good, warehouse.schema, recompute_trends=recompute, _before_commit=boom
            )
        assert {t.name: _rows(warehouse, t, ", ".join(t.key)) for t in ALL_TABLES} == snapshot


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
    monkeypatch.setenv("AIRFLOW_CONN_WH_ORACLE", json.dumps({"conn_type": "oracle", "host": "127.0.0.1"}))
    with pytest.raises(UnsupportedDialectError, match="conn_type='oracle'") as info:
        load_extract("wh_oracle", extract(_batch()))
    assert "postgres" in str(info.value)
    assert "sqlite" in str(info.value)


@pytest.mark.parametrize("schema", ["bad-name", "1x", "a;drop", ""])
def test_bad_schema_fails_before_any_side_effect(sqlite_warehouse: WarehouseTarget, schema: str) -> None:
    with pytest.raises(ValueError, match="schema="):
        load_extract(sqlite_warehouse.conn_id, extract(_batch()), schema)


def test_bad_trailing_days_fails_early(sqlite_warehouse: WarehouseTarget) -> None:
    with pytest.raises(ValueError, match="trailing_days=-1"):
        load_extract(sqlite_warehouse.conn_id, extract(_batch()), trailing_days=-1)


def test_a_load_writes_facts_only_unless_asked_to_recompute(warehouse: WarehouseTarget) -> None:
    """Trends belong to the trends DAG: by default a load leaves the derived tables alone."""
    summary = load_extract(warehouse.conn_id, extract(_batch("failed_evaluation")), warehouse.schema)
    assert (summary.daily_rows, summary.daily_since, summary.regression_days) == (0, None, [])
    assert summary.run_dates == ["2024-03-01", "2024-03-02"]
    assert _count(warehouse, SUCCESS_RATE_DAILY) == 0
    assert _count(warehouse, REGRESSIONS) == 0

    summary = load_extract(
        warehouse.conn_id, extract(_batch("failed_evaluation")), warehouse.schema, recompute_trends=True
    )
    assert summary.daily_since == "2024-02-02"  # earliest touched day - 28 trailing days
    assert summary.daily_rows == 2
    assert summary.regression_days == ["2024-03-01", "2024-03-02"]
    assert _count(warehouse, SUCCESS_RATE_DAILY) == 2


def _same_day_batch(result_id: int, first_run: int, count: int) -> Any:
    runs = [make_run(first_run + i, day="2024-03-01", result_id=result_id) for i in range(count)]
    return extract(make_result(result_id, runs))


@pytest.mark.postgres
def test_overlapping_loads_of_one_day_give_an_exact_daily_row(pg_warehouse: WarehouseTarget) -> None:
    """Issue 11 item 4: load A recomputes and holds its transaction open; load B of the same agent /
    scenario / day recomputes meanwhile. Without the trends lock B rebuilt the daily row from a snapshot
    missing A's runs (runs 30, daily 15); with it, B waits and counts all 30."""
    import psycopg

    from tests.support.warehouse import PG_DSN

    target = pg_warehouse
    load_extract(target.conn_id, _same_day_batch(1, 1, 1), target.schema)  # tables exist: no DDL lock
    holding = threading.Event()
    release = threading.Event()
    a_pid: list[int] = []
    errors: list[BaseException] = []

    def hold(cur: Any) -> None:
        a_pid.append(cur.connection.info.backend_pid)
        holding.set()
        assert release.wait(30), "the test never released load A"

    def run(batch: Any, **kw: Any) -> None:
        try:
            load_extract(target.conn_id, batch, target.schema, recompute_trends=True, **kw)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    a = threading.Thread(target=run, args=(_same_day_batch(2, 100, 15),), kwargs={"_before_commit": hold})
    b = threading.Thread(target=run, args=(_same_day_batch(3, 200, 15),))
    a.start()
    assert holding.wait(30)
    b.start()
    # Release A only once B is really blocked behind it (whatever it waits for), so the loads overlap.
    with psycopg.connect(PG_DSN, autocommit=True) as watch:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            row = watch.execute(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", (a_pid[0],)
            ).fetchone()
            if row and row[0] > 0:
                break
            time.sleep(0.05)
        else:
            pytest.fail("load B never waited for load A: the loads did not overlap")
    release.set()
    a.join(60)
    b.join(60)
    assert not errors, errors
    with psycopg.connect(PG_DSN) as conn:
        runs = conn.execute(f'SELECT COUNT(*) FROM "{target.schema}".cekura_runs').fetchone()
        daily = conn.execute(
            f'SELECT runs, passed, evaluated FROM "{target.schema}".cekura_success_rate_daily'
        ).fetchall()
    assert runs == (31,)
    assert daily == [(31, 31, 31)]
