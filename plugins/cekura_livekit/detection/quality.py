"""Data-quality monitors per series: freshness, volume and infra share, as alert rows.

Why apart from drops: a suite that stopped running, a batch that was lost, or a day of infrastructure errors shows
NO drop in the success rate (infra errors are not evaluations), so the drop detector is silent by design. These
are the freshness / volume tests data teams know, judged against the series' own history (its last
`history_days` active days), each at a fixed per-series level so the number of series changes nothing.

Input: one series' daily rows `DayCounts(day, runs, infra)` (`infra` = infra errors + timeouts; days without
runs may be omitted) and the day the pass runs for (`as_of`). Output: dict rows with `kind`, `day`, `observed`,
`expected`, `p_value` (the infra test's binomial tail; None for the others) and `message`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from statistics import median


@dataclass(frozen=True)
class DayCounts:
    day: date
    runs: int
    infra: int = 0


@dataclass(frozen=True)
class QualityPolicy:
    history_days: int = 28  # active days the usual cadence / volume / infra share are taken from
    min_history_days: int = 5
    overdue_factor: float = 2.0  # overdue after max(factor × usual gap, usual gap + 1) days
    volume_share: float = 0.5  # "far fewer": below this share of the usual runs …
    volume_z: float = 3.5  # … and this many SDs of the history's daily runs below its median
    alpha: float = 1e-4  # infra: this unlikely under Binomial(runs, usual infra share)
    infra_jump: float = 0.2  # and the infra share at least this many points above usual


def _binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    p = min(max(p, 1e-9), 1 - 1e-9)
    return min(
        sum(
            math.exp(
                math.lgamma(n + 1)
                - math.lgamma(i + 1)
                - math.lgamma(n - i + 1)
                + i * math.log(p)
                + (n - i) * math.log(1 - p)
            )
            for i in range(k, n + 1)
        ),
        1.0,
    )


def quality_alerts(days: Sequence[DayCounts], as_of: date, policy: QualityPolicy | None = None) -> list[dict]:
    """Freshness, volume and infra alerts of one series as of `as_of` (the newest day of the warehouse)."""
    policy = policy or QualityPolicy()
    active = sorted((d for d in days if d.runs > 0 and d.day <= as_of), key=lambda d: d.day)
    rows: list[dict] = []
    if len(active) <= policy.min_history_days:
        return rows
    rows += _freshness(active, as_of, policy)
    latest = active[-1]
    if latest.day == as_of:
        history = active[:-1][-policy.history_days :]
        rows += _volume(latest, history, policy) + _infra(latest, history, policy)
    elif _usual_gap(active, policy) == 1 and not rows:
        # A daily series with nothing today: a lost batch is a day of 0 runs (freshness comes days later).
        rows += _volume(DayCounts(as_of, 0, 0), active[-policy.history_days :], policy)
    return rows


def _usual_gap(active: list[DayCounts], policy: QualityPolicy) -> float:
    recent = active[-(policy.history_days + 1) :]
    return median((b.day - a.day).days for a, b in itertools.pairwise(recent))


def _freshness(active: list[DayCounts], as_of: date, policy: QualityPolicy) -> list[dict]:
    usual = _usual_gap(active, policy)
    since = (as_of - active[-1].day).days
    limit = max(policy.overdue_factor * usual, usual + 1)
    if since <= limit:
        return []
    return [
        {
            "kind": "freshness",
            "day": as_of,
            "observed": since,
            "expected": usual,
            "p_value": None,
            "message": f"no runs for {since} days (last on {active[-1].day}); usually every {usual:g} day(s)",
        }
    ]


def _volume(latest: DayCounts, history: list[DayCounts], policy: QualityPolicy) -> list[dict]:
    # Batches are scheduled, not Poisson: judge a day against the history's own spread (a fixed-size suite has
    # none, so one lost batch stands out; a suite whose volume varies needs a bigger gap).
    counts = [d.runs for d in history]
    usual = median(counts)
    mean = sum(counts) / len(counts)
    sd = max(math.sqrt(sum((c - mean) ** 2 for c in counts) / max(len(counts) - 1, 1)), 0.1 * usual, 0.5)
    z = (usual - latest.runs) / sd
    if latest.runs >= policy.volume_share * usual or z < policy.volume_z:
        return []
    return [
        {
            "kind": "volume",
            "day": latest.day,
            "observed": latest.runs,
            "expected": usual,
            "p_value": None,
            "message": (
                f"{latest.runs} runs on {latest.day}, usually {usual:g} "
                f"({z:.1f} standard deviations of the last {len(counts)} active days below)"
            ),
        }
    ]


def _infra(latest: DayCounts, history: list[DayCounts], policy: QualityPolicy) -> list[dict]:
    runs = sum(d.runs for d in history)
    usual = (sum(d.infra for d in history) + 0.5) / (runs + 1)
    share = latest.infra / latest.runs
    p = _binom_sf(latest.infra, latest.runs, usual)
    if share < usual + policy.infra_jump or p >= policy.alpha:
        return []
    return [
        {
            "kind": "infra",
            "day": latest.day,
            "observed": share,
            "expected": usual,
            "p_value": p,
            "message": (
                f"{latest.infra} of {latest.runs} runs ({share:.0%}) were infra errors or timeouts on "
                f"{latest.day}, usually {usual:.0%} (P = {p:.1e} by chance)"
            ),
        }
    ]
