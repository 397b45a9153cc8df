"""Issue 18.2: one definition per concept. On the same warehouse data, the report's numbers equal the
warehouse's: p95 (linear interpolation, as `cekura_metric_daily` computes it with percentile_cont, which the
latency panels read) and the
named rates (`infra_error_rate` = infra_errors / runs, as the view and `select_runs_summary` expose it;
`not_evaluated_rate` = (infra_errors + timeouts + cancelled) / runs)."""

from __future__ import annotations

import pandas as pd
import pytest

from cekura_livekit.report import stats
from cekura_livekit.report.schema import normalize_daily
from cekura_livekit.report.weekly import LatencyStats, latency_daily, latency_values
from cekura_livekit.tasks.report import read_report_inputs
from cekura_livekit.warehouse.aggregates import PANEL_KEY
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.metrics import metric_values
from cekura_livekit.warehouse.read import select_daily, select_runs_summary
from cekura_livekit.warehouse.tables import METRIC_DAILY
from cekura_livekit.warehouse.views import view_table
from tests.report.test_weekly import _load_history
from tests.support.warehouse import WarehouseTarget
from tests.warehouse.test_trends import RunMaker, _load

GRAIN = ["run_date", "agent_id", "scenario_id", "mode", "suite", "metric_id"]


def test_the_report_p95_is_the_warehouse_p95(warehouse: WarehouseTarget) -> None:
    """The latency panels' numbers (`aggregates.latency_panels_in`, what `read_report_inputs` reads from
    `cekura_metric_daily`) equal the same definition computed in pandas from every raw value
    (`LatencyStats.from_values`): each series' exact daily p50 / p95 (linear interpolation, percentile_cont),
    then the median across the panel's series; and those per-series percentiles are the daily table's."""
    _load_history(warehouse)
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        inputs = read_report_inputs(wh, days=90, today=None)  # the latency history is 80 days
        names, rows = wh.query(f"SELECT * FROM {wh.dialect.table(METRIC_DAILY)}")
        cur = wh.conn.cursor()
        end = inputs["end"]
        start = end - pd.Timedelta(days=90)  # the window read_report_inputs read
        values = metric_values(wh.dialect, cur, start, end)
        cur.close()
        wh.conn.rollback()
    raw = LatencyStats.from_values(values)
    per_series = latency_daily(latency_values(values), [*PANEL_KEY, "scenario_id", "suite"])
    table = pd.DataFrame(rows, columns=names)
    table = table[table["unit"].isin(["ms", "s"])].assign(run_date=lambda f: pd.to_datetime(f["run_date"]))
    table = table[table["run_date"] >= pd.Timestamp(start)]  # the history is longer than the window compared
    both = table.merge(
        per_series.astype({"metric_id": int, "agent_id": int, "scenario_id": int}),
        on=GRAIN,
        suffixes=("_table", "_report"),
        validate="one_to_one",
    )
    assert len(both) == len(table) == len(per_series) > 30
    for column in ("p50", "p95"):
        assert both[f"{column}_report"].to_numpy() == pytest.approx(
            both[f"{column}_table"].astype(float).to_numpy(), rel=1e-9
        )
    reduced = inputs["weekly"].latency_stats
    for mine, theirs in ((reduced.daily, raw.daily), (reduced.week, raw.week)):
        keys = [c for c in ("metric_id", "agent_id", "mode", "run_date") if c in mine.columns]
        pair = mine.merge(theirs.astype({"metric_id": int, "agent_id": int}), on=keys, validate="one_to_one")
        assert len(pair) == len(mine) == len(theirs) > 0
        assert pair["p95_x"].to_numpy() == pytest.approx(pair["p95_y"].astype(float).to_numpy(), rel=1e-9)
        assert pair["p50_x"].to_numpy() == pytest.approx(pair["p50_y"].astype(float).to_numpy(), rel=1e-9)
        assert (pair["n_x"] == pair["n_y"]).all()
        assert (pair["series_x"] == pair["series_y"]).all()
    # Not nearest-rank: 1..10 gives 9.55 by interpolation (nearest-rank would say 10).
    assert stats.percentile(pd.Series(range(1, 11)), 0.95) == pytest.approx(9.55)


def test_the_report_rates_are_the_warehouse_rates(warehouse: WarehouseTarget) -> None:
    m = RunMaker()
    runs = [
        *m.many("2024-03-01", "passed", 11),
        *m.many("2024-03-01", "failed_evaluation", 3),
        *m.many("2024-03-01", "infra_error", 2),
        *m.many("2024-03-01", "timeout", 3),
        *m.many("2024-03-01", "cancelled", 1),
        *m.many("2024-03-01", "infra_error", 1, scenario=2),
        *m.many("2024-03-01", "passed", 4, scenario=2),
    ]
    _load(warehouse, runs)
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        daily = select_daily(wh)
        summary_row = select_runs_summary(wh).iloc[0]
        names, rows = wh.query(f"SELECT * FROM {wh.dialect.table(view_table('infra_error_rate_daily'))}")
    view = dict(zip(names, rows[0], strict=True))
    report = stats.summarize(normalize_daily(daily), pd.DataFrame(columns=["state", "severity"]))
    assert report.runs == 25
    assert report.infra_error_rate == pytest.approx(3 / 25)
    assert report.infra_error_rate == pytest.approx(float(summary_row["infra_error_rate"]))
    assert report.infra_error_rate == pytest.approx(float(view["infra_error_rate"]))
    assert report.not_evaluated_rate == pytest.approx((3 + 3 + 1) / 25)
    if "not_evaluated_rate" in view:  # the views gain this column with the warehouse's concept work
        assert report.not_evaluated_rate == pytest.approx(float(view["not_evaluated_rate"]))
