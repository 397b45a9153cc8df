"""Small-sample statistics for success rates: Wilson intervals and a one-sided two-proportion z-test.

Why these: daily scenario counts are small (often < 30 runs), where the normal-approximation interval is
wrong near 0 and 1; Wilson stays inside [0, 1] and is honest about tiny samples. Regressions are one-sided
(we only alert on drops) and gated by minimum sample sizes and a minimum practical drop, so a 1-of-2 day
never pages anyone.

Success-rate rule (everywhere in this package): passed / (passed + failed_evaluation). Infrastructure errors,
timeouts and cancellations are not evaluation failures and do not enter the rate; they are counted apart.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for successes/n, or None when n is 0."""
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"successes={successes!r}, n={n!r}: need 0 <= successes <= n")
    if n == 0:
        return None
    p = successes / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    denom = 1 + z2 / n
    return max(0.0, (centre - half) / denom), min(1.0, (centre + half) / denom)


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))


@dataclass(frozen=True)
class DropTest:
    """A baseline-vs-current comparison of one agent × scenario."""

    baseline_passed: int
    baseline_n: int
    current_passed: int
    current_n: int
    z: float | None
    p_value: float | None

    @property
    def baseline_rate(self) -> float | None:
        return self.baseline_passed / self.baseline_n if self.baseline_n else None

    @property
    def current_rate(self) -> float | None:
        return self.current_passed / self.current_n if self.current_n else None

    @property
    def drop(self) -> float | None:
        if self.baseline_rate is None or self.current_rate is None:
            return None
        return self.baseline_rate - self.current_rate


def drop_test(baseline_passed: int, baseline_n: int, current_passed: int, current_n: int) -> DropTest:
    """One-sided pooled two-proportion z-test of H1: current rate < baseline rate."""
    for name, k, n in (("baseline", baseline_passed, baseline_n), ("current", current_passed, current_n)):
        if n < 0 or k < 0 or k > n:
            raise ValueError(f"{name}: passed={k!r}, n={n!r}: need 0 <= passed <= n")
    if baseline_n == 0 or current_n == 0:
        return DropTest(baseline_passed, baseline_n, current_passed, current_n, None, None)
    pooled = (baseline_passed + current_passed) / (baseline_n + current_n)
    se = math.sqrt(pooled * (1 - pooled) * (1 / baseline_n + 1 / current_n))
    diff = baseline_passed / baseline_n - current_passed / current_n
    if se == 0:
        # Both windows all-pass or all-fail: identical rates, nothing to detect.
        return DropTest(
            baseline_passed, baseline_n, current_passed, current_n, 0.0, 0.5 if diff == 0 else 0.0
        )
    z = diff / se
    return DropTest(baseline_passed, baseline_n, current_passed, current_n, z, normal_sf(z))


@dataclass(frozen=True)
class RegressionPolicy:
    """When a drop counts as a regression, and how bad it is.

    A regression needs: at least `min_baseline_n` and `min_current_n` evaluated runs, a drop of at least
    `min_drop` (absolute, 0–1), and p < `alpha` — or, when detection passes the Benjamini–Hochberg q-value
    across the day's tests (`bh_adjust`, what the warehouse does), q < `fdr_q`. Severity: critical when drop >= `critical_drop` and
    p < `critical_p`; major when drop >= `major_drop`; otherwise minor. Daily flags become an *episode* once
    they hold on `persistence_days` consecutive window ends; flags `gap_days` apart stay one episode
    (`episodes_from_flags`). docs/analytics.md publishes the false-episode rate and detection delay.
    """

    current_days: int = 3
    baseline_days: int = 14
    min_baseline_n: int = 20
    min_current_n: int = 5
    min_drop: float = 0.10
    alpha: float = 0.05
    major_drop: float = 0.20
    critical_drop: float = 0.30
    critical_p: float = 0.01
    fdr_q: float = 0.10
    persistence_days: int = 2
    gap_days: int = 3

    def __post_init__(self) -> None:
        if self.current_days < 1 or self.baseline_days < 1:
            raise ValueError(
                f"current_days={self.current_days!r}, baseline_days={self.baseline_days!r}: both must be >= 1"
            )
        if self.persistence_days < 1 or self.gap_days < 1:
            raise ValueError(
                f"persistence_days={self.persistence_days!r}, gap_days={self.gap_days!r}: both must be >= 1"
            )
        if not 0 < self.alpha < 1 or not 0 <= self.min_drop < 1:
            raise ValueError(
                f"alpha={self.alpha!r} must be in (0, 1) and min_drop={self.min_drop!r} in [0, 1)"
            )

    def eligible(self, test: DropTest) -> bool:
        """Enough evaluated runs in both windows for the test to enter the day's family of tests."""
        return (
            test.baseline_n >= self.min_baseline_n
            and test.current_n >= self.min_current_n
            and test.p_value is not None
        )

    def severity(self, test: DropTest, q_value: float | None = None) -> str | None:
        """'critical' / 'major' / 'minor' for a regression, None when the test does not flag one.

        `q_value`: the test's FDR-adjusted p-value across the day's family; without it the raw p-value.
        """
        if not self.eligible(test) or test.p_value is None or test.drop is None:
            return None
        p = test.p_value if q_value is None else q_value
        if test.drop < self.min_drop - 1e-12 or p >= (self.alpha if q_value is None else self.fdr_q):
            return None
        if test.drop >= self.critical_drop and p < self.critical_p:
            return "critical"
        if test.drop >= self.major_drop:
            return "major"
        return "minor"


def bh_adjust(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini–Hochberg adjusted p-values (q-values) of one family of tests; None stays None.

    Why: detection runs one test per agent × scenario × mode × suite every day (~150 for a mid-sized team);
    at p < 0.05 each, a stationary warehouse produces several false regressions a day. Comparing the q-value
    with `RegressionPolicy.alpha` keeps the expected share of false discoveries among each day's flags at
    alpha (and, on a day with no real drop, the chance of any flag at about alpha).
    """
    indexed = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(indexed)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 1.0
    for rank in range(m, 0, -1):
        p, i = indexed[rank - 1]
        running = min(running, p * m / rank)
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class Episode:
    """One ongoing drop: consecutive flagged window ends (gaps up to `gap_days`) held for `persistence` days."""

    started_on: date
    last_seen: date
    flagged_days: int
    resolved_on: date | None

    @property
    def open(self) -> bool:
        return self.resolved_on is None


def episodes_from_flags(
    flagged: Iterable[date], as_of: date, *, persistence: int = 2, gap_days: int = 3
) -> list[Episode]:
    """Group the days a key was flagged into episodes, the unit people see and are alerted about.

    Flags at most `gap_days` apart belong to one episode; an episode counts only once it holds `persistence`
    flags on consecutive days (one noisy day never opens one). It is resolved on the first day after its last
    flag once `gap_days` have passed without a flag by `as_of`, else still open.
    """
    days = sorted(set(flagged))
    groups: list[list[date]] = []
    for day in days:
        if groups and (day - groups[-1][-1]).days <= gap_days:
            groups[-1].append(day)
        else:
            groups.append([day])
    episodes = []
    for group in groups:
        if _longest_consecutive(group) < persistence:
            continue
        last = group[-1]
        resolved = last + timedelta(days=1) if (as_of - last).days > gap_days else None
        episodes.append(Episode(group[0], last, len(group), resolved))
    return episodes


def _longest_consecutive(days: Sequence[date]) -> int:
    best = run = 1 if days else 0
    for before, after in itertools.pairwise(days):
        run = run + 1 if (after - before).days == 1 else 1
        best = max(best, run)
    return best


@dataclass(frozen=True)
class ShiftTest:
    """A one-sided Mann–Whitney U test of "current values are larger than baseline values"."""

    baseline_n: int
    current_n: int
    baseline_median: float | None
    current_median: float | None
    u: float | None
    z: float | None
    p_value: float | None

    @property
    def relative_shift(self) -> float | None:
        """(current median - baseline median) / |baseline median|; None when the baseline median is 0."""
        if self.baseline_median is None or self.current_median is None or self.baseline_median == 0:
            return None
        return (self.current_median - self.baseline_median) / abs(self.baseline_median)


def _median(values: Sequence[float]) -> float | None:
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return None
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _average_ranks(values: Sequence[float]) -> tuple[list[float], list[int]]:
    """1-based ranks with ties averaged, and the sizes of the tie groups."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    ties: list[int] = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


def shift_test(baseline: Sequence[float], current: Sequence[float]) -> ShiftTest:
    """Mann–Whitney U (normal approximation with tie and continuity corrections), H1: current > baseline.

    Why rank-based: latencies and counts are skewed with long tails; a t-test on means would page on one slow
    call and miss a shift of the bulk. Medians are reported next to it for people.
    """
    n1, n2 = len(baseline), len(current)
    b_med, c_med = _median(baseline), _median(current)
    if n1 == 0 or n2 == 0:
        return ShiftTest(n1, n2, b_med, c_med, None, None, None)
    ranks, ties = _average_ranks([*baseline, *current])
    u = sum(ranks[n1:]) - n2 * (n2 + 1) / 2  # how often a current value beats a baseline value
    n = n1 + n2
    tie_term = sum(t**3 - t for t in ties) / (n * (n - 1)) if n > 1 else 0.0
    variance = n1 * n2 / 12 * ((n + 1) - tie_term)
    if variance <= 0:
        return ShiftTest(n1, n2, b_med, c_med, u, 0.0, 0.5)
    z = (u - n1 * n2 / 2 - 0.5) / math.sqrt(variance)
    return ShiftTest(n1, n2, b_med, c_med, u, z, normal_sf(z))


@dataclass(frozen=True)
class MetricPolicy:
    """When a numeric metric (latency, interruptions: higher is worse) counts as regressed.

    Needs `min_baseline_n` / `min_current_n` values in the windows (same windows as `RegressionPolicy`), the
    current median at least `min_relative_shift` above the baseline median, and the BH q-value across the
    day's metric tests below `fdr_q`.
    """

    current_days: int = 3
    baseline_days: int = 14
    min_baseline_n: int = 20
    min_current_n: int = 10
    min_relative_shift: float = 0.10
    fdr_q: float = 0.05

    def eligible(self, test: ShiftTest) -> bool:
        return (
            test.baseline_n >= self.min_baseline_n
            and test.current_n >= self.min_current_n
            and test.p_value is not None
        )

    def flags(self, test: ShiftTest, q_value: float | None) -> bool:
        shift = test.relative_shift
        return (
            self.eligible(test)
            and q_value is not None
            and q_value < self.fdr_q
            and shift is not None
            and shift >= self.min_relative_shift
        )
