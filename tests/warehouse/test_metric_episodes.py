"""`warehouse/metric_episodes.py`: numeric-metric regressions as episodes (issue 25 item 4)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from cekura_livekit.detection.metric_shift import detect_metric_shifts
from cekura_livekit.results.frames import extract
from cekura_livekit.warehouse.metric_episodes import metric_episode_rows
from cekura_livekit.warehouse.tables import METRIC_DAILY, METRIC_EPISODES, METRIC_REGRESSIONS
from cekura_livekit.warehouse.writer import load_extract
from tests.support.warehouse import WarehouseTarget, make_result
from tests.warehouse.test_metrics import _latency_history, _rows


def test_episode_rows_are_per_series_and_metric_never_pooled() -> None:
    """Two metrics of one series: only the shifted one gets an episode, keyed by its own metric id."""
    first = date(2024, 1, 1)
    days = [first + timedelta(days=i) for i in range(90)]
    flat = [100.0 + (i % 3) for i in range(90)]
    shifted = [100.0 + (i % 3) if i < 60 else 160.0 + (i % 3) for i in range(90)]
    series = {(1, 1, "managed", "s", 7): (days, flat), (1, 1, "managed", "s", 8): (days, shifted)}
    labels = dict.fromkeys(series, ("m", "ms", "agent", "scenario"))
    rows = metric_episode_rows(series, labels, {}, datetime(2024, 4, 1, tzinfo=UTC))
    assert {r["metric_id"] for r in rows} == {8}
    assert all(r["relative_shift"] > 0.4 for r in rows)


def test_latency_shift_is_an_episode_alerted_once_and_noise_is_not(warehouse: WarehouseTarget) -> None:
    """Issue 25.4: a +40 % latency shift is one episode (per metric, from the daily p50), equal to what
    `detect_metric_shifts` gives on the stored medians; the flat series give none; it is alerted once."""
    from cekura_livekit.tasks.alerting import detect_and_alert

    runs = [
        *_latency_history(False, seed=1, first_id=1, scenario=1),
        *_latency_history(False, seed=2, first_id=1000, scenario=2),
        *_latency_history(True, seed=3, first_id=2000, scenario=3),
    ]
    load_extract(
        warehouse.conn_id,
        extract(make_result(1, runs), mode="managed"),
        warehouse.schema,
        recompute_trends=True,
    )
    episodes = _rows(warehouse, METRIC_EPISODES)
    assert [(r["scenario_id"], r["metric_id"], r["state"]) for r in episodes] == [(3, 7, "open")]
    daily = sorted(
        (r for r in _rows(warehouse, METRIC_DAILY) if r["scenario_id"] == 3 and r["metric_id"] == 7),
        key=lambda r: str(r["run_date"]),
    )
    [want] = detect_metric_shifts(
        [date.fromisoformat(str(r["run_date"])[:10]) for r in daily], [r["p50"] for r in daily]
    )
    [got] = episodes
    assert str(got["started_on"])[:10] == want.started_on.isoformat()
    assert str(got["flagged_on"])[:10] == want.flagged_on.isoformat()
    assert got["relative_shift"] == pytest.approx(want.relative_shift)
    assert got["relative_shift"] > 0.2
    found = _rows(warehouse, METRIC_REGRESSIONS)
    assert {
        (r["scenario_id"], r["episode_id"]) for r in found if str(r["run_date"])[:10] == "2024-06-17"
    } == {(3, got["episode_id"])}
    assert {r["scenario_id"] for r in found} == {3}
    first = detect_and_alert(warehouse.conn_id, warehouse.schema)
    assert first["alerted_monitors"] == ["metric:3"]
    assert "Latency: daily median" in first["message"]
    assert detect_and_alert(warehouse.conn_id, warehouse.schema)["new_monitor_alerts"] == 0
