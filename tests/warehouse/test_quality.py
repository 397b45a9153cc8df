"""Data-quality rows in the warehouse (`warehouse.quality`): freshness, volume and infra alerts per series as of
the newest day, read from the daily table, replacing `cekura_quality_alerts` on each pass (issue 25.5)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from cekura_livekit.detection.quality import DayCounts
from cekura_livekit.results.frames import extract
from cekura_livekit.tasks.trends import detect_regressions_for, refresh_trends
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.quality import alert_id, quality_rows, refresh_quality_in
from cekura_livekit.warehouse.tables import QUALITY_ALERTS
from cekura_livekit.warehouse.writer import load_extract
from tests.support.detection import Runs, step_rates
from tests.support.warehouse import WarehouseTarget, make_result, make_run

KEY = (1, 2004, "voice/managed", "nightly")
STAMP = datetime(2024, 5, 1, tzinfo=UTC)


def _daily(first: date, runs: list[int], infra: list[int] | None = None) -> list[DayCounts]:
    return [
        DayCounts(first + timedelta(days=i), n, (infra or [0] * len(runs))[i]) for i, n in enumerate(runs)
    ]


def _rows(days: list[DayCounts], as_of: date) -> list[dict[str, Any]]:
    return quality_rows({KEY: days}, {KEY: ("Acme", "Cancel")}, as_of, STAMP)


def test_the_alert_id_is_series_kind_free_and_dated() -> None:
    row = {
        "agent_id": 1,
        "scenario_id": 2004,
        "mode": "voice/managed",
        "suite": "nightly",
        "day": date(2024, 4, 9),
    }
    assert alert_id(row) == "1/2004/voice/managed/nightly@2024-04-09"


def test_a_silent_series_is_one_freshness_row_keyed_on_its_last_day_with_runs() -> None:
    days = _daily(date(2024, 3, 1), [6] * 30)  # daily until 2024-03-30, then nothing
    for as_of in (date(2024, 4, 6), date(2024, 4, 9)):  # still silent a few days later: the same row
        [row] = _rows(days, as_of)
        assert row["kind"] == "freshness"
        assert row["day"] == date(2024, 3, 30)
        assert (row["agent_name"], row["scenario_name"]) == ("Acme", "Cancel")
        assert row["updated_at"] == STAMP


def test_a_lost_batch_is_a_volume_row_and_an_outage_an_infra_row() -> None:
    volume = _rows(_daily(date(2024, 3, 1), [6] * 30 + [1]), date(2024, 3, 31))
    assert [(r["kind"], r["day"]) for r in volume] == [("volume", date(2024, 3, 31))]
    assert volume[0]["observed"] == 1.0
    infra = _rows(_daily(date(2024, 3, 1), [10] * 31, [0] * 30 + [8]), date(2024, 3, 31))
    assert [(r["kind"], r["day"]) for r in infra] == [("infra", date(2024, 3, 31))]
    assert isinstance(infra[0]["p_value"], float)


def test_a_steady_series_has_no_rows() -> None:
    assert _rows(_daily(date(2024, 3, 1), [6] * 31), date(2024, 3, 31)) == []


def _quality_table(target: WarehouseTarget) -> list[tuple[Any, ...]]:
    with open_warehouse(target.conn_id, target.schema) as wh:
        q = wh.dialect.quote
        _, rows = wh.query(
            f"SELECT {q('kind')}, {q('day')}, {q('observed')} FROM {wh.dialect.table(QUALITY_ALERTS)}"
        )
    return [(k, str(d)[:10], float(o)) for k, d, o in rows]


def test_an_outage_day_lands_in_the_quality_table_through_the_detection_pass(
    warehouse: WarehouseTarget,
) -> None:
    runs = Runs().series(date(2024, 3, 1), step_rates(0.9, 0.9))
    outage = [make_run(80_000 + i, day="2024-04-19", outcome="infra_error", hour=22) for i in range(8)]
    summary = load_extract(
        warehouse.conn_id, extract(make_result(1, runs + outage), suite="nightly"), warehouse.schema
    )
    refreshed = refresh_trends(warehouse.conn_id, warehouse.schema, touched=summary.run_dates)
    detect_regressions_for(warehouse.conn_id, warehouse.schema, refreshed["regression_days"])
    [(kind, day, observed)] = _quality_table(warehouse)
    assert (kind, day) == ("infra", "2024-04-19")
    assert 0.5 < observed <= 1.0  # the day's infra share, 8 of 14


def test_each_pass_replaces_the_table_with_the_state_as_of_its_day(sqlite_warehouse: WarehouseTarget) -> None:
    """A later pass as of a day long after the last runs: the infra row is gone, a freshness row is there."""
    runs = Runs().series(date(2024, 3, 1), step_rates(0.9, 0.9))
    outage = [make_run(80_000 + i, day="2024-04-19", outcome="infra_error", hour=22) for i in range(8)]
    summary = load_extract(
        sqlite_warehouse.conn_id,
        extract(make_result(1, runs + outage), suite="nightly"),
        sqlite_warehouse.schema,
    )
    refreshed = refresh_trends(sqlite_warehouse.conn_id, sqlite_warehouse.schema, touched=summary.run_dates)
    detect_regressions_for(sqlite_warehouse.conn_id, sqlite_warehouse.schema, refreshed["regression_days"])
    assert [k for k, _, _ in _quality_table(sqlite_warehouse)] == ["infra"]
    with open_warehouse(sqlite_warehouse.conn_id, sqlite_warehouse.schema) as wh, wh.transaction() as cur:
        rows = refresh_quality_in(wh.dialect, cur, "2024-05-10", now=STAMP)
    assert [(r["kind"], r["day"]) for r in rows] == [("freshness", date(2024, 4, 19))]
    assert _quality_table(sqlite_warehouse) == [("freshness", "2024-04-19", rows[0]["observed"])]
