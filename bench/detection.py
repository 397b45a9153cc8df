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

`--calibrate` regenerates `detection/calibration.py`'s TABLE (prints it); `--publish` also writes the table into
docs/analytics.md between its markers (`make bench` does, through `bench/__main__.py`); `--cost` times one
detection pass at 5,000-50,000 series × 28-365 days of history.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from cekura_livekit.detection import calibration
from cekura_livekit.detection.drops import run_detector
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


def calibrate_cell(volume: float, p0: float, *, series: int = 2000, days: int = 365, seed: int = 0) -> float:
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
    def of(cls, delays: np.ndarray, cap: float = 10_000.0) -> Delays:
        """Summaries of delays (inf = never); mean and percentiles with never counted as `cap`."""
        finite = np.minimum(np.where(np.isfinite(delays), delays, cap), cap)
        return cls(
            within={d: float(np.mean(delays <= d)) for d in (7, 14, 28)},
            median=float(np.median(finite)),
            p90=float(np.percentile(finite, 90)),
            mean=float(np.mean(finite)),
        )


def drop_series(
    rng: np.random.Generator,
    reps: int,
    volume: int,
    before: float,
    after: float,
    change: int,
    days: int,
    drift: int = 0,
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


# ---------------------------------------------------------------------------------------------- current rule


def bh_q(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values along axis -2 (the family: the series of one day); NaN = not tested.

    Vectorised `stats.bh_adjust` (tests/detection checks they agree)."""
    moved = np.moveaxis(p, -2, -1)
    filled = np.where(np.isnan(moved), np.inf, moved)
    order = np.argsort(filled, axis=-1, kind="stable")
    ranked = np.take_along_axis(filled, order, axis=-1)
    m = np.sum(np.isfinite(ranked), axis=-1, keepdims=True)
    rank = np.arange(1, ranked.shape[-1] + 1)
    with np.errstate(invalid="ignore"):
        scaled = np.where(np.isfinite(ranked), ranked * m / rank, np.inf)
    q_sorted = np.minimum.accumulate(scaled[..., ::-1], axis=-1)[..., ::-1]
    q_sorted = np.minimum(q_sorted, 1.0)
    q = np.empty_like(q_sorted)
    np.put_along_axis(q, order, q_sorted, axis=-1)
    q = np.where(np.isnan(moved), np.nan, q)
    return np.moveaxis(q, -1, -2)


def erfc(x: np.ndarray) -> np.ndarray:
    """Complementary error function on arrays (Numerical Recipes' erfcc, relative error < 1.2e-7: far below
    what moves a BH decision at q = 0.10; math.erfc per element would cost seconds and a GB here)."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = (
        -z * z
        - 1.26551223
        + t
        * (
            1.00002368
            + t
            * (
                0.37409196
                + t
                * (
                    0.09678418
                    + t
                    * (
                        -0.18628806
                        + t
                        * (
                            0.27886807
                            + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))
                        )
                    )
                )
            )
        )
    )
    r = t * np.exp(poly)
    return np.where(x >= 0, r, 2.0 - r)


def current_flags(x: np.ndarray, n: np.ndarray, policy: RegressionPolicy) -> np.ndarray:
    """Daily flags of today's rule over (families × series × days): 3-day vs 14-day one-sided z-test, BH across
    each day's family, minimum sizes and a 10-point drop (`stats.RegressionPolicy`, re-implemented on arrays)."""
    zeros = np.zeros((*x.shape[:-1], 1))
    cp = np.concatenate([zeros, np.cumsum(x, axis=-1)], axis=-1)
    cn = np.concatenate([zeros, np.cumsum(n, axis=-1)], axis=-1)
    t = np.arange(x.shape[-1])
    c0 = np.clip(t - policy.current_days + 1, 0, None)
    b0 = np.clip(t - policy.current_days + 1 - policy.baseline_days, 0, None)
    cur_p, cur_n = cp[..., t + 1] - cp[..., c0], cn[..., t + 1] - cn[..., c0]
    base_p, base_n = cp[..., c0] - cp[..., b0], cn[..., c0] - cn[..., b0]
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (base_p + cur_p) / (base_n + cur_n)
        se = np.sqrt(pooled * (1 - pooled) * (1 / base_n + 1 / cur_n))
        drop = base_p / base_n - cur_p / cur_n
        z = np.nan_to_num(drop / se)
        tail = 0.5 * erfc(z / math.sqrt(2))
        p = np.where(se > 0, tail, np.where(drop > 0, 0.0, 0.5))
    ok = (t - policy.current_days + 1 - policy.baseline_days >= 0) & (base_n >= policy.min_baseline_n)
    ok &= cur_n >= policy.min_current_n
    q = bh_q(np.where(ok, p, np.nan))
    return (drop >= policy.min_drop - 1e-12) & (q < policy.fdr_q)


def current_episodes(flags: np.ndarray, policy: RegressionPolicy) -> int:
    """Episodes of today's rule (`stats.episodes_from_flags` itself) over rows of daily flags."""
    rows = flags.reshape(-1, flags.shape[-1])
    last = FIRST + timedelta(days=rows.shape[1] - 1)
    total = 0
    for row in rows:
        if row.any():
            days = [FIRST + timedelta(days=int(i)) for i in np.flatnonzero(row)]
            total += len(
                episodes_from_flags(days, last, persistence=policy.persistence_days, gap_days=policy.gap_days)
            )
    return total


def current_visible(flags: np.ndarray, policy: RegressionPolicy) -> np.ndarray:
    """Days on which today's rule shows an episode (a flag held `persistence_days` consecutive days)."""
    held = flags.copy()
    for lag in range(1, policy.persistence_days):
        held[..., lag:] &= flags[..., :-lag]
        held[..., :lag] = False
    return held


# ---------------------------------------------------------------------------------------------- experiments

RATES = (0.5, 0.7, 0.85, 0.95, 0.99)
FAMILY = 60  # series per warehouse in today's rule's BH family (the designed year)


@dataclass(frozen=True)
class Sizes:
    series: int  # stationary series per cell (a multiple of FAMILY)
    days: int
    reps: int  # replicates per drop design
    volumes_false: tuple[int, ...]
    rates: tuple[float, ...]


FULL = Sizes(series=600, days=365, reps=400, volumes_false=(1, 5, 20, 50), rates=RATES)
QUICK = Sizes(series=120, days=365, reps=60, volumes_false=(1, 5, 20), rates=(0.5, 0.85, 0.99))


def false_episodes(sizes: Sizes, seed: int = 11) -> list[str]:
    lines = [
        "| runs/day | " + " | ".join(f"{r:.0%} new / today" for r in sizes.rates) + " |",
        "|---|" + "---|" * len(sizes.rates),
    ]
    policy = RegressionPolicy()
    for v in sizes.volumes_false:
        cells = []
        for j, rate in enumerate(sizes.rates):
            rng = np.random.default_rng(seed + 100 * v + j)
            n = np.full((sizes.series, sizes.days), float(v))
            x = rng.binomial(n.astype(int), rate).astype(float)
            ours = per_100_months(len(run_detector(x, n)), sizes.series, sizes.days)
            fam = (sizes.series // FAMILY, FAMILY, sizes.days)
            today = per_100_months(
                current_episodes(current_flags(x.reshape(fam), n.reshape(fam), policy), policy),
                sizes.series,
                sizes.days,
            )
            cells.append(f"{ours:.2f} / {today:.2f}")
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return lines


def missing_days_false(sizes: Sizes, seed: int = 17) -> str:
    """Stationary 85 % at 5 runs/day with 30 % of days missing and Poisson volumes: false episodes."""
    rng = np.random.default_rng(seed)
    n = rng.poisson(5, (sizes.series, sizes.days)) * (rng.random((sizes.series, sizes.days)) > 0.3)
    x = rng.binomial(n, 0.85)
    rate = per_100_months(len(run_detector(x.astype(float), n.astype(float))), sizes.series, sizes.days)
    return f"stationary 85 %, Poisson(5) runs/day, 30 % of days missing: **{rate:.2f}** false episodes per 100 scenario-months"


def _current_delays(x: np.ndarray, n: np.ndarray, change: int, seed: int, base: float) -> np.ndarray:
    """Today's rule on the dropped series, each among FAMILY - 1 stationary companions at the same base rate."""
    policy = RegressionPolicy()
    rng = np.random.default_rng(seed)
    out = []
    for lo in range(0, x.shape[0], 50):  # in chunks: a family per replicate is FAMILY series
        cx, cn = x[lo : lo + 50], n[lo : lo + 50]
        comp_n = np.broadcast_to(cn[:, None, :], (cx.shape[0], FAMILY - 1, cx.shape[1]))
        comp_x = rng.binomial(comp_n.astype(int), base).astype(float)
        fx = np.concatenate([cx[:, None, :], comp_x], axis=1)
        fn = np.concatenate([cn[:, None, :], comp_n], axis=1)
        visible = current_visible(current_flags(fx, fn, policy), policy)[:, 0, :]
        out.append(first_alarm_after(visible, change))
    return np.concatenate(out)


def drops_table(
    sizes: Sizes, base: float = 0.9, change: int = 120, post: int = 150, seed: int = 23
) -> list[str]:
    lines = [
        f"Base rate {base:.0%}, the drop on day {change + 1} (after {change} days of history), {sizes.reps} "
        "replicates per cell. Delays in days from the first bad day (1 = flagged that day). Floor: the CUSUM that "
        "knows p0 and p1, started at the change, at the same false-alarm rate "
        f"({calibration.TARGET_PER_100} per 100 scenario-months). Ratio: mean delay / floor mean delay (delays "
        f"capped at {post}). Ours excludes replicates with a false episode open at the change (column `pre`).",
        "",
        "| drop | runs/day | within 7 / 14 / 28 d | median / p90 delay | floor median / p90 | ratio | pre | today: within 14 / 28 d, median |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in (0.1, 0.2, 0.3):
        for v in (1, 5, 20):
            rng = np.random.default_rng(seed + int(100 * d) + v)
            x, n = drop_series(rng, sizes.reps, v, base, base - d, change, change + post)
            alarms = np.zeros(x.shape, dtype=bool)
            pre = np.zeros(sizes.reps, dtype=bool)
            for e in run_detector(x, n):
                alarms[e.series, e.flagged] = True
                pre[e.series] |= e.flagged < change and (e.resolved is None or e.resolved >= change)
            ours = Delays.of(first_alarm_after(alarms, change)[~pre], cap=post)
            h = oracle_threshold(v, base, base - d, series=max(sizes.series, 300), seed=seed + v)
            floor_alarms = oracle_cusum(x[:, change:], n[:, change:], base, base - d, h)
            floor = Delays.of(first_alarm_after(floor_alarms, 0), cap=post)
            today = Delays.of(_current_delays(x, n, change, seed + v, base), cap=post)
            lines.append(
                f"| {d * 100:.0f} pts | {v} | {ours.within[7]:.0%} / {ours.within[14]:.0%} / {ours.within[28]:.0%} "
                f"| {_d(ours.median, post)} / {_d(ours.p90, post)} | {_d(floor.median, post)} / {_d(floor.p90, post)} "
                f"| {ours.mean / floor.mean:.2f} | {pre.mean():.0%} "
                f"| {today.within[14]:.0%} / {today.within[28]:.0%}, {_d(today.median, post)} |"
            )
    return lines


def _d(value: float, cap: float = 10_000) -> str:
    return "never" if value >= cap else f"{value:g}"


def drifts_table(sizes: Sizes, seed: int = 29) -> list[str]:
    lines = [
        "| drift | runs/day | found by the end of the drift | median delay from drift start | today: found |",
        "|---|---|---|---|---|",
    ]
    for before, after, span in ((0.9, 0.6, 90), (0.85, 0.7, 180)):
        for v in (1, 5, 20):
            rng = np.random.default_rng(seed + v + span)
            x, n = drop_series(rng, sizes.reps, v, before, after, 120, 120 + span + 30, drift=span)
            ours = detector_delays(x, n, 120)
            today = _current_delays(x, n, 120, seed, before)
            lines.append(
                f"| {before:.0%} → {after:.0%} over {span} d | {v} | {np.mean(ours <= span):.0%} "
                f"| {_d(Delays.of(ours).median)} | {np.mean(today <= span):.0%} |"
            )
    return lines


def markov_outcomes(rng: np.random.Generator, series: int, runs: int, p: float, rho: float) -> np.ndarray:
    """Run-ordered outcomes with pass rate p and lag-1 correlation rho (< 0 alternates, > 0 clusters)."""
    stay = p + rho * (1 - p)  # P(pass | pass)
    come = p * (1 - rho)  # P(pass | fail)
    out = np.zeros((series, runs), dtype=bool)
    out[:, 0] = rng.random(series) < p
    u = rng.random((series, runs))
    for t in range(1, runs):
        out[:, t] = u[:, t] < np.where(out[:, t - 1], stay, come)
    return out


def flakiness_table(sizes: Sizes, runs: int = 140, seed: int = 31) -> list[str]:
    """Designed flaky (alternating) vs not flaky (independent, clustered) series; 140 runs = 28 days × 5."""
    from cekura_livekit.detection.flakiness import flaky_status

    designs: list[tuple[str, float, float, bool]] = []
    for p in (0.5, 0.7, 0.85):
        rho = max(-0.5, 1 - 1 / p + 0.02)
        designs.append((f"alternating p={p:.0%} ρ={rho:.2f}", p, rho, True))
    for p in (0.5, 0.7, 0.85, 0.95, 0.99):
        designs.append((f"independent p={p:.0%}", p, 0.0, False))
    for p in (0.7, 0.85):
        designs.append((f"clustered p={p:.0%} ρ=+0.40", p, 0.4, False))
    lines = ["| design | flaky (new) | flaky (today: flip rate ≥ 0.25) |", "|---|---|---|"]
    tp = fp = fn = tp_old = fp_old = fn_old = 0
    for name, p, rho, truth in designs:
        rng = np.random.default_rng(seed + int(100 * p) + int(100 * rho))
        out = markov_outcomes(rng, sizes.reps * 2, runs, p, rho)
        new = np.array([flaky_status(list(row))["status"] == "flaky" for row in out])
        old = (out[:, 1:] != out[:, :-1]).mean(axis=1) >= 0.25
        lines.append(f"| {name} | {new.mean():.0%} | {old.mean():.0%} |")
        if truth:
            tp, fn, tp_old, fn_old = (
                tp + new.sum(),
                fn + (~new).sum(),
                tp_old + old.sum(),
                fn_old + (~old).sum(),
            )
        else:
            fp, fp_old = fp + new.sum(), fp_old + old.sum()
    lines += [
        "",
        f"Precision / recall (equal numbers of each design): new **{_ratio(tp, tp + fp)} / {_ratio(tp, tp + fn)}**, "
        f"today {_ratio(tp_old, tp_old + fp_old)} / {_ratio(tp_old, tp_old + fn_old)}.",
        "",
        churn_line(sizes),
    ]
    return lines


def churn_line(sizes: Sizes, seed: int = 53) -> str:
    """Status changes per scenario-year when rescored daily over the last 28 days (5 runs a day)."""
    from cekura_livekit.detection.flakiness import flaky_status

    def changes(out: np.ndarray, hysteresis: bool) -> tuple[float, float]:
        new_total = old_total = 0
        for row in out:
            status = old = None
            for day in range(28, 365):
                window = row[(day - 28) * 5 : day * 5]
                now = flaky_status(list(window), status if hysteresis else None)["status"]
                new_total += status is not None and now != status
                status = now
                flips = bool((window[1:] != window[:-1]).mean() >= 0.25)
                old_total += old is not None and flips != old
                old = flips
        return new_total / len(out), old_total / len(out)

    rng = np.random.default_rng(seed)
    series = max(sizes.reps // 20, 4)
    parts = []
    for name, p, rho in (("independent 85 %", 0.85, 0.0), ("alternating 70 % (ρ −0.3)", 0.7, -0.3)):
        out = markov_outcomes(rng, series, 365 * 5, p, rho)
        new_h, old = changes(out, True)
        new_plain, _ = changes(out, False)
        parts.append(f"{name}: {new_h:.1f} with hysteresis, {new_plain:.1f} without, today {old:.1f}")
    return (
        "Status changes per scenario-year, rescored daily over 28 days at 5 runs/day — "
        + "; ".join(parts)
        + "."
    )


def _ratio(a: float, b: float) -> str:
    return "n/a" if b == 0 else f"{a / b:.2f}"


def metric_table(sizes: Sizes, seed: int = 37) -> list[str]:
    """Latency per run lognormal (median 800 ms, σ 0.3), 5 runs a day: daily medians through the metric CUSUM."""
    from cekura_livekit.detection.metric_shift import dense_days, detect_metric_shifts

    series, days, change = sizes.reps, sizes.days, 120
    day_list = dense_days(FIRST, days)
    lines = ["| truth | episodes | found within 14 / 28 d | median delay |", "|---|---|---|---|"]
    for shift in (0.0, 0.1, 0.2, 0.4):
        rng = np.random.default_rng(seed + int(100 * shift))
        level = np.where(np.arange(days) >= change, 1 + shift, 1.0)
        values = 800 * level[None, :, None] * np.exp(0.3 * rng.standard_normal((series, days, 5)))
        medians = np.median(values, axis=2)
        found, delays = 0, []
        for row in medians:
            eps = detect_metric_shifts(day_list, list(row))
            found += len(eps)
            later = [
                (e.flagged_on - day_list[change]).days + 1 for e in eps if e.flagged_on >= day_list[change]
            ]
            delays.append(later[0] if later else np.inf)
        arr = np.asarray(delays)
        if shift == 0:
            lines.append(
                f"| stationary | {per_100_months(found, series, days):.2f} per 100 series-months | | |"
            )
        else:
            lines.append(
                f"| +{shift:.0%} on day {change + 1} | | {np.mean(arr <= 14):.0%} / {np.mean(arr <= 28):.0%} "
                f"| {_d(Delays.of(arr).median)} |"
            )
    return lines


def quality_table(sizes: Sizes, seed: int = 41) -> list[str]:
    """Designed outages against stationary series (5 runs/day, 3 % infra errors)."""
    from cekura_livekit.detection.quality import DayCounts, quality_alerts

    rng = np.random.default_rng(seed)
    days = 120
    day_list = [FIRST + timedelta(days=i) for i in range(days)]
    runs = rng.poisson(5, (sizes.reps, days)) + 1
    infra = rng.binomial(runs, 0.03)
    false = 0
    for r in range(sizes.reps):
        rows = [DayCounts(d, int(k), int(i)) for d, k, i in zip(day_list, runs[r], infra[r], strict=True)]
        for t in range(30, days):
            false += len(quality_alerts(rows[: t + 1], day_list[t]))
    checked = sizes.reps * (days - 30)
    out = [
        f"Stationary: {false} alerts in {checked:,} series-days ({per_100_months(false, sizes.reps, days - 30):.2f} per 100 series-months)."
    ]
    base = [DayCounts(d, 5, 0) for d in day_list[:60]]
    outage = quality_alerts(base, day_list[66])
    lost = quality_alerts(base[:59], day_list[59])
    burst = quality_alerts([*base[:59], DayCounts(day_list[59], 12, 7)], day_list[59])
    out.append(
        f"Week-long outage: {', '.join(a['kind'] for a in outage) or 'nothing'}; a lost batch (0 runs on a daily "
        f"series' day): {', '.join(a['kind'] for a in lost) or 'nothing'}; a day with 58 % infra errors: "
        f"{', '.join(a['kind'] for a in burst) or 'nothing'}."
    )
    return out


def resolution_table(sizes: Sizes, seed: int = 47) -> list[str]:
    """A 20-point drop lasting 60 days, then back: when is its episode resolved, relative to the true end?"""
    lines = [
        "| 90 % → 70 % for 60 days, then back | found | recovery shown before the drop ended | shown within 28 d "
        "after | shown − true end: median (p10 – p90) | estimated recovery day − true end: median (p10 – p90) |",
        "|---|---|---|---|---|---|",
    ]
    change, end, days = 120, 180, 300
    for v in (1, 5, 20):
        rng = np.random.default_rng(seed + v)
        t = np.arange(days)
        rate = np.where((t >= change) & (t < end), 0.7, 0.9)
        n = np.full((sizes.reps, days), float(v))
        x = rng.binomial(n.astype(int), np.broadcast_to(rate, n.shape)).astype(float)
        shown, began = [], []
        for e in run_detector(x, n):
            if change <= e.flagged < end:
                shown.append(np.inf if e.confirmed is None else e.confirmed - end)
                began.append(np.inf if e.resolved is None else e.resolved - end)
        arr = np.asarray(shown)
        lines.append(
            f"| {v} runs/day | {len(shown) / sizes.reps:.0%} | {np.mean(arr < 0):.0%} | {np.mean(arr <= 28):.0%} "
            f"| {_spread(arr)} | {_spread(np.asarray(began))} |"
        )
    return lines


def _spread(values: np.ndarray) -> str:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return "n/a"
    return f"{np.median(finite):+.0f} ({np.percentile(finite, 10):+.0f} – {np.percentile(finite, 90):+.0f})"


# (name, before, after, first bad day, last bad day or None, drift days)
YEAR_CHANGES = (
    ("85 % → 65 %", 0.85, 0.65, 100, 160, 0),
    ("85 % → 65 % (again)", 0.85, 0.65, 200, 300, 0),
    ("90 % → 70 %", 0.90, 0.70, 150, None, 0),
    ("80 % → 60 %", 0.80, 0.60, 120, 200, 0),
    ("95 % → 75 %", 0.95, 0.75, 250, None, 0),
    ("90 % → 60 % over 90 days", 0.90, 0.60, 100, None, 90),
    ("85 % → 70 % over 180 days", 0.85, 0.70, 120, None, 180),
)


def year_rates(rng: np.random.Generator, series: int = 60, days: int = 365) -> np.ndarray:
    """Series × day designed pass rates of the issue's year: `YEAR_CHANGES` on the first rows, the other series
    flat at a base rate drawn from `rng` (the tests' report over the designed year uses the same truths)."""
    rates = np.tile(rng.choice([0.6, 0.75, 0.85, 0.9, 0.95, 0.99], size=(series, 1)), (1, days))
    t = np.arange(days)
    for row, (_, before, after, start, end, drift) in enumerate(YEAR_CHANGES):
        ramp = np.clip((t - start + 1) / drift, 0, 1) if drift else (t >= start).astype(float)
        if end is not None:
            ramp = np.where(t > end, 0.0, ramp)
        rates[row] = before + (after - before) * ramp
    return rates


def designed_year(sizes: Sizes, seed: int = 43) -> list[str]:
    """The issue's designed year: 60 series at 5 runs a day, 7 designed changes, 53 stationary series."""
    rng = np.random.default_rng(seed)
    days, runs = 365, 5
    rates = year_rates(rng, 60, days)
    n = np.full((60, days), float(runs))
    x = rng.binomial(n.astype(int), rates).astype(float)
    episodes = run_detector(x, n)
    lines = [
        "| designed change | true start → end | found: start, flagged, resolved |",
        "|---|---|---|",
    ]
    for row, (name, _, _, start, end, _) in enumerate(YEAR_CHANGES):
        mine = [e for e in episodes if e.series == row]
        found = "; ".join(
            f"day {e.start + 1}, {e.flagged + 1}, {'open' if e.resolved is None else f'day {e.resolved + 1}'}"
            for e in mine
        )
        lines.append(
            f"| {name} | day {start + 1} → {'ongoing' if end is None else f'day {end + 1}'} | {found or 'missed'} |"
        )
    false = sum(1 for e in episodes if e.series >= len(YEAR_CHANGES))
    lines += [
        "",
        f"False episodes on the {60 - len(YEAR_CHANGES)} stationary series: {false} "
        f"({per_100_months(false, 60 - len(YEAR_CHANGES), days):.2f} per 100 scenario-months).",
    ]
    return lines


def run(quick: bool = False) -> str:
    sizes = QUICK if quick else FULL
    sections: list[tuple[str, Callable[[Sizes], list[str]]]] = [
        (
            "False episodes per 100 scenario-months (stationary series, 365 days; new / today's rule)",
            false_episodes,
        ),
        ("Steps: detection and delay against the CUSUM floor", drops_table),
        ("Drifts", drifts_table),
        ("Resolution: only once the rate is shown back", resolution_table),
        ("A designed year (60 series, 5 runs/day; the issue's seven changes)", designed_year),
        ("Flakiness: share of series scored flaky", flakiness_table),
        ("Metric shifts (latency)", metric_table),
        ("Data-quality monitors", quality_table),
    ]
    text = [
        "## Detection (issue 25)" + (" — QUICK SIZES" if quick else ""),
        "",
        "Designed truths through `cekura_livekit.detection` (`bench/detection.py`, seeded): what the warehouse "
        "runs since issue 25 ('new'). 'today' is the rule it ran before (3-day vs 14-day z-test, BH across a "
        f"family of {FAMILY} series, two consecutive flags; flip-rate flakiness), re-implemented on arrays in the "
        "harness for comparison.",
    ]
    for title, make in sections:
        t0 = time.perf_counter()
        body = make(sizes)
        text += ["", f"### {title}", "", *body]
        if title.startswith("False"):
            text += ["", missing_days_false(sizes)]
        print(f"{title}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    return "\n".join(text) + "\n"


def detector_cost(
    series: tuple[int, ...] = (5_000, 20_000, 50_000), days: tuple[int, ...] = (28, 90, 365), repeat: int = 2
) -> list[str]:
    """Seconds of one drop-detection pass (`run_detector` over every series' whole history: what each trends
    pass runs), best of `repeat`, on stationary Poisson(5) series at 90 %. Why every history length: the pass
    recomputes from the first day (late data is handled by recomputing), so its cost is series × days. CPU
    seconds beside wall seconds: on a shared machine the wall clock measures the neighbours."""
    rng = np.random.default_rng(3)
    lines = [
        f"| series | days of history | CPU s / wall s (best of {repeat}) | CPU ns per series-day | episodes |"
    ]
    lines.append("|---|---|---|---|---|")
    for d in days:
        for s in series:
            n = rng.poisson(5, (s, d)).astype(float)
            x = rng.binomial(n.astype(int), 0.9).astype(float)
            cpu, wall, found = math.inf, math.inf, 0
            for _ in range(repeat):
                c0, t0 = time.process_time(), time.perf_counter()
                found = len(run_detector(x, n))
                cpu, wall = min(cpu, time.process_time() - c0), min(wall, time.perf_counter() - t0)
            lines.append(f"| {s:,} | {d} | {cpu:.2f} / {wall:.2f} | {cpu / s / d * 1e9:,.0f} | {found} |")
    return lines


#: docs/analytics.md holds the harness table between these lines, written by `publish` (never typed).
BEGIN = (
    "<!-- detection harness: generated by `python -m bench.detection --publish` (make bench); do not edit -->"
)
END = "<!-- detection harness: end -->"
DOC = Path(__file__).resolve().parents[1] / "docs" / "analytics.md"


def publish(table: str, doc: Path = DOC) -> None:
    """Replace the text between `BEGIN` and `END` in `doc` with `table` (the markers must be there once)."""
    text = doc.read_text()
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise ValueError(f"{doc} needs the markers {BEGIN!r} and {END!r} once each, in that order")
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    doc.write_text(f"{head}{BEGIN}\n\n{table.strip()}\n\n{END}{tail}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (what tests/detection runs)")
    parser.add_argument("--calibrate", action="store_true", help="print a new calibration TABLE")
    parser.add_argument("--publish", action="store_true", help="also write the table into docs/analytics.md")
    parser.add_argument("--cost", action="store_true", help="time one detection pass at 5k-50k series")
    args = parser.parse_args(argv)
    if args.calibrate:
        print(calibrate())
        return
    if args.cost:
        print("\n".join(detector_cost()))
        return
    table = run(args.quick)
    print(table)
    if args.publish:
        publish(table)
        print(f"wrote the table into {DOC}", file=sys.stderr)


if __name__ == "__main__":
    main()


# ---------------------------------------------------------------------------------------------- the real pass


def time_trends_pass(runs: int, *, agents: int, scenarios: int = 50, days: int = 365) -> dict[str, float]:
    """Seconds of the `cekura_trends` task bodies (refresh + detect + alerts) after a facts-only load of `runs`
    synthetic runs (`bench.data`'s generator) into a throw-away PostgreSQL schema: a full rebuild of the
    daily tables, the detection pass over the whole history, then one more pass after a one-day load."""
    import uuid

    from bench.common import airflow_env, drop_schema
    from bench.data import extract_runs
    from cekura_livekit.tasks.alerting import detect_and_alert
    from cekura_livekit.tasks.trends import refresh_trends
    from cekura_livekit.warehouse.writer import load_extract

    airflow_env()
    schema = f"bench_detect_{uuid.uuid4().hex[:8]}"
    conn = "bench_pg"
    out: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        frames = extract_runs(runs, days=days, agents=agents, scenarios=scenarios)
        summary = load_extract(conn, frames, schema)
        out["load (facts only)"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        refreshed = refresh_trends(conn, schema, touched=summary.run_dates)
        out["refresh (every day)"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = detect_and_alert(conn, schema, regression_days=refreshed["regression_days"][-1:])
        out["detect + alerts"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        refreshed = refresh_trends(conn, schema)
        result = detect_and_alert(conn, schema, regression_days=refreshed["regression_days"])
        out["nightly pass (refresh 28 days + detect + alerts)"] = time.perf_counter() - t0
        out["episodes"] = float(result["episodes"])
    finally:
        drop_schema(schema)
    return out
