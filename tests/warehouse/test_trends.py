"""Trends computed in SQL on both engines, checked against hand-computed numbers; the trends step the DAG
runs (`pipelines.refresh_trends` + `detect_and_alert`) gives the same tables as a load that recomputes."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest

from cekura_livekit.detection.drops import detect_drops
from cekura_livekit.results.frames import extract
from cekura_livekit.results.schema import STR
from cekura_livekit.tasks.alerting import detect_and_alert
from cekura_livekit.tasks.trends import refresh_trends, touched_days
from cekura_livekit.warehouse.read import read_daily, read_episodes, read_regressions
from cekura_livekit.warehouse.trends import MAX_INCREMENTAL_DAYS, detect_regressions, recompute_daily
from cekura_livekit.warehouse.writer import load_extract
from tests.support.detection import Runs, daily_counts, step_rates
from tests.support.warehouse import WarehouseTarget, make_result, make_run


class RunMaker:
    def __init__(self, first_id: int = 1) -> None:
        self.next_id = first_id

    def many(self, day: str, outcome: str, count: int, **kw: Any) -> list[dict[str, Any]]:
        runs = []
        for _ in range(count):
            runs.append(make_run(self.next_id, day=day, outcome=outcome, **kw))
            self.next_id += 1
        return runs


def _load(target: WarehouseTarget, runs: list[dict[str, Any]], result_id: int = 1, **kw: Any) -> Any:
    """A load that recomputes trends itself (the library path); the DAG path is compared below."""
    kw.setdefault("recompute_trends", True)
    return load_extract(target.conn_id, extract(make_result(result_id, runs)), target.schema, **kw)


def _day(frame: pd.DataFrame, day: str, scenario: int = 1) -> pd.Series:
    rows = frame[(frame["run_date"] == pd.Timestamp(day)) & (frame["scenario_id"] == scenario)]
    assert len(rows) == 1, f"expected one daily row for {day} scenario {scenario}, got {len(rows)}"
    return rows.iloc[0]


def test_daily_counts_wilson_and_rolling_rates_from_summed_counts(warehouse: WarehouseTarget) -> None:
    m = RunMaker()
    runs = [
        # scenario 1: days with gaps, so calendar windows differ from row windows
        *m.many("2024-03-01", "passed", 3),
        *m.many("2024-03-01", "failed_evaluation", 1),
        *m.many("2024-03-01", "infra_error", 1),
        *m.many("2024-03-02", "passed", 1),
        *m.many("2024-03-02", "failed_evaluation", 1),
        *m.many("2024-03-05", "failed_evaluation", 2),
        *m.many("2024-03-05", "timeout", 1),
        *m.many("2024-03-09", "passed", 4),
        *m.many("2024-03-30", "passed", 1),
        *m.many("2024-03-30", "failed_evaluation", 1),
        *m.many("2024-03-30", "cancelled", 1),
        # scenario 2: the hand-computed Wilson case, 9 of 10
        *m.many("2024-03-09", "passed", 9, scenario=2),
        *m.many("2024-03-09", "failed_evaluation", 1, scenario=2),
        # scenario 3: only infrastructure trouble: no evaluated runs, no rate
        *m.many("2024-03-09", "infra_error", 2, scenario=3),
    ]
    _load(warehouse, runs)
    daily = read_daily(warehouse.conn_id, schema=warehouse.schema)
    assert str(daily["run_date"].dtype) == "datetime64[us]"
    assert str(daily["success_rate"].dtype) == "Float64"
    assert str(daily["passed"].dtype) == "Int64"
    assert str(daily["agent_name"].dtype) == STR

    d1 = _day(daily, "2024-03-01")
    assert (d1["runs"], d1["passed"], d1["failed_evaluation"], d1["infra_errors"], d1["evaluated"]) == (
        5,
        3,
        1,
        1,
        4,
    )
    assert d1["success_rate"] == pytest.approx(0.75)  # infra errors are not evaluation failures
    assert d1["agent_name"] == "agent-1"
    assert d1["scenario_name"] == "scenario-1"

    d5 = _day(daily, "2024-03-05")
    assert d5["timeouts"] == 1
    assert d5["success_rate"] == pytest.approx(0.0)
    # 7 days ending 03-05 = 02-28..03-05: (3+1+0) / (4+2+2) = 0.5; the mean of daily rates would be 0.417
    assert d5["rate_7d"] == pytest.approx(0.5)
    assert (d5["passed_7d"], d5["evaluated_7d"]) == (4, 8)

    d9 = _day(daily, "2024-03-09")
    # 03-03..03-09 holds only 03-05 and 03-09: (0+4) / (2+4)
    assert d9["rate_7d"] == pytest.approx(4 / 6)
    assert d9["rate_28d"] == pytest.approx(8 / 12)

    d30 = _day(daily, "2024-03-30")
    assert d30["cancelled"] == 1
    assert d30["rate_7d"] == pytest.approx(0.5)
    # 28 days ending 03-30 = 03-03..03-30: 03-05, 03-09, 03-30 -> (0+4+1) / (2+4+2)
    assert d30["rate_28d"] == pytest.approx(5 / 8)

    wilson = _day(daily, "2024-03-09", scenario=2)
    assert round(wilson["wilson_low"], 3) == 0.596
    assert round(wilson["wilson_high"], 3) == 0.982

    infra_only = _day(daily, "2024-03-09", scenario=3)
    assert infra_only["infra_errors"] == 2
    assert pd.isna(infra_only["success_rate"])
    assert pd.isna(infra_only["wilson_low"])


def test_late_data_recomputes_touched_day_and_later_rolling_rates(warehouse: WarehouseTarget) -> None:
    m = RunMaker()
    _load(warehouse, [*m.many("2024-03-01", "passed", 2), *m.many("2024-03-04", "passed", 2)])
    late = m.many("2024-03-01", "failed_evaluation", 2)
    summary = _load(warehouse, late, result_id=2)
    assert summary.run_dates == ["2024-03-01"]
    daily = read_daily(warehouse.conn_id, schema=warehouse.schema)
    assert _day(daily, "2024-03-01")["success_rate"] == pytest.approx(0.5)
    assert _day(daily, "2024-03-04")["rate_7d"] == pytest.approx(4 / 6)


def test_recompute_is_idempotent(warehouse: WarehouseTarget) -> None:
    m = RunMaker()
    _load(warehouse, [*m.many("2024-03-01", "passed", 3), *m.many("2024-03-02", "failed_evaluation", 1)])
    cols = ["run_date", "agent_id", "scenario_id", "runs", "passed", "success_rate", "rate_7d", "rate_28d"]
    first = read_daily(warehouse.conn_id, schema=warehouse.schema)[cols]
    recompute_daily(warehouse.conn_id, "2024-01-01", warehouse.schema)
    second = read_daily(warehouse.conn_id, schema=warehouse.schema)[cols]
    pd.testing.assert_frame_equal(first, second)
    assert len(second) == 2


def test_drop_episode_matches_the_detector_on_the_same_counts(warehouse: WarehouseTarget) -> None:
    """A designed step (95 % → 35 % on 2024-04-10), a flat series and a small wobble, loaded and recomputed:
    one episode, exactly what `detect_drops` gives on the same counts, in both tables that say "regression"."""
    runs = Runs()
    first = date(2024, 3, 1)
    drop = runs.series(first, step_rates(0.95, 0.35), scenario=1)
    flat = runs.series(first, step_rates(0.95, 0.95), scenario=2)
    wobble = runs.series(first, step_rates(0.95, 0.9), scenario=3)
    summary = _load(warehouse, [*drop, *flat, *wobble])
    assert summary.regressions >= 1
    [want] = detect_drops(*daily_counts(drop))
    episodes = read_episodes(warehouse.conn_id, schema=warehouse.schema)
    assert episodes["scenario_id"].tolist() == [1]
    ep = episodes.iloc[0]
    assert (ep["started_on"], ep["flagged_on"]) == (
        pd.Timestamp(want.started_on),
        pd.Timestamp(want.flagged_on),
    )
    assert (ep["baseline_n"], ep["post_passed"], ep["post_n"]) == (
        want.baseline_n,
        want.post_passed,
        want.post_n,
    )
    assert ep["state"] == "open"
    assert pd.isna(ep["resolved_on"])
    assert ep["episode_id"].startswith("1/1/")
    assert ep["episode_id"].endswith(f"@{want.flagged_on}")
    assert ep["severity"] == "critical"  # a 60-point drop
    assert "95 % CI" in ep["evidence"]
    assert f"over {want.post_n} runs" in ep["evidence"]
    assert ep["q_value"] is None or pd.isna(ep["q_value"])
    # The regressions table is the episodes' daily state: the newest day shows exactly the open episode.
    regs = read_regressions(warehouse.conn_id, since="2024-04-19", schema=warehouse.schema)
    assert regs["scenario_id"].tolist() == [1]
    assert regs.iloc[0]["episode_id"] == ep["episode_id"]
    assert regs.iloc[0]["current_start"] == pd.Timestamp(want.started_on)

    # Late data that lifts the days after the change makes the episode disappear on re-detection.
    lift = [
        run
        for day in range(10)
        for run in RunMaker(10_000 + 100 * day).many(
            (date(2024, 4, 10) + timedelta(days=day)).isoformat(), "passed", 60, scenario=1
        )
    ]
    _load(warehouse, lift, result_id=2)
    assert detect_regressions(warehouse.conn_id, "2024-04-19", warehouse.schema) == []
    assert read_regressions(warehouse.conn_id, since="2024-04-19", schema=warehouse.schema).empty
    assert read_episodes(warehouse.conn_id, schema=warehouse.schema).empty


def test_a_short_history_is_not_watched(warehouse: WarehouseTarget) -> None:
    """A brand-new series is not watched until its baseline holds 100 runs over 28 days: a bad first
    fortnight is no drop (there is nothing to drop from)."""
    runs = Runs().series(date(2024, 3, 1), step_rates(0.95, 0.2, days_before=14, days_after=10))
    _load(warehouse, runs)
    assert read_episodes(warehouse.conn_id, schema=warehouse.schema).empty


def _tables(target: WarehouseTarget) -> tuple[pd.DataFrame, pd.DataFrame]:
    daily = read_daily(target.conn_id, schema=target.schema).drop(columns=["updated_at"])
    regs = read_regressions(target.conn_id, schema=target.schema).drop(columns=["detected_at"])
    return daily, regs


def _history(m: RunMaker, end: date) -> list[dict[str, Any]]:
    """A clear drop of scenario 1 ending on `end`, and a flat scenario 3 (deterministic designed series)."""
    first = end - timedelta(days=49)
    runs = Runs(m.next_id)
    return [
        *runs.series(first, step_rates(0.9, 0.2), scenario=1),
        *runs.series(first, step_rates(0.9, 0.9), scenario=3),
    ]


def test_trends_step_after_a_facts_only_load_equals_a_recomputing_load(warehouse: WarehouseTarget) -> None:
    """The DAG path (load facts, then refresh from the touched days, then detect) and the library path
    (`recompute_trends=True`) leave identical daily and regression rows."""
    end = date(2024, 4, 20)
    summary = _load(warehouse, _history(RunMaker(), end), recompute_trends=False)
    assert read_daily(warehouse.conn_id, schema=warehouse.schema).empty

    refreshed = refresh_trends(warehouse.conn_id, warehouse.schema, touched=summary.run_dates)
    assert refreshed["touched"] == summary.run_dates
    # 50 touched days: a backfill (more than MAX_INCREMENTAL_DAYS) is rebuilt as one range, as before.
    assert len(summary.run_dates) > MAX_INCREMENTAL_DAYS
    assert refreshed["since"] == (date.fromisoformat(summary.run_dates[0]) - timedelta(days=28)).isoformat()
    assert refreshed["regression_days"][-1] == "2024-04-20"
    outcome = detect_and_alert(
        warehouse.conn_id, warehouse.schema, regression_days=refreshed["regression_days"]
    )
    assert outcome["new_alerts"] == 1  # one episode, however many window ends show it
    via_dag = _tables(warehouse)

    other = WarehouseTarget(warehouse.conn_id, warehouse.schema + "_lib", warehouse.dialect)
    try:
        _load(other, _history(RunMaker(), end))
        via_library = _tables(other)
    finally:
        if warehouse.dialect == "postgres":
            import psycopg

            from tests.support.warehouse import PG_DSN

            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{other.schema}" CASCADE')
    pd.testing.assert_frame_equal(via_dag[0], via_library[0])
    pd.testing.assert_frame_equal(via_dag[1], via_library[1])
    assert not via_dag[1].empty


def test_refresh_without_touched_days_rebuilds_the_trailing_window(warehouse: WarehouseTarget) -> None:
    m = RunMaker()
    _load(
        warehouse,
        [*m.many("2024-03-01", "passed", 2), *m.many("2024-03-20", "passed", 2)],
        recompute_trends=False,
    )
    refreshed = refresh_trends(warehouse.conn_id, warehouse.schema, trailing_days=7)
    assert refreshed["latest_run_date"] == "2024-03-20"
    assert refreshed["since"] == "2024-03-13"
    assert refreshed["regression_days"] == [f"2024-03-{d}" for d in range(14, 21)]
    daily = read_daily(warehouse.conn_id, schema=warehouse.schema)
    assert [str(d.date()) for d in daily["run_date"]] == ["2024-03-20"]  # 03-01 is outside the window


def test_refresh_on_an_empty_warehouse_does_nothing(warehouse: WarehouseTarget) -> None:
    assert refresh_trends(warehouse.conn_id, warehouse.schema)["daily_rows"] == 0
    assert detect_and_alert(warehouse.conn_id, warehouse.schema)["regressions"] == 0


class _Event:
    def __init__(self, extra: dict[str, Any] | None) -> None:
        self.extra = extra


def test_touched_days_come_from_every_triggering_event() -> None:
    events = {
        "runs": [
            _Event({"run_dates": ["2024-03-02", "2024-03-03"], "trailing_days": 28}),
            _Event({"run_dates": ["2024-02-27"], "trailing_days": 14}),
            _Event(None),  # an event from another producer carries no extra
        ]
    }
    assert touched_days(events) == (["2024-02-27", "2024-03-02", "2024-03-03"], 28)
    assert touched_days({}) == ([], None)
    assert touched_days(None) == ([], None)
