"""One definition per measure: the view, the tables and the reads agree on the same data (issue 18 item 2).

- p95: `v_call_duration_p95` and `cekura_metric_daily.p95` (call duration, metric 0) are the same linear
  interpolation (the view used nearest-rank before and disagreed); both equal numpy's default quantile.
- success rate: the daily table, the 28-day view and the runs summary read give passed / evaluated.
- infra rates: `infra_error_rate` = infra errors / runs and `not_evaluated_rate` = (infra errors + timeouts
  + cancellations) / runs, by those names in the view and the read.
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import numpy as np
import pytest

from cekura_livekit.results.frames import extract
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.measures import percentile, ranked_percentile_sql
from cekura_livekit.warehouse.read import select_runs_summary
from cekura_livekit.warehouse.tables import METRIC_DAILY, SUCCESS_RATE_DAILY
from cekura_livekit.warehouse.views import view_table
from cekura_livekit.warehouse.writer import load_extract
from tests.support.warehouse import WarehouseTarget, make_result, make_run

DAY = date(2024, 5, 6)
OUTCOMES = ["passed"] * 7 + ["failed_evaluation"] * 4 + ["infra_error"] * 2 + ["timeout", "cancelled"]


def _seed(target: WarehouseTarget) -> list[float]:
    """One agent × scenario × day: 11 evaluated calls of distinct durations, 4 not evaluated."""
    rng = random.Random(5)
    runs, durations = [], []
    for i, outcome in enumerate(OUTCOMES):
        run = make_run(i + 1, day=DAY, outcome=outcome, hour=i % 24)
        seconds = rng.randrange(20, 600)
        run["duration"] = f"{seconds // 60:02d}:{seconds % 60:02d}"
        if outcome in {"passed", "failed_evaluation"}:
            durations.append(float(seconds))
        runs.append(run)
    frames = extract(make_result(1, runs), mode="managed", suite="nightly")
    load_extract(target.conn_id, frames, target.schema, recompute_trends=True)
    return durations


def _rows(target: WarehouseTarget, sql_of: Any) -> list[dict[str, Any]]:
    with open_warehouse(target.conn_id, target.schema) as wh:
        cols, rows = wh.query(sql_of(wh.dialect))
    return [dict(zip(cols, r, strict=True)) for r in rows]


def test_the_p95_view_equals_the_metric_table_and_numpy(warehouse: WarehouseTarget) -> None:
    durations = _seed(warehouse)
    (view,) = _rows(warehouse, lambda d: f"SELECT * FROM {d.table(view_table('call_duration_p95'))}")
    (table,) = _rows(warehouse, lambda d: f"SELECT p95 FROM {d.table(METRIC_DAILY)} WHERE metric_id = 0")
    expected = float(np.quantile(durations, 0.95))
    assert view["calls"] == len(durations) == 11
    assert float(view["p95_duration_s"]) == pytest.approx(expected)
    assert float(table["p95"]) == pytest.approx(expected)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 20, 21, 101])
@pytest.mark.parametrize("percent", [0, 50, 90, 95, 100])
def test_the_ranked_sql_percentile_is_the_reference(warehouse: WarehouseTarget, n: int, percent: int) -> None:
    values = [float(v) for v in random.Random(n).sample(range(10_000), n)]
    rows = " UNION ALL ".join(f"SELECT {v} AS v" for v in values)
    expr = ranked_percentile_sql(percent, "v", "rn", "n")
    sql = f"SELECT {expr} FROM (SELECT v, ROW_NUMBER() OVER (ORDER BY v) AS rn, COUNT(*) OVER () AS n FROM ({rows}) s) r"
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        _, ((got,),) = wh.query(sql)
    assert float(got) == pytest.approx(percentile(sorted(values), percent / 100))


def test_success_and_infra_rates_agree_across_table_view_and_read(warehouse: WarehouseTarget) -> None:
    _seed(warehouse)
    passed, evaluated, runs = 7, 11, 15
    (daily,) = _rows(warehouse, lambda d: f"SELECT success_rate FROM {d.table(SUCCESS_RATE_DAILY)}")
    (view,) = _rows(
        warehouse, lambda d: f"SELECT success_rate FROM {d.table(view_table('success_rate_28d'))}"
    )
    (infra,) = _rows(warehouse, lambda d: f"SELECT * FROM {d.table(view_table('infra_error_rate_daily'))}")
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        summary = select_runs_summary(wh).iloc[0]
    for rate in (daily["success_rate"], view["success_rate"], summary["success_rate"]):
        assert float(rate) == pytest.approx(passed / evaluated)
    for source in (infra, summary):
        assert float(source["infra_error_rate"]) == pytest.approx(2 / runs)
        assert float(source["not_evaluated_rate"]) == pytest.approx(4 / runs)
