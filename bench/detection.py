"""Detection harness (issue 25): designed truths through `cekura_livekit.detection`, against the CUSUM floor and
the rule in use today.

`python -m bench.detection [--quick] [--calibrate]` prints Markdown. Everything is seeded and vectorised over
series (the detector's core is written over arrays, so the simulation runs the production code, not a copy).

- False episodes per 100 scenario-months on stationary series: base rates 50–99 %, 1–50 runs a day.
- Drops of 10/20/30 points (steps, and drifts) at 1/5/20 runs a day: detection within 7/14/28 days, median and
  p90 delay, and the CUSUM floor (the optimal CUSUM knowing p0 and p1, at the same false-alarm rate).
- The current rule (`stats.RegressionPolicy`: 3-day vs 14-day z-test, BH across each day's family, two
  consecutive flags), RE-IMPLEMENTED here over arrays (faithful: it calls `stats.episodes_from_flags`; its BH is
  checked against `stats.bh_adjust` in tests/detection), measured on the same data.
- Flakiness precision/recall, metric shifts, data-quality monitors.

`--calibrate` regenerates `detection/calibration.py`'s TABLE (prints it).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from cekura_livekit.detection import calibration
from cekura_livekit.detection.drops import DropPolicy, run_detector
from cekura_livekit.stats import RegressionPolicy, episodes_from_flags

MONTH = 365.25 / 12
FIRST = date(2025, 1, 1)


def per_100_months(episodes: int, series: int, days: int) -> float:
    return 100 * episodes / (series * days / MONTH)


# ---------------------------------------------------------------------------------------------- calibration


def false_rate(h: float, volume: float, p0: float, series: int, days: int, seed: int) -> float:
    """False episodes per 100 scenario-months of the detector at a fixed threshold on stationary series."""
    rng = np.random.default_rng(seed)
    n = np.full((series, days), volume)
    x = rng.binomial(n.astype(int), p0)
    return per_100_months(len(run_detector(x, n, thresholds=h)), series, days)


def calibrate_cell(volume: float, p0: float, *, series: int = 1000, days: int = 365, seed: int = 0) -> float:
    """Smallest threshold (to 0.05) whose false-episode rate is at most `calibration.TARGET_PER_100`."""
    lo, hi = 1.0, 16.0
    while hi - lo > 0.05:
        mid = (lo + hi) / 2
        if false_rate(mid, volume, p0, series, days, seed) <= calibration.TARGET_PER_100:
            hi = mid
        else:
            lo = mid
    return round(hi, 2)


def calibrate() -> str:
    rows = []
    for i, v in enumerate(calibration.VOLUMES):
        cells = [calibrate_cell(v, p, seed=1000 * i + j) for j, p in enumerate(calibration.RATES)]
        print(f"volume {v}: {cells}", file=sys.stderr, flush=True)
        rows.append("    (" + ", ".join(f"{c:.2f}" for c in cells) + "),")
    return "TABLE = (\n" + "\n".join(rows) + "\n)"


# ---------------------------------------------------------------------------------------------- the floor


def oracle_cusum(x: np.ndarray, n: np.ndarray, p0: float, p1: float, h: float) -> np.ndarray:
    """Alarm days (restarting after each) of the CUSUM that knows p0 and p1, over (series × days) counts;
    returns a boolean array of alarms."""
    step = x * math.log(p1 / p0) + (n - x) * math.log((1 - p1) / (1 - p0))
    s = np.zeros(x.shape[0])
    alarms = np.zeros(x.shape, dtype=bool)
    for t in range(x.shape[1]):
        s = np.maximum(s + step[:, t], 0.0)
        alarms[:, t] = s >= h
        s[alarms[:, t]] = 0.0
    return alarms


def oracle_threshold(
    volume: float, p0: float, p1: float, *, series: int = 800, days: int = 730, seed: int = 7
) -> float:
    """The oracle CUSUM's threshold at the detector's false-alarm budget (`calibration.TARGET_PER_100`)."""
    rng = np.random.default_rng(seed)
    n = np.full((series, days), volume)
    x = rng.binomial(n.astype(int), p0).astype(float)
    lo, hi = 0.5, 16.0
    while hi - lo > 0.05:
        mid = (lo + hi) / 2
        rate = per_100_months(int(oracle_cusum(x, n, p0, p1, mid).sum()), series, days)
        lo, hi = (lo, mid) if rate <= calibration.TARGET_PER_100 else (mid, hi)
    return hi


def first_alarm_after(alarm: np.ndarray, start: int) -> np.ndarray:
    """Delay in days (1 = the change day) of the first alarm at or after `start` per row; inf when none."""
    after = alarm[:, start:]
    hit = after.any(axis=1)
    return np.where(hit, np.argmax(after, axis=1) + 1.0, np.inf)


@dataclass(frozen=True)
class Delays:
    within: dict[int, float]
    median: float
    p90: float
    mean: float

    @classmethod
    def of(cls, delays: np.ndarray) -> Delays:
        finite = np.where(np.isfinite(delays), delays, 10_000.0)
        return cls(
            within={d: float(np.mean(delays <= d)) for d in (7, 14, 28)},
            median=float(np.median(finite)),
            p90=float(np.percentile(finite, 90)),
            mean=float(np.mean(finite)),
        )


def drop_series(
    rng: np.random.Generator, reps: int, volume: int, before: float, after: float, change: int, days: int, drift: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Counts of `reps` series at `before` until `change`, then `after` (reached linearly over `drift` days)."""
    t = np.arange(days)
    ramp = np.clip((t - change + 1) / max(drift, 1), 0, 1) if drift else (t >= change).astype(float)
    rate = before + (after - before) * ramp
    n = np.full((reps, days), float(volume))
    return rng.binomial(n.astype(int), np.broadcast_to(rate, n.shape)).astype(float), n


def detector_delays(x: np.ndarray, n: np.ndarray, change: int) -> np.ndarray:
    alarms = np.zeros(x.shape, dtype=bool)
    for e in run_detector(x, n):
        alarms[e.series, e.flagged] = True
    return first_alarm_after(alarms, change)
