"""Small-sample statistics for success rates: Wilson intervals and a one-sided two-proportion z-test.

Why these: daily scenario counts are small (often < 30 runs), where the normal-approximation interval is
wrong near 0 and 1; Wilson stays inside [0, 1] and is honest about tiny samples. Regressions are one-sided
(we only alert on drops) and gated by minimum sample sizes and a minimum practical drop, so a 1-of-2 day
never pages anyone.

Success-rate rule (everywhere in this package): passed / (passed + failed_evaluation). Infrastructure errors,
timeouts and cancellations are not evaluation failures and do not enter the rate; they are counted apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
    `min_drop` (absolute, 0–1), and p < `alpha`. Severity: critical when drop >= `critical_drop` and
    p < `critical_p`; major when drop >= `major_drop`; otherwise minor.
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

    def __post_init__(self) -> None:
        if self.current_days < 1 or self.baseline_days < 1:
            raise ValueError(
                f"current_days={self.current_days!r}, baseline_days={self.baseline_days!r}: both must be >= 1"
            )
        if not 0 < self.alpha < 1 or not 0 <= self.min_drop < 1:
            raise ValueError(
                f"alpha={self.alpha!r} must be in (0, 1) and min_drop={self.min_drop!r} in [0, 1)"
            )

    def severity(self, test: DropTest) -> str | None:
        """'critical' / 'major' / 'minor' for a regression, None when the test does not flag one."""
        if test.baseline_n < self.min_baseline_n or test.current_n < self.min_current_n:
            return None
        if test.p_value is None or test.drop is None:
            return None
        if test.drop < self.min_drop - 1e-12 or test.p_value >= self.alpha:
            return None
        if test.drop >= self.critical_drop and test.p_value < self.critical_p:
            return "critical"
        if test.drop >= self.major_drop:
            return "major"
        return "minor"
