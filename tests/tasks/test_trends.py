"""The trends step (`tasks.trends`): which days the loads announced, the rebuild's summary, and the
re-detection it hands the alert step. Real warehouses (SQLite, and PostgreSQL where marked)."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest

from cekura_livekit.assets import RUN_DATES_EXTRA
from cekura_livekit.results.frames import extract
from cekura_livekit.tasks.trends import detect_regressions_for, refresh_trends, touched_days
from cekura_livekit.warehouse.writer import load_extract
from tests.support.detection import Runs, step_rates
from tests.support.warehouse import WarehouseTarget, make_result


def event(**extra: Any) -> SimpleNamespace:
    """An asset event as the task context hands it: only `extra` is read."""
    return SimpleNamespace(extra=extra)


def test_touched_days_are_the_announced_dates_deduplicated_and_the_widest_window() -> None:
    events = {
        "asset-a": [event(**{RUN_DATES_EXTRA: ["2024-03-02", "2024-03-01T23:00:00"]}, trailing_days=7)],
        "asset-b": [event(**{RUN_DATES_EXTRA: ["2024-03-01"]}, trailing_days=28), event()],
    }
    assert touched_days(events) == (["2024-03-01", "2024-03-02"], 28)


@pytest.mark.parametrize("window", [True, -1, "28", 2.5, None])
def test_a_window_that_is_not_a_day_count_is_ignored(window: object) -> None:
    assert touched_days({"a": [event(**{RUN_DATES_EXTRA: ["2024-03-01"]}, trailing_days=window)]}) == (
        ["2024-03-01"],
        None,
    )


def test_a_run_without_asset_events_touched_nothing() -> None:
    """Manual runs and dag.test() have no events: the step falls back to its trailing window."""
    assert touched_days(None) == ([], None)
    assert touched_days({}) == ([], None)
    assert touched_days({"a": [SimpleNamespace(extra=None), object()]}) == ([], None)


def _load_series(target: WarehouseTarget, rates: list[float]) -> list[str]:
    runs = Runs().series(date(2024, 3, 1), rates)
    summary = load_extract(target.conn_id, extract(make_result(1, runs), suite="nightly"), target.schema)
    return list(summary.run_dates)


def test_refresh_on_an_empty_warehouse_says_there_is_nothing(sqlite_warehouse: WarehouseTarget) -> None:
    out = refresh_trends(sqlite_warehouse.conn_id, sqlite_warehouse.schema, touched=["2024-03-01"])
    assert out == {"latest_run_date": None, "daily_rows": 0, "touched": ["2024-03-01"], "regression_days": []}


def test_refresh_recounts_the_touched_day_and_moves_later_rolling_sums(warehouse: WarehouseTarget) -> None:
    days = _load_series(warehouse, step_rates(0.9, 0.9, days_before=20, days_after=0))
    assert (days[0], days[-1]) == ("2024-03-01", "2024-03-20")
    out = refresh_trends(warehouse.conn_id, warehouse.schema, trailing_days=7, touched=["2024-03-15"])
    assert out["latest_run_date"] == "2024-03-20"
    assert out["since"] == "2024-03-15"  # the touched day: nothing before it changed
    assert out["touched"] == ["2024-03-15"]
    assert out["daily_rows"] > 0
    assert out["regression_days"]  # the window ends the touched day can move
    assert all("2024-03-15" <= d <= "2024-03-22" for d in out["regression_days"])


def test_detection_finds_the_drop_and_defaults_to_the_latest_day(sqlite_warehouse: WarehouseTarget) -> None:
    days = _load_series(sqlite_warehouse, step_rates(0.9, 0.2))
    refreshed = refresh_trends(sqlite_warehouse.conn_id, sqlite_warehouse.schema, touched=days)
    ends = refreshed["regression_days"]
    _, episodes = detect_regressions_for(sqlite_warehouse.conn_id, sqlite_warehouse.schema, ends)
    assert [e["state"] for e in episodes] == ["open"]
    assert "2024-04-09" <= str(episodes[0]["started_on"])[:10] <= "2024-04-19"
    # without window ends: the latest day's window only, and the episode is rebuilt, not duplicated
    _, again = detect_regressions_for(sqlite_warehouse.conn_id, sqlite_warehouse.schema)
    assert [e["episode_id"] for e in again] == [e["episode_id"] for e in episodes]


def test_detection_on_an_empty_warehouse_finds_nothing(sqlite_warehouse: WarehouseTarget) -> None:
    assert detect_regressions_for(sqlite_warehouse.conn_id, sqlite_warehouse.schema) == ([], [])
