"""`changed_rows.replace_changed`: a slice of a derived table made equal to freshly computed rows, writing only
the keys whose values differ. Checked on every engine against the table's contents before and after."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from cekura_livekit.warehouse.changed_rows import replace_changed
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.ddl import ensure_tables
from cekura_livekit.warehouse.tables import METRIC_DAILY
from tests.support.warehouse import WarehouseTarget

OLD = datetime(2024, 1, 1, tzinfo=UTC)
NEW = datetime(2024, 6, 1, tzinfo=UTC)


def _row(day: str, scenario: int, p50: float | None, count: int = 3, stamp: datetime = OLD) -> dict[str, Any]:
    return {
        "run_date": date.fromisoformat(day),
        "agent_id": 1,
        "scenario_id": scenario,
        "mode": "voice/managed",
        "suite": "nightly",
        "metric_id": 3,
        "metric_name": "Latency",
        "metric_kind": "numeric",
        "unit": "ms",
        "count": count,
        "mean": p50,
        "p50": p50,
        "p90": p50,
        "p95": p50,
        "passed": None,
        "evaluated": None,
        "pass_rate": None,
        "wilson_low": None,
        "wilson_high": None,
        "updated_at": stamp,
    }


def _stored(target: WarehouseTarget) -> pd.DataFrame:
    with open_warehouse(target.conn_id, target.schema) as wh:
        names, rows = wh.query(f"SELECT * FROM {wh.dialect.table(METRIC_DAILY)}")
    frame = pd.DataFrame(rows, columns=names)
    frame["run_date"] = frame["run_date"].astype(str).str[:10]
    frame["updated_at"] = pd.to_datetime(frame["updated_at"], utc=True)
    return frame.sort_values(["run_date", "scenario_id"]).reset_index(drop=True)


def test_only_changed_new_and_vanished_keys_are_written(warehouse: WarehouseTarget) -> None:
    before = [
        _row("2024-03-01", 1, 100.0),  # unchanged
        _row("2024-03-01", 2, 200.0),  # its p50 changes
        _row("2024-03-01", 3, 300.0),  # vanishes from the slice
        _row("2024-03-02", 1, 400.0),  # another day: outside the slice, never touched
    ]
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh, wh.transaction() as cur:
        ensure_tables(wh.dialect, cur)
        wh.dialect.insert_rows(cur, METRIC_DAILY, before)
    fresh = [
        _row("2024-03-01", 1, 100.0, stamp=NEW),
        _row("2024-03-01", 2, 250.0, stamp=NEW),
        _row("2024-03-01", 4, 500.0, count=1, stamp=NEW),  # new
    ]
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh, wh.transaction() as cur:
        d = wh.dialect
        written = replace_changed(d, cur, METRIC_DAILY, f"run_date = {d.date_param()}", ["2024-03-01"], fresh)
    assert written == 3  # scenario 2 rewritten, 4 inserted, 3 deleted
    got = _stored(warehouse)
    assert got[["run_date", "scenario_id"]].values.tolist() == [
        ["2024-03-01", 1],
        ["2024-03-01", 2],
        ["2024-03-01", 4],
        ["2024-03-02", 1],
    ]
    assert got["p50"].tolist() == [100.0, 250.0, 500.0, 400.0]
    # The unchanged row and the row outside the slice keep their stamp: they were not rewritten.
    assert got["updated_at"].tolist() == [pd.Timestamp(t) for t in (OLD, NEW, NEW, OLD)]

    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh, wh.transaction() as cur:
        d = wh.dialect
        again = replace_changed(d, cur, METRIC_DAILY, f"run_date = {d.date_param()}", ["2024-03-01"], fresh)
    assert again == 0  # the same rows again: nothing to write
    rounded = [{**r, "mean": r["mean"] * (1 + 1e-15)} for r in fresh]  # a mean summed in another order
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh, wh.transaction() as cur:
        d = wh.dialect
        assert (
            replace_changed(d, cur, METRIC_DAILY, f"run_date = {d.date_param()}", ["2024-03-01"], rounded)
            == 0
        )
        moved = [{**fresh[0], "mean": 100.001}, *fresh[1:]]  # a real change is written
        assert (
            replace_changed(d, cur, METRIC_DAILY, f"run_date = {d.date_param()}", ["2024-03-01"], moved) == 1
        )
