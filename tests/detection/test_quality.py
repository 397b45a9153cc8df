"""Data-quality monitors: an outage, a lost batch and an infra burst each raise their alert; ordinary days none."""

from __future__ import annotations

from datetime import date, timedelta

from cekura_livekit.detection.quality import DayCounts, quality_alerts

D0 = date(2025, 1, 1)


def daily(count: int, runs: int = 5, infra: int = 0) -> list[DayCounts]:
    return [DayCounts(D0 + timedelta(days=i), runs, infra) for i in range(count)]


def kinds(rows: list[dict]) -> list[str]:
    return [r["kind"] for r in rows]


def test_a_week_without_runs_is_a_freshness_alert() -> None:
    rows = quality_alerts(daily(40), D0 + timedelta(days=46))
    assert kinds(rows) == ["freshness"]
    assert rows[0]["observed"] == 7
    assert rows[0]["expected"] == 1


def test_a_weekly_series_is_not_late_after_three_days() -> None:
    weekly = [DayCounts(D0 + timedelta(days=7 * i), 20) for i in range(10)]
    assert quality_alerts(weekly, D0 + timedelta(days=66)) == []
    assert kinds(quality_alerts(weekly, D0 + timedelta(days=63 + 15))) == ["freshness"]


def test_a_lost_batch_and_a_thin_day_are_volume_alerts() -> None:
    assert kinds(quality_alerts(daily(40), D0 + timedelta(days=40))) == ["volume"]
    thin = [*daily(40, runs=20), DayCounts(D0 + timedelta(days=40), 3)]
    assert kinds(quality_alerts(thin, D0 + timedelta(days=40))) == ["volume"]
    ordinary = [*daily(40, runs=20), DayCounts(D0 + timedelta(days=40), 18)]
    assert quality_alerts(ordinary, D0 + timedelta(days=40)) == []


def test_an_infra_burst_is_an_infra_alert() -> None:
    history = daily(40, runs=12, infra=0)
    burst = [*history, DayCounts(D0 + timedelta(days=40), 12, 7)]
    (row,) = quality_alerts(burst, D0 + timedelta(days=40))
    assert row["kind"] == "infra"
    assert row["observed"] == 7 / 12
    assert row["p_value"] < 1e-3
    one = [*history, DayCounts(D0 + timedelta(days=40), 12, 1)]
    assert quality_alerts(one, D0 + timedelta(days=40)) == []


def test_too_little_history_says_nothing() -> None:
    assert quality_alerts(daily(3), D0 + timedelta(days=30)) == []
