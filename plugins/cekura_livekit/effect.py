"""The change between two success rates, with its 95% interval: one definition for alerts and the report.

Why Newcombe's hybrid score interval (method 10, Newcombe 1998) rather than the Wald difference: counts are
small (a day of 5 runs, a week of 35), where the Wald interval is too narrow and leaves [−1, 1]; Newcombe's
combines the two Wilson intervals (`stats.wilson_interval`, the rule used everywhere) and keeps coverage
close to 95% at these sizes. A change is "shown" only when its interval excludes 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cekura_livekit.stats import wilson_interval


@dataclass(frozen=True)
class RateChange:
    """`after − before` as a fraction (−0.2 is a 20-point drop) with its 95% interval; NaN without data."""

    before: float
    after: float
    change: float
    low: float
    high: float

    @property
    def shown(self) -> bool:
        """The interval excludes 0: the data show a change (in either direction)."""
        return math.isfinite(self.low) and (self.low > 0 or self.high < 0)


def rate_change(before_passed: int, before_n: int, after_passed: int, after_n: int) -> RateChange:
    """Newcombe's hybrid score interval for the difference of two independent proportions."""
    before_ci, after_ci = wilson_interval(before_passed, before_n), wilson_interval(after_passed, after_n)
    if before_ci is None or after_ci is None:
        nan = math.nan
        before = before_passed / before_n if before_n else nan
        after = after_passed / after_n if after_n else nan
        return RateChange(before, after, after - before, nan, nan)
    p0, p1 = before_passed / before_n, after_passed / after_n
    (l0, u0), (l1, u1) = before_ci, after_ci
    change = p1 - p0
    low = change - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    high = change + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    return RateChange(p0, p1, change, max(-1.0, low), min(1.0, high))
