"""Numeric-metric regressions (latency, interruptions: higher is worse), per series × metric, never pooled.

The same treatment as success-rate drops (`drops.py`): a one-sided CUSUM on the robustly standardised DAILY
MEDIAN against a baseline anchored to the last stable segment (median and MAD of the baseline days' medians,
frozen while an excursion or an episode is open), episodes that start at the change-point estimate and resolve
only when a reverse CUSUM shows the level back.

Why daily medians: latency is skewed with long tails; one slow call moves a mean, not a median. Why MAD: one
outage day in the baseline would inflate an SD. Standardised steps are clipped to ±`clip` so one freak day
cannot raise an alarm alone. `k` = half the smallest shift worth finding (in baseline SDs of a daily median);
`h` gives about `calibration.TARGET_PER_100` false episodes per 100 series-months for Gaussian-like daily medians
(Siegmund's approximation, checked by the harness). The relative shift is reported beside it for people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np


@dataclass(frozen=True)
class MetricShiftPolicy:
    k: float = 0.5
    h: float = 8.0
    clip: float = 4.0
    min_baseline_days: int = 28
    sd_inflation: float = 2.0
    min_spread: float = 0.02  # floor on the baseline spread (log units when logs are used: 2 %)
    max_baseline_days: int = 120  # the newest stable days kept (bounded cost; still never excursion days)


@dataclass(frozen=True)
class MetricEpisode:
    started_on: date
    flagged_on: date
    resolved_on: date | None
    baseline_median: float
    episode_median: float | None

    @property
    def open(self) -> bool:
        return self.resolved_on is None

    @property
    def relative_shift(self) -> float | None:
        if self.episode_median is None or self.baseline_median == 0:
            return None
        return (self.episode_median - self.baseline_median) / abs(self.baseline_median)


def _prepared(days: Sequence[date], values: Sequence[float | None]) -> tuple[list[tuple[date, float]], bool]:
    """The days with a value, in day order; on logs when every value is positive.

    Why logs: latencies are multiplicative (a slow path adds a share, not milliseconds) and right-skewed; the
    logs of daily medians are near-symmetric, which the CUSUM's false-alarm rate assumes.
    """
    order = sorted(
        (d, float(v)) for d, v in zip(days, values, strict=True) if v is not None and np.isfinite(v)
    )
    logs = bool(order) and all(v > 0 for _, v in order)
    return ([(d, float(np.log(v))) for d, v in order] if logs else order), logs


def _scale(values: list[float], policy: MetricShiftPolicy) -> tuple[float, float]:
    med = float(np.median(values))
    mad = 1.4826 * float(np.median(np.abs(np.asarray(values) - med)))
    # A spread read from few days is often too small, and an underestimate multiplies false alarms; widen it
    # by its own sampling error (MAD: ~1.2 / sqrt(days) relative), which vanishes as the baseline grows.
    mad *= 1 + policy.sd_inflation / np.sqrt(len(values))
    return med, max(mad, policy.min_spread)


def detect_metric_shifts(
    days: Sequence[date], daily_medians: Sequence[float | None], policy: MetricShiftPolicy | None = None
) -> list[MetricEpisode]:
    """Episodes of one series × metric from its daily medians (None or NaN: no value that day)."""
    policy = policy or MetricShiftPolicy()
    if len(days) != len(daily_medians):
        raise ValueError(
            f"days ({len(days)}) and daily_medians ({len(daily_medians)}) need one value per day"
        )
    order, logs = _prepared(days, daily_medians)
    baseline: list[float] = []
    pending: list[float] = []
    s = 0.0
    start: date | None = None
    episodes: list[MetricEpisode] = []
    episode: dict | None = None
    for day, value in order:
        if episode is not None:
            # The baseline stays as it was frozen: the level was shown back at it.
            episode = _episode_day(episode, day, value, policy, episodes)
            if episode is None:
                s, start, pending = 0.0, None, []
            continue
        if len(baseline) < policy.min_baseline_days:
            baseline.append(value)
            continue
        med, sd = _scale(baseline, policy)
        z = float(np.clip((value - med) / sd, -policy.clip, policy.clip))
        s_new = max(0.0, s + z - policy.k)
        if s <= 0 < s_new:
            start = day
        s = s_new
        pending.append(value)
        if s <= 0:
            baseline.extend(pending)
            del baseline[: -policy.max_baseline_days]
            pending = []
        elif s >= policy.h and start is not None:
            episode = {
                "start": start,
                "flag": day,
                "med": med,
                "sd": sd,
                "values": list(pending),
                "r": 0.0,
                "r_start": None,
                "r_values": [],
            }
            episodes.append(MetricEpisode(start, day, None, med, float(np.median(pending))))
            s, start, pending = 0.0, None, []
    if logs:
        episodes = [_exp(e) for e in episodes]
    return episodes


def _exp(e: MetricEpisode) -> MetricEpisode:
    back = None if e.episode_median is None else float(np.exp(e.episode_median))
    return MetricEpisode(e.started_on, e.flagged_on, e.resolved_on, float(np.exp(e.baseline_median)), back)


def _episode_day(
    ep: dict, day: date, value: float, policy: MetricShiftPolicy, episodes: list[MetricEpisode]
) -> dict | None:
    """Reverse CUSUM: back at the baseline median against the episode's level; resolves on the recovery start."""
    level = max((float(np.median(ep["values"])) - ep["med"]) / ep["sd"], 2 * policy.k)
    z = float(np.clip((value - ep["med"]) / ep["sd"], -policy.clip, policy.clip))
    r_new = max(0.0, ep["r"] + level / 2 - z)  # LLR of "mean 0" vs "mean level", unit variance, scaled
    if ep["r"] <= 0 < r_new:
        ep["r_start"] = day
    ep["r"] = r_new
    ep["r_values"].append(value)
    if ep["r"] <= 0:
        ep["values"].extend(ep["r_values"])
        ep["r_values"] = []
    if ep["r"] * level < policy.h or ep["r_start"] is None:
        episodes[-1] = MetricEpisode(ep["start"], ep["flag"], None, ep["med"], float(np.median(ep["values"])))
        return ep
    episodes[-1] = MetricEpisode(
        ep["start"], ep["flag"], ep["r_start"], ep["med"], float(np.median(ep["values"]))
    )
    return None


def dense_days(first: date, count: int) -> list[date]:
    """`count` consecutive days from `first` (test and harness helper)."""
    return [first + timedelta(days=i) for i in range(count)]
