"""Flakiness means alternation beyond chance, not a low pass rate; pass^k is unbiased."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest

from cekura_livekit.detection.flakiness import flaky_status, pass_hat_k, runs_test


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("n", [5, 8, 13])
def test_pass_hat_k_is_unbiased_by_exact_enumeration(n: int, k: int) -> None:
    for p in (Fraction(1, 2), Fraction(7, 10), Fraction(19, 20)):
        expected = sum(
            math.comb(n, c) * p**c * (1 - p) ** (n - c) * Fraction(math.comb(c, k), math.comb(n, k))
            for c in range(n + 1)
        )
        assert expected == p**k
    assert pass_hat_k(4, 4, 5) is None
    assert pass_hat_k(3, 5, 3) == pytest.approx(1 / 10)


def test_runs_test_on_alternating_and_constant_sequences() -> None:
    alternating = [bool(i % 2) for i in range(40)]
    blocks = [True] * 20 + [False] * 20
    assert runs_test(alternating).runs == 40
    assert runs_test(alternating).z > 5
    assert runs_test(blocks).runs == 2
    assert runs_test(blocks).z < -5
    constant = runs_test([True] * 30)
    assert constant.z is None
    assert constant.p_value is None
    assert constant.flips == 0


def test_the_runs_test_matches_its_exact_null_mean() -> None:
    """E[runs] = 2·n1·n2/n + 1 over every arrangement of 4 passes and 3 failures."""
    arrangements = set(itertools.permutations([True] * 4 + [False] * 3))
    mean = sum(runs_test(list(a)).runs for a in arrangements) / len(arrangements)
    assert mean == pytest.approx(runs_test([True] * 4 + [False] * 3).expected)


def test_low_reliability_alone_is_not_flaky_and_alternation_is() -> None:
    coin = [
        bool(b) for b in (0, 1, 1, 0, 0, 0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 0) * 3
    ]  # ~50 %, random-ish
    assert flaky_status(coin)["status"] == "stable"
    flips = [bool(i % 2) for i in range(60)]
    row = flaky_status(flips)
    assert row["status"] == "flaky"
    assert row["pass_hat_1"] == 0.5
    assert row["pass_hat_3"] is not None
    streaks = [True] * 30 + [False] * 10 + [True] * 20
    assert flaky_status(streaks)["status"] == "clustered"


def test_hysteresis_keeps_a_flaky_status_until_the_evidence_is_gone() -> None:
    # Moderately alternating: between the leave (z 1.64) and enter (z 3.09) levels.
    pattern = [True, False, True, True, False, True, False, True, True, False]
    seq = pattern * 3 + [True] * 4 + [False] * 3
    z = runs_test(seq).z
    assert z is not None
    assert 1.64 <= z < 3.09
    assert flaky_status(seq, previous=None)["status"] == "stable"
    assert flaky_status(seq, previous="flaky")["status"] == "flaky"
