"""What makes a trends refresh cheap must not change its answer: the one-day refresh reads the days before it
from the daily table (not the runs), metric statistics come from SQL (PostgreSQL) or a streaming pass (SQLite),
and the runs' date index is used only where it pays. Each test compares against an independent reference."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cekura_livekit.results.frames import extract
from cekura_livekit.tasks.trends import refresh_trends
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.ddl import ensure_tables, index_name, missing_indexes
from cekura_livekit.warehouse.measures import percentile
from cekura_livekit.warehouse.scan import runs_since
from cekura_livekit.warehouse.tables import CALL_DURATION_METRIC_ID, METRIC_DAILY, RUNS, SUCCESS_RATE_DAILY
from cekura_livekit.warehouse.trends import recompute_daily
from cekura_livekit.warehouse.writer import load_extract
from tests.support.warehouse import WarehouseTarget, make_result, make_run

START = date(2024, 5, 1)
OUTCOMES = ["passed"] * 6 + ["failed_evaluation"] * 2 + ["infra_error", "timeout", "cancelled"]


def _runs(
    seed: int, days: int = 40, per_day: int = 12, first_id: int = 1, agent: int = 1, start: date = START
) -> list[dict[str, Any]]:
    """Runs over `days` days, 3 scenarios, random outcomes and durations, a numeric metric with gaps, a
    rating and a binary metric."""
    rng = random.Random(seed)
    runs = []
    for i in range(days * per_day):
        day = start + timedelta(days=i // per_day)
        outcome, scenario = rng.choice(OUTCOMES), 1 + rng.randrange(3)
        run = make_run(first_id + i, day=day, outcome=outcome, scenario=scenario, agent=agent)
        seconds = rng.randrange(5, 400)
        run["duration"] = f"{seconds // 60:02d}:{seconds % 60:02d}"
        latency = None if rng.random() < 0.2 else round(rng.lognormvariate(6, 0.5), 3)
        run["evaluation"] = {
            "metrics": [
                {"id": 7, "name": "Latency", "type": "numeric", "value": latency, "extra": {"unit": "ms"}},
                {"id": 8, "name": "Politeness", "type": "rating", "score": rng.randrange(101)},
                {"id": 9, "name": "Script", "type": "binary", "value": True, "passed": rng.random() < 0.8},
            ]
        }
        runs.append(run)
    return runs


def _table(target: WarehouseTarget, table: Any) -> pd.DataFrame:
    with open_warehouse(target.conn_id, target.schema) as wh:
        names, rows = wh.query(f"SELECT * FROM {wh.dialect.table(table)}")
    frame = pd.DataFrame(rows, columns=names).drop(columns=["updated_at"])
    frame["run_date"] = frame["run_date"].astype(str)
    return frame.sort_values(list(table.key)).reset_index(drop=True)


def test_one_day_refresh_after_late_data_equals_a_full_rebuild(warehouse: WarehouseTarget) -> None:
    runs = _runs(seed=1)
    load_extract(warehouse.conn_id, extract(make_result(1, runs)), warehouse.schema, recompute_trends=True)
    last = (START + timedelta(days=39)).isoformat()
    late = [make_run(90_000 + i, day=last, outcome="failed_evaluation", scenario=2) for i in range(5)]
    load_extract(warehouse.conn_id, extract(make_result(2, late)), warehouse.schema)
    recompute_daily(warehouse.conn_id, last, warehouse.schema)  # reads one day of runs
    incremental = (_table(warehouse, SUCCESS_RATE_DAILY), _table(warehouse, METRIC_DAILY))
    recompute_daily(warehouse.conn_id, START, warehouse.schema)  # reads every run
    full = (_table(warehouse, SUCCESS_RATE_DAILY), _table(warehouse, METRIC_DAILY))
    for got, want in zip(incremental, full, strict=True):
        pd.testing.assert_frame_equal(got, want)
    newest = full[0][(full[0]["run_date"] == last) & (full[0]["scenario_id"] == 2)].iloc[0]
    assert newest["failed_evaluation"] >= 5  # the late runs are in, and in the 7- and 28-day sums
    assert newest["evaluated_28d"] > newest["evaluated_7d"] > newest["evaluated"]


def _stamped(target: WarehouseTarget, table: Any, stamp: datetime) -> pd.DataFrame:
    """The rows of `table` a refresh stamped `stamp` wrote (their keys)."""
    with open_warehouse(target.conn_id, target.schema) as wh:
        names, rows = wh.query(f"SELECT * FROM {wh.dialect.table(table)}")
    frame = pd.DataFrame(rows, columns=names)
    written = pd.to_datetime(frame["updated_at"], utc=True) == pd.Timestamp(stamp)
    keys = frame.loc[written, list(table.key)]
    return keys.assign(run_date=keys["run_date"].astype(str).str[:10])


def test_a_nightly_refresh_of_the_touched_days_equals_a_full_rebuild_and_rewrites_only_what_changed(
    warehouse: WarehouseTarget,
) -> None:
    """Issue 26: the DAG's refresh recounts only the touched days and rewrites only changed rows. A late batch
    (3 days back) of agent 1, a new series, and a reload moving a run to another scenario (its old series
    vanishes from that day) must leave both daily tables exactly as a full rebuild does; agent 2's rows and
    untouched days are not rewritten, and a second refresh of the same days writes nothing."""
    per_day = 6  # small: the Snowflake emulator is slow, and every engine runs it
    first = _runs(seed=8, days=30, per_day=per_day)
    other = _runs(seed=9, days=30, per_day=per_day, first_id=20_000, agent=2)
    for result_id, runs, agent in ((1, first, 1), (2, other, 2)):
        frames = extract(make_result(result_id, runs, agent=agent))
        load_extract(warehouse.conn_id, frames, warehouse.schema, recompute_trends=True)
    day27, day29 = START + timedelta(days=27), START + timedelta(days=29)
    late = [make_run(30_000 + i, day=day27, outcome="failed_evaluation", scenario=2) for i in range(4)]
    late += [make_run(30_100 + i, day=day29, outcome="passed", scenario=9) for i in range(3)]
    day28 = START + timedelta(days=28)
    moved = next(r for r in first if r["id"] > per_day * 28 and r["scenario"] == 1)  # day 28 (ids from 1)
    moved = {**moved, "scenario": 8, "scenario_name": "scenario-8"}  # scenario 1 loses a run that day
    summary = load_extract(warehouse.conn_id, extract(make_result(3, [*late, moved])), warehouse.schema)
    assert summary.run_dates == [day27.isoformat(), day28.isoformat(), day29.isoformat()]
    stamp = datetime(2030, 1, 1, tzinfo=UTC)
    out = refresh_trends(warehouse.conn_id, warehouse.schema, touched=summary.run_dates, now=stamp)
    assert out["since"] == day27.isoformat()
    refreshed = (_table(warehouse, SUCCESS_RATE_DAILY), _table(warehouse, METRIC_DAILY))
    daily_written = _stamped(warehouse, SUCCESS_RATE_DAILY, stamp)
    metric_written = _stamped(warehouse, METRIC_DAILY, stamp)

    again = refresh_trends(warehouse.conn_id, warehouse.schema, touched=summary.run_dates, now=stamp)
    assert again["daily_rows"] == 0  # nothing changed since: nothing rewritten

    recompute_daily(warehouse.conn_id, START, warehouse.schema)
    full = (_table(warehouse, SUCCESS_RATE_DAILY), _table(warehouse, METRIC_DAILY))
    for got, want in zip(refreshed, full, strict=True):
        pd.testing.assert_frame_equal(got, want)
    new = full[0][(full[0]["scenario_id"] == 9)]
    assert new["run_date"].tolist() == [day29.isoformat()]
    assert full[0].loc[full[0]["scenario_id"] == 8, "run_date"].tolist() == [day28.isoformat()]

    assert set(daily_written["agent_id"]) == {1}  # agent 2's series are untouched
    assert min(daily_written["run_date"]) == day27.isoformat()
    assert len(daily_written) < len(full[0][full[0]["run_date"] >= day27.isoformat()])
    assert set(metric_written["run_date"]) <= set(summary.run_dates)
    assert set(metric_written["agent_id"]) == {1}


def test_metric_statistics_match_numpy_on_both_engines(warehouse: WarehouseTarget) -> None:
    runs = _runs(seed=2, days=6, per_day=15)
    frames = extract(make_result(1, runs))
    load_extract(warehouse.conn_id, frames, warehouse.schema, recompute_trends=True)
    got = _table(warehouse, METRIC_DAILY).set_index(["run_date", "scenario_id", "metric_id"])

    evaluated = frames.runs[frames.runs["outcome"].isin(["passed", "failed_evaluation"])]
    values = frames.metrics.merge(evaluated[["run_id", "run_date", "scenario_id"]], on="run_id")
    values["value"] = values["value_num"].where(values["metric_kind"] != "rating", values["rating"])
    durations = evaluated.assign(metric_id=CALL_DURATION_METRIC_ID, value=evaluated["duration_s"])
    cols = ["run_date", "scenario_id", "metric_id", "value"]
    every = pd.concat([values[cols], durations[cols]])
    every["run_date"] = every["run_date"].astype(str)
    checked = 0
    for (day, scenario, metric), group in every.groupby(["run_date", "scenario_id", "metric_id"]):
        present = group["value"].dropna().astype(float).to_numpy()
        if not len(present):
            continue
        row = got.loc[(day, scenario, metric)]
        assert row["count"] == len(present)
        assert row["mean"] == pytest.approx(present.mean(), rel=1e-12)
        for name, p in (("p50", 0.5), ("p90", 0.9), ("p95", 0.95)):
            assert row[name] == pytest.approx(np.quantile(present, p), rel=1e-12), (
                day,
                scenario,
                metric,
                name,
            )
        checked += 1
    assert checked >= 45  # most day × scenario groups have latency, rating and duration values
    binary = got.xs(9, level="metric_id")
    assert (binary["evaluated"] > 0).all()
    assert binary["p50"].isna().all()


@pytest.mark.parametrize("values", [[4.0], [1.0, 2.0], [3.0, 1.0, 2.0, 10.0], list(np.linspace(0, 1, 11))])
def test_percentile_is_linear_interpolation_like_numpy(values: list[float]) -> None:
    ordered = sorted(values)
    for p in (0.0, 0.5, 0.9, 0.95, 1.0):
        assert percentile(ordered, p) == pytest.approx(float(np.quantile(values, p)), rel=1e-15)


def test_sqlite_reads_a_few_days_through_the_index_and_all_days_by_a_scan(
    sqlite_warehouse: WarehouseTarget,
) -> None:
    load_extract(sqlite_warehouse.conn_id, extract(make_result(1, _runs(seed=3))), sqlite_warehouse.schema)
    with open_warehouse(sqlite_warehouse.conn_id, sqlite_warehouse.schema) as wh, wh.transaction() as cur:
        runs = wh.dialect.table(RUNS)

        def plan(since: date) -> str:
            predicate = runs_since(wh.dialect, cur, since)
            cur.execute(
                f"EXPLAIN QUERY PLAN SELECT SUM(duration_s) FROM {runs} WHERE {predicate}",
                (since.isoformat(),),
            )
            return " ".join(str(r[-1]) for r in cur.fetchall())

        index = index_name(wh.dialect, RUNS, ("run_date",))
        assert index in plan(START + timedelta(days=39))  # one day of 40
        every_day = plan(START)
        assert index not in every_day
        assert "SCAN" in every_day


def test_an_existing_warehouse_gains_the_run_date_index_on_its_next_load(warehouse: WarehouseTarget) -> None:
    if warehouse.dialect == "snowflake":
        pytest.skip("Snowflake has no secondary indexes (micro-partition pruning): nothing to drop or gain")
    load_extract(warehouse.conn_id, extract(make_result(1, _runs(seed=4, days=2))), warehouse.schema)
    name = index_name_for(warehouse)
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh, wh.transaction() as cur:
        cur.execute(wh.dialect.drop_index_statement(name, RUNS))
        assert name in missing_indexes(wh.dialect, cur)
    load_extract(
        warehouse.conn_id, extract(make_result(2, _runs(seed=5, days=1, first_id=5000))), warehouse.schema
    )
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh, wh.transaction() as cur:
        assert missing_indexes(wh.dialect, cur) == {}
        assert ensure_tables(wh.dialect, cur) == []  # nothing left to do: the fast path


def index_name_for(target: WarehouseTarget) -> str:
    with open_warehouse(target.conn_id, target.schema) as wh:
        return index_name(wh.dialect, RUNS, ("run_date",))


@pytest.mark.postgres
def test_a_bulk_load_refreshes_the_planner_statistics_and_a_batch_does_not(
    pg_warehouse: WarehouseTarget,
) -> None:
    """The trends step runs right after a load, before autovacuum: a backfill leaves statistics behind it."""

    def analysed() -> float:
        with open_warehouse(pg_warehouse.conn_id, pg_warehouse.schema) as wh:
            _, rows = wh.query(
                "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", (wh.dialect.table(RUNS),)
            )
        return float(rows[0][0])

    backfill = _runs(seed=6, days=30, per_day=40)  # 1,200 runs into a table PostgreSQL never analysed
    load_extract(pg_warehouse.conn_id, extract(make_result(1, backfill)), pg_warehouse.schema)
    assert analysed() == pytest.approx(1200)
    batch = _runs(seed=7, days=1, per_day=50, first_id=50_000)  # an ordinary batch: left to autovacuum
    load_extract(pg_warehouse.conn_id, extract(make_result(2, batch)), pg_warehouse.schema)
    assert analysed() == pytest.approx(1200)
