"""Numeric-metric shifts: a latency step is found at its start and resolved after it ends; noise stays quiet."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from cekura_livekit.detection.metric_shift import dense_days, detect_metric_shifts

D0 = date(2025, 1, 1)


def medians(rng: np.random.Generator, levels: list[float]) -> list[float]:
    return [float(np.median(level * np.exp(0.3 * rng.standard_normal(5)))) for level in levels]


def test_a_latency_shift_is_found_near_its_start_and_resolves_after_it() -> None:
    rng = np.random.default_rng(2)
    levels = [800.0] * 80 + [1200.0] * 40 + [800.0] * 60
    (episode,) = detect_metric_shifts(dense_days(D0, 180), medians(rng, levels))
    assert D0 + timedelta(days=78) <= episode.started_on <= D0 + timedelta(days=82)
    assert episode.flagged_on <= D0 + timedelta(days=90)
    assert episode.resolved_on is not None
    assert D0 + timedelta(days=118) <= episode.resolved_on <= D0 + timedelta(days=125)
    assert 0.3 < (episode.relative_shift or 0) < 0.7
    assert 700 < episode.baseline_median < 900


def test_stationary_latency_stays_quiet_and_missing_days_are_skipped() -> None:
    rng = np.random.default_rng(3)
    values: list[float | None] = list(medians(rng, [800.0] * 365))
    for i in range(0, 365, 4):
        values[i] = None
    assert detect_metric_shifts(dense_days(D0, 365), values) == []


def test_one_freak_day_does_not_raise_an_alarm() -> None:
    rng = np.random.default_rng(5)
    values = medians(rng, [800.0] * 100)
    values[60] = 100_000.0
    assert detect_metric_shifts(dense_days(D0, 100), values) == []
