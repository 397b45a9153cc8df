"""`detect_metric_shifts_many` (every series stepping together) finds exactly the episodes `detect_metric_shifts`
finds series by series: the scalar detector is the reference, on many random series (stationary, steps up and
down, drifts, missing days, non-positive values, short histories) and on small policies that alarm often."""

from __future__ import annotations

import random
from datetime import date

import numpy as np
import pytest

from cekura_livekit.detection.metric_shift import (
    MetricShiftPolicy,
    dense_days,
    detect_metric_shifts,
    detect_metric_shifts_many,
)


def _series(rng: random.Random, days: int) -> tuple[list[date], list[float | None]]:
    base, noise = rng.choice([300.0, 1200.0, 5.0]), rng.choice([0.02, 0.1, 0.3])
    shift_at, factor = rng.randrange(0, days + 1), rng.choice([1.0, 1.0, 1.3, 1.6, 0.7])
    values: list[float | None] = []
    for d in range(days):
        level = base * (factor if d >= shift_at else 1.0) * (1 + 0.004 * d * (factor > 1.4))
        values.append(level * float(np.exp(rng.gauss(0, noise))))
    for d in rng.sample(range(days), days // 10):
        values[d] = None if rng.random() < 0.7 else float("nan")
    if rng.random() < 0.1 and days:
        values[rng.randrange(days)] = 0.0  # one non-positive value: no logs for this series
    return dense_days(date(2026, 1, 1), days), values


@pytest.mark.parametrize("seed", range(4))
def test_every_series_at_once_equals_the_scalar_detector(seed: int) -> None:
    rng = random.Random(seed)
    policy = [
        MetricShiftPolicy(),
        MetricShiftPolicy(h=3.0, min_baseline_days=10, max_baseline_days=20),
        MetricShiftPolicy(k=0.2, h=2.0, min_baseline_days=5, max_baseline_days=40, clip=2.5),
        MetricShiftPolicy(min_baseline_days=30, max_baseline_days=12, h=4.0),
    ][seed]
    series = {
        (i, "latency"): _series(rng, rng.choice([0, 3, 20, policy.min_baseline_days + 1, 60, 150]))
        for i in range(300)
    }
    many = detect_metric_shifts_many(series, policy)
    episodes = 0
    for key, (days, values) in series.items():
        assert many[key] == detect_metric_shifts(days, values, policy), key
        episodes += len(many[key])
    assert episodes >= 10  # the comparison covers series with episodes (handed to the scalar detector) …
    assert sum(1 for key in series if not many[key] and len(series[key][0]) > 40) >= 3  # … and without


def test_no_series_and_short_series() -> None:
    assert detect_metric_shifts_many({}) == {}
    short = {"a": (dense_days(date(2026, 1, 1), 5), [1.0, 2.0, None, 3.0, 4.0])}
    assert detect_metric_shifts_many(short) == {"a": []}
