"""Vectorised simulation of the regression detector (`stats.RegressionPolicy` on summed window counts).

Why not warehouse loads: a year × 150 scenarios is 55,000 detection passes; the statistic is the same
one-sided two-proportion z-test on the same window sums, so numpy over a (scenarios × days) array gives the
same flags in a fraction of a second. The per-day family correction and the episode grouping call the real
`stats.bh_adjust` and `stats.episodes_from_flags`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from cekura_livekit.stats import RegressionPolicy, bh_adjust, episodes_from_flags

_ERFC = np.frompyfunc(math.erfc, 1, 1)
FIRST = date(2025, 1, 1)


def window_tests(
    passed: np.ndarray, n: np.ndarray, policy: RegressionPolicy
) -> tuple[np.ndarray, np.ndarray]:
    """(drop, p) per window end along the last axis; p is NaN where the test is not eligible."""
    zeros = np.zeros((*passed.shape[:-1], 1))
    cp = np.concatenate([zeros, np.cumsum(passed, axis=-1)], axis=-1)
    cn = np.concatenate([zeros, np.cumsum(n, axis=-1)], axis=-1)
    t = np.arange(passed.shape[-1])
    c0 = t - policy.current_days + 1
    b0 = c0 - policy.baseline_days
    c0c, b0c = np.clip(c0, 0, None), np.clip(b0, 0, None)
    cur_p, cur_n = cp[..., t + 1] - cp[..., c0c], cn[..., t + 1] - cn[..., c0c]
    base_p, base_n = cp[..., c0c] - cp[..., b0c], cn[..., c0c] - cn[..., b0c]
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (base_p + cur_p) / (base_n + cur_n)
        se = np.sqrt(pooled * (1 - pooled) * (1 / base_n + 1 / cur_n))
        drop = base_p / base_n - cur_p / cur_n
        tail = 0.5 * _ERFC(np.nan_to_num(drop / se) / math.sqrt(2)).astype(float)
        p = np.where(se > 0, tail, np.where(drop > 0, 0.0, 0.5))
    eligible = (b0 >= 0) & (base_n >= policy.min_baseline_n) & (cur_n >= policy.min_current_n)
    return drop, np.where(eligible, p, np.nan)


def q_per_day(p: np.ndarray) -> np.ndarray:
    """BH q-values per day (column) of a (scenarios × days) array, with the warehouse's `bh_adjust`."""
    q = np.full(p.shape, np.nan)
    for day in range(p.shape[1]):
        adjusted = bh_adjust([None if np.isnan(v) else float(v) for v in p[:, day]])
        q[:, day] = [np.nan if v is None else v for v in adjusted]
    return q


def flags(drop: np.ndarray, p: np.ndarray, policy: RegressionPolicy, *, fdr: bool = True) -> np.ndarray:
    """The detector's daily flags: FDR-controlled (warehouse rule) or raw p < alpha (the rule before)."""
    big = drop >= policy.min_drop - 1e-12
    if not fdr:
        return big & (p < policy.alpha)
    return big & (q_per_day(p) < policy.fdr_q)


def count_episodes(flagged: np.ndarray, policy: RegressionPolicy, persistence: int | None = None) -> int:
    last = FIRST + timedelta(days=flagged.shape[1] - 1)
    total = 0
    for row in flagged:
        days = [FIRST + timedelta(days=int(i)) for i in np.flatnonzero(row)]
        total += len(
            episodes_from_flags(
                days,
                last,
                persistence=policy.persistence_days if persistence is None else persistence,
                gap_days=policy.gap_days,
            )
        )
    return total


@dataclass(frozen=True)
class Stationary:
    day_rows: int
    raw_flags: int
    raw_episodes: int
    episodes: int
    scenario_months: float

    @property
    def per_100_scenario_months(self) -> float:
        return 100 * self.episodes / self.scenario_months


def stationary(
    policy: RegressionPolicy, *, scenarios: int = 150, days: int = 365, runs: float = 18, rate: float = 0.8
) -> Stationary:
    """The issue's stationary case: a constant rate, Poisson(`runs`) evaluated runs a day per scenario."""
    rng = np.random.default_rng(13)
    n = rng.poisson(runs, (scenarios, days))
    drop, p = window_tests(rng.binomial(n, rate), n, policy)
    raw = flags(drop, p, policy, fdr=False)
    return Stationary(
        day_rows=scenarios * days,
        raw_flags=int(raw.sum()),
        raw_episodes=count_episodes(raw, policy, persistence=1),
        episodes=count_episodes(flags(drop, p, policy), policy),
        scenario_months=scenarios * days / (365.25 / 12),
    )


@dataclass(frozen=True)
class Power:
    detected: float  # share of replicates with an episode within `horizon` days of the drop
    median_delay: float  # days from the first bad day to the day the episode is visible
    p90_delay: float


def designed_drop(
    policy: RegressionPolicy,
    *,
    runs: int,
    family: int,
    replicates: int = 200,
    before: float = 0.95,
    after: float = 0.75,
    others: float = 0.8,
    horizon: int = 14,
) -> Power:
    """One scenario drops from `before` to `after` on day 30 among `family` - 1 stationary ones (the day's
    family of tests), `runs` evaluated runs a day each; when does its episode open?"""
    rng = np.random.default_rng(5)
    start, days = 30, 30 + horizon + 7
    rate = np.full((replicates, family, days), others)
    rate[:, 0, :start], rate[:, 0, start:] = before, after
    n = np.full(rate.shape, runs)
    drop, p = window_tests(rng.binomial(n, rate), n, policy)
    delays = []
    for r in range(replicates):
        hit = flags(drop[r], p[r], policy)[0]
        held = np.ones(days, dtype=bool)
        for lag in range(1, policy.persistence_days):
            held[lag:] &= hit[:-lag]
            held[:lag] = False
        visible = [t for t in np.flatnonzero(hit & held) if t >= start]
        if visible and visible[0] - start + 1 <= horizon:
            delays.append(visible[0] - start + 1)
    return Power(
        detected=len(delays) / replicates,
        median_delay=float(np.median(delays)) if delays else math.nan,
        p90_delay=float(np.percentile(delays, 90)) if delays else math.nan,
    )
