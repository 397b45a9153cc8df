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

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

import numpy as np

K = TypeVar("K", bound=Hashable)


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


def detect_metric_shifts_many(
    series: Mapping[K, tuple[Sequence[date], Sequence[float | None]]], policy: MetricShiftPolicy | None = None
) -> dict[K, list[MetricEpisode]]:
    """`detect_metric_shifts` of every series (key -> (days, daily medians)), the same episodes.

    Why: the scalar loop costs ~0.1-1 ms a series-day (numpy medians of a Python list each day): minutes a
    pass for 5,000 series with a year of history. Before its first alarm a series' state is its CUSUM `s`,
    the start of its excursion and its baseline, which is always a contiguous stretch of its own values (the
    first `min_baseline_days`, then the newest `max_baseline_days` up to the last day the CUSUM was back at 0).
    So every series steps together through its values: one sort of the baselines a step gives all medians
    and MADs. The few series that alarm (an episode, reverse CUSUM, recovery) are then run through the scalar
    detector, so the episodes are the scalar ones by construction; tests/detection/test_metric_shift_many.py
    compares both on random series.
    """
    policy = policy or MetricShiftPolicy()
    keys = list(series)
    prepared = [_prepared(*series[key]) for key in keys]
    lengths = np.array([len(order) for order, _ in prepared], dtype=np.int64)
    out: dict[K, list[MetricEpisode]] = {key: [] for key in keys}
    width = max(policy.max_baseline_days, policy.min_baseline_days)
    longest = int(lengths.max()) if len(keys) else 0
    if longest <= policy.min_baseline_days:
        return out
    values = np.full(
        (len(keys), longest + width), np.nan
    )  # `width` NaN columns first: windows never go below 0
    for i, (order, _) in enumerate(prepared):
        values[i, width : width + len(order)] = [v for _, v in order]
    alarmed = _first_alarms(values, lengths, width, policy)
    for i in np.flatnonzero(alarmed).tolist():
        out[keys[i]] = detect_metric_shifts(*series[keys[i]], policy)
    return out


def _first_alarms(
    values: np.ndarray, lengths: np.ndarray, width: int, policy: MetricShiftPolicy
) -> np.ndarray:
    """Which series' CUSUM reaches `h` (every series stepping together; `values` offset by `width` columns)."""
    count = len(lengths)
    s = np.zeros(count)
    started = np.zeros(count, dtype=bool)
    lo = np.zeros(count, dtype=np.int64)  # the baseline: positions lo .. hi - 1 of each series
    hi = np.full(count, policy.min_baseline_days, dtype=np.int64)
    alarmed = np.zeros(count, dtype=bool)
    offsets = np.arange(-width, 0)
    for j in range(policy.min_baseline_days, int(lengths.max())):
        rows = np.flatnonzero((j < lengths) & ~alarmed)
        if not len(rows):
            break
        r_lo, r_hi = lo[rows], hi[rows]
        cols = width + r_hi[:, None] + offsets
        window = values[rows[:, None], cols]
        window[cols < width + r_lo[:, None]] = np.nan
        n = r_hi - r_lo
        med = _sorted_median(np.sort(window, axis=1), n)
        mad = 1.4826 * _sorted_median(np.sort(np.abs(window - med[:, None]), axis=1), n)
        mad = mad * (1 + policy.sd_inflation / np.sqrt(n))
        sd = np.maximum(mad, policy.min_spread)
        z = np.minimum(np.maximum((values[rows, width + j] - med) / sd, -policy.clip), policy.clip)
        s_old = s[rows]
        s_new = np.maximum(0.0, s_old + z - policy.k)
        started[rows] |= (s_old <= 0) & (s_new > 0)
        s[rows] = s_new
        back = s_new <= 0
        hi[rows[back]] = j + 1
        lo[rows[back]] = np.maximum(0, j + 1 - policy.max_baseline_days)
        started[rows[back]] = False
        alarmed[rows[~back & (s_new >= policy.h) & started[rows]]] = True
    return alarmed


def _sorted_median(ordered: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Row medians of rows sorted ascending with NaN last, `n` values each (np.median's arithmetic: the middle
    value, or the mean of the two middle values)."""
    idx = np.arange(len(n))
    upper = ordered[idx, n // 2]
    lower = ordered[idx, np.maximum(n // 2 - 1, 0)]
    return np.where(n % 2 == 1, upper, (lower + upper) / 2)
