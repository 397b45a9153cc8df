"""Flakiness: more outcome flips than independence at the scenario's own rate predicts; and pass^k.

Why not the flip rate: a scenario passing independently at rate p flips 2p(1-p) of the time, so a flip-rate score
restates the pass rate (a 70 % scenario "is flaky", a 99 % one never). Here a scenario is flaky when its outcomes,
in run order, ALTERNATE more than chance: the Wald–Wolfowitz runs test, conditional on its own passes and failures,
so low reliability alone never makes it flaky. Fewer runs than chance (failures in streaks: an outage, a drop) is
reported as `clustered`, not flaky — that is what the drop detector and the infra monitor are for.

Multiplicity: a fixed per-scenario level (z >= `enter_z`, one-sided p ≈ 0.001), so the number of scenarios in the
warehouse changes nobody's status. Hysteresis: a flaky scenario stays flaky until z < `leave_z` (p ≈ 0.05), so a
status does not churn from day to day.

pass^k (the chance that k repeated runs all pass, as agent-reliability benchmarks report it): C(c, k) / C(n, k)
from c passes in n runs, the unbiased estimator of p^k (hypergeometric); reported for k = 1, 3, 5.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

PASS_K = (1, 3, 5)


def pass_hat_k(passes: int, runs: int, k: int) -> float | None:
    """Unbiased estimate of p^k from `passes` of `runs` (None when runs < k)."""
    if k < 1 or runs < 0 or not 0 <= passes <= runs:
        raise ValueError(f"passes={passes!r}, runs={runs!r}, k={k!r}: need k >= 1 and 0 <= passes <= runs")
    if runs < k:
        return None
    return math.comb(passes, k) / math.comb(runs, k)


@dataclass(frozen=True)
class RunsTest:
    """Wald–Wolfowitz runs test of run-ordered outcomes against independence (normal approximation)."""

    n: int
    passes: int
    runs: int  # maximal blocks of equal outcomes
    expected: float | None
    z: float | None  # > 0: more alternation than chance

    @property
    def flips(self) -> int:
        return max(self.runs - 1, 0)

    @property
    def excess_flips(self) -> float | None:
        return None if self.expected is None else self.runs - self.expected

    @property
    def p_value(self) -> float | None:
        """One-sided p of "more flips than independence", None when untestable (one outcome only)."""
        return None if self.z is None else 0.5 * math.erfc(self.z / math.sqrt(2))


def runs_test(outcomes: Sequence[bool]) -> RunsTest:
    """Count the runs of `outcomes` (True = passed, in run order) and compare with independence given the counts."""
    n = len(outcomes)
    n1 = sum(1 for o in outcomes if o)
    n2 = n - n1
    runs = 1 + sum(1 for a, b in itertools.pairwise(outcomes) if a != b) if n else 0
    if n1 == 0 or n2 == 0:
        return RunsTest(n, n1, runs, None, None)
    mean = 2 * n1 * n2 / n + 1
    var = 2 * n1 * n2 * (2 * n1 * n2 - n) / (n * n * (n - 1))
    if var <= 0:
        return RunsTest(n, n1, runs, mean, None)
    # Continuity correction toward the mean: the run count is an integer.
    z = (runs - mean - math.copysign(0.5, runs - mean)) / math.sqrt(var) if runs != mean else 0.0
    return RunsTest(n, n1, runs, mean, z)


@dataclass(frozen=True)
class FlakinessPolicy:
    min_runs: int = 20
    min_failures: int = 3
    enter_z: float = 3.09  # one-sided p ≈ 0.001
    leave_z: float = 1.64  # one-sided p ≈ 0.05
    clustered_z: float = -3.09


def flaky_status(
    outcomes: Sequence[bool], previous: str | None = None, policy: FlakinessPolicy | None = None
) -> dict:
    """One scenario's row: status (`flaky` / `clustered` / `stable` / `insufficient`), the test, pass^k.

    `previous`: the status the scenario had at the last scoring (hysteresis).
    """
    policy = policy or FlakinessPolicy()
    test = runs_test(outcomes)
    failures = test.n - test.passes
    if test.n < policy.min_runs or failures < policy.min_failures or test.z is None:
        status = "insufficient" if test.n < policy.min_runs else "stable"
    elif test.z >= policy.enter_z or (previous == "flaky" and test.z >= policy.leave_z):
        status = "flaky"
    elif test.z <= policy.clustered_z:
        status = "clustered"
    else:
        status = "stable"
    row = {
        "status": status,
        "runs": test.n,
        "passed": test.passes,
        "flips": test.flips,
        "expected_flips": None if test.expected is None else test.expected - 1,
        "runs_z": test.z,
        "runs_p": test.p_value,
    }
    for k in PASS_K:
        row[f"pass_hat_{k}"] = pass_hat_k(test.passes, test.n, k)
    return row


@dataclass(frozen=True)
class RunsTestMany:
    """`runs_test` of many series at once, from their counts (numpy arrays, one entry per series).

    `expected` and `z` are NaN where the scalar test says None. The arithmetic is the scalar test's, in the
    same order, so the values are the same floats (integers below 2**53, as any real window's counts are).
    """

    n: np.ndarray
    passes: np.ndarray
    runs: np.ndarray
    expected: np.ndarray
    z: np.ndarray

    @property
    def flips(self) -> np.ndarray:
        return np.maximum(self.runs - 1, 0)

    @property
    def p_value(self) -> list[float | None]:
        """One-sided p of each series (`math.erfc` per value: the scalar test's exact float)."""
        return [None if np.isnan(z) else 0.5 * math.erfc(z / math.sqrt(2)) for z in self.z.tolist()]


def runs_test_many(n: np.ndarray, passes: np.ndarray, runs: np.ndarray) -> RunsTestMany:
    """`runs_test` for many series given each one's outcome count `n`, passes and runs (blocks of equal
    outcomes): why counts, not outcomes — the caller counts flips for all series in one vector pass."""
    n, n1, runs = (np.asarray(a, dtype=np.int64) for a in (n, passes, runs))
    n2 = n - n1
    testable = (n1 > 0) & (n2 > 0)
    safe_n = np.where(testable, n, 2)
    two = 2 * n1 * n2
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(testable, two / safe_n + 1, np.nan)
        var = (two.astype(np.float64) * (two - n).astype(np.float64)) / (
            safe_n * safe_n * (safe_n - 1)
        ).astype(np.float64)
        diff = runs - mean
        z = np.where(diff != 0, (diff - np.copysign(0.5, diff)) / np.sqrt(np.where(var > 0, var, 1.0)), 0.0)
    z = np.where(testable & (var > 0), z, np.nan)
    return RunsTestMany(n, n1, runs, mean, z)


def pass_hat_k_many(passes: np.ndarray, runs: np.ndarray, k: int) -> list[float | None]:
    """`pass_hat_k` of each series (exact integer binomials: three per series, microseconds in all)."""
    return [
        pass_hat_k(c, n, k)
        for c, n in zip(np.asarray(passes).tolist(), np.asarray(runs).tolist(), strict=True)
    ]


def flaky_status_many(
    n: np.ndarray,
    passes: np.ndarray,
    runs: np.ndarray,
    was_flaky: np.ndarray | None = None,
    policy: FlakinessPolicy | None = None,
) -> dict[str, list[Any]]:
    """`flaky_status` of many series at once (one list per column of its row, one entry per series).

    `was_flaky`: True where the series' previous status was flaky (the hysteresis). Same rows as calling
    `flaky_status` on each series' outcomes (tests/detection/test_flakiness_many.py checks it on random series).
    """
    policy = policy or FlakinessPolicy()
    test = runs_test_many(n, passes, runs)
    was = np.zeros(len(test.n), dtype=bool) if was_flaky is None else np.asarray(was_flaky, dtype=bool)
    failures = test.n - test.passes
    z = test.z
    untestable = np.isnan(z)
    with np.errstate(invalid="ignore"):
        flaky = (z >= policy.enter_z) | (was & (z >= policy.leave_z))
        clustered = z <= policy.clustered_z
    status = np.select(
        [
            test.n < policy.min_runs,
            (failures < policy.min_failures) | untestable,
            flaky,
            clustered,
        ],
        ["insufficient", "stable", "flaky", "clustered"],
        default="stable",
    )
    expected = test.expected - 1
    row: dict[str, list[Any]] = {
        "status": status.tolist(),
        "runs": test.n.tolist(),
        "passed": test.passes.tolist(),
        "flips": test.flips.tolist(),
        "expected_flips": _none_for_nan(expected),
        "runs_z": _none_for_nan(z),
        "runs_p": test.p_value,
    }
    for k in PASS_K:
        row[f"pass_hat_{k}"] = pass_hat_k_many(test.passes, test.n, k)
    return row


def _none_for_nan(values: np.ndarray) -> list[float | None]:
    return [None if v != v else v for v in values.tolist()]
