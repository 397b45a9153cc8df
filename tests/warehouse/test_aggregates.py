"""Issue 26: the report reads reduced rows, and a load finds its batch by index.

On the shared realistic data (`tests/support/realistic.py`) loaded through the real path (`extract` →
`load_extract` → `refresh_trends` → `detect_and_alert`).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from cekura_livekit.results.frames import extract
from cekura_livekit.tasks.alerting import detect_and_alert
from cekura_livekit.tasks.report import DIFF_BATCHES, read_report_inputs
from cekura_livekit.tasks.trends import refresh_trends
from cekura_livekit.warehouse.aggregates import latest_batch_diffs
from cekura_livekit.warehouse.batch_diff import diff_batch_in
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.read import select_batch_diffs
from cekura_livekit.warehouse.tables import RESULTS, RUNS
from cekura_livekit.warehouse.writer import load_extract
from tests.support import realistic as R
from tests.support.warehouse import WarehouseTarget

DAYS = 3


def _load(target: WarehouseTarget) -> int:
    """DAYS days of the smoke organisation, batch by batch through the load path, then a trends pass."""
    series = R._Series.draw(R.SMOKE)
    touched: set[str] = set()
    batches = 0
    for day in range(DAYS):
        d = R.day_draw(R.SMOKE, series, day)
        for result_id in sorted(set(d.result_id.tolist())):
            result, runs, kwargs = R.batch_payloads(R.SMOKE, d, d.result_id == result_id)
            touched.update(
                load_extract(target.conn_id, extract(result, runs, **kwargs), target.schema).run_dates
            )
            batches += 1
    refreshed = refresh_trends(target.conn_id, target.schema, touched=sorted(touched))
    detect_and_alert(target.conn_id, target.schema, regression_days=refreshed["regression_days"])
    return batches


def test_the_report_reads_groups_not_values(warehouse: WarehouseTarget) -> None:
    batches = _load(warehouse)
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        inputs = read_report_inputs(wh, days=60, today=None)
        since = inputs["end"] - timedelta(days=60)
        every_diff = select_batch_diffs(wh, since=since)
    weekly = inputs["weekly"]
    assert weekly.latency is None  # no raw values read
    stats = weekly.latency_stats
    panels = R.SMOKE.agents * 2  # latency (ms) and call duration (s) per agent × mode
    assert len(stats.week) == panels
    assert len(stats.daily) == panels * DAYS
    evaluated = sum(int(n) for n in stats.daily.loc[stats.daily["metric_id"] == R.LATENCY_ID, "n"])
    assert evaluated > R.SMOKE.runs_per_day  # each row stands for many values
    assert set(stats.labels["metric_name"]) == {"latency", "call duration"}
    # Only the newest batches' diffs, the same rows the unlimited read starts with.
    diffs = weekly.batch_diffs
    assert batches > DIFF_BATCHES
    assert diffs["result_id"].nunique() == DIFF_BATCHES
    newest = list(dict.fromkeys(every_diff["result_id"].tolist()))[:DIFF_BATCHES]
    assert diffs["result_id"].tolist() == [r for r in every_diff["result_id"].tolist() if r in newest]
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        assert len(latest_batch_diffs(wh, since, 1)) == R.SMOKE.scenarios


@pytest.mark.postgres
def test_a_batch_diff_finds_both_batches_by_index(pg_warehouse: WarehouseTarget) -> None:
    """Before issue 26 a load's batch diff read all history: `runs.result_id` had no index (its batch's and
    the previous batch's runs: two scans of every run) and the previous batch was looked up by
    `COALESCE(suite, '')` (a scan of every result). With sequential scans priced out, the diff's own
    queries (`diff_batch_in`) must use the two indexes; the transaction's scan counters say which ran."""
    _load(pg_warehouse)
    with open_warehouse(pg_warehouse.conn_id, pg_warehouse.schema) as wh:
        d = wh.dialect
        indexes = {
            "runs": d.index_name(RUNS, ("result_id",)),
            "results": d.index_name(RESULTS, ("suite", "created_at")),
        }
        cur = wh.conn.cursor()
        cur.execute("SET LOCAL enable_seqscan = off")
        rows = diff_batch_in(d, cur, 10)
        scans = {}
        for table, name in indexes.items():
            cur.execute(
                "SELECT pg_stat_get_xact_numscans(c.oid) FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
                (pg_warehouse.schema, name),
            )
            found = cur.fetchone()
            scans[table] = found[0] if found else None
        cur.close()
        wh.conn.rollback()
    assert rows
    assert rows[0]["previous_result_id"] is not None
    assert (scans["runs"] or 0) >= 2, scans  # this batch and the previous one
    assert (scans["results"] or 0) >= 1, scans
