"""`scan`: the engine-neutral entry points of a refresh's read of the runs. On every engine the predicate
they give selects exactly the runs from `since` on; the tuning runs inside a transaction without error."""

from __future__ import annotations

from datetime import date

import pytest

from cekura_livekit.results.frames import extract
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.scan import runs_on, runs_since, tune_for_aggregation
from cekura_livekit.warehouse.tables import RUNS
from cekura_livekit.warehouse.writer import load_extract
from tests.support.warehouse import WarehouseTarget, make_result, make_run

DAYS = ["2024-03-01", "2024-03-02", "2024-03-05", "2024-03-10"]


@pytest.fixture
def loaded(warehouse: WarehouseTarget) -> WarehouseTarget:
    runs = [make_run(i, day=d) for i, d in enumerate(DAYS, start=1)]
    load_extract(warehouse.conn_id, extract(make_result(1, runs)), warehouse.schema)
    return warehouse


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        (date(2024, 3, 10), [4]),  # the last day only: the index is the fast path
        (date(2024, 3, 2), [2, 3, 4]),  # most of the history: an engine may prefer a scan
        (date(2024, 2, 1), [1, 2, 3, 4]),  # before everything
        (date(2024, 4, 1), []),
    ],
)
def test_the_predicate_selects_the_runs_from_since_on(
    loaded: WarehouseTarget, since: date, expected: list[int]
) -> None:
    with open_warehouse(loaded.conn_id, loaded.schema) as wh:
        cur = wh.conn.cursor()
        try:
            predicate = runs_since(wh.dialect, cur, since)
            assert "run_date" in predicate
            cur.execute(
                f"SELECT run_id FROM {wh.dialect.table(RUNS)} WHERE {predicate} ORDER BY run_id",
                (since.isoformat(),),
            )
            assert [r[0] for r in cur.fetchall()] == expected
        finally:
            cur.close()
            wh.dialect.end_read(wh.conn)


def test_another_column_can_be_named(loaded: WarehouseTarget) -> None:
    with open_warehouse(loaded.conn_id, loaded.schema) as wh:
        cur = wh.conn.cursor()
        try:
            assert "started_at" in runs_since(wh.dialect, cur, date(2024, 3, 1), column="started_at")
        finally:
            cur.close()
            wh.dialect.end_read(wh.conn)


def test_an_empty_runs_table_still_gives_a_working_predicate(warehouse: WarehouseTarget) -> None:
    from cekura_livekit.warehouse.ddl import ensure_tables

    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh, wh.transaction() as cur:
        ensure_tables(wh.dialect, cur)
        since = date(2024, 3, 1)
        cur.execute(
            f"SELECT COUNT(*) FROM {wh.dialect.table(RUNS)} WHERE {runs_since(wh.dialect, cur, since)}",
            (since.isoformat(),),
        )
        assert cur.fetchone()[0] == 0


def test_tuning_applies_inside_a_transaction_and_a_query_still_runs(warehouse: WarehouseTarget) -> None:
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh, wh.transaction() as cur:
        tune_for_aggregation(wh.dialect, cur)
        cur.execute("SELECT 1")
        assert cur.fetchone()[0] == 1


def test_the_day_list_predicate_selects_exactly_those_days(loaded: WarehouseTarget) -> None:
    """`runs_on`: what the incremental refresh reads — the listed days only, however they are given."""
    with open_warehouse(loaded.conn_id, loaded.schema) as wh:
        cur = wh.conn.cursor()
        try:
            predicate, params = runs_on(wh.dialect, ["2024-03-10", date(2024, 3, 2), "2024-03-02T05:00:00"])
            assert params == ["2024-03-02", "2024-03-10"]  # one param per distinct day, sorted
            cur.execute(
                f"SELECT run_id FROM {wh.dialect.table(RUNS)} WHERE {predicate} ORDER BY run_id", params
            )
            assert [int(r[0]) for r in cur.fetchall()] == [2, 4]
        finally:
            cur.close()
            wh.dialect.end_read(wh.conn)
