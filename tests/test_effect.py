"""The rate change with its interval (`effect.rate_change`): Newcombe's hybrid score interval."""

from __future__ import annotations

import math

import pytest

from cekura_livekit.effect import rate_change


def test_newcombe_matches_the_published_example() -> None:
    """Newcombe (1998), Table II example (e): 56/70 vs 48/80 gives 0.2000 with [0.0524, 0.3339]."""
    c = rate_change(48, 80, 56, 70)
    assert c.change == pytest.approx(0.2)
    assert (c.low, c.high) == pytest.approx((0.0524, 0.3339), abs=5e-4)
    assert c.shown


def test_a_change_inside_the_noise_is_not_shown() -> None:
    c = rate_change(30, 35, 28, 35)  # 86% → 80%: −6 points on a week of 35 runs
    assert c.change == pytest.approx(-2 / 35)
    assert c.low < 0 < c.high
    assert not c.shown


def test_no_data_gives_nan_never_a_change() -> None:
    c = rate_change(0, 0, 5, 10)
    assert math.isnan(c.change)
    assert math.isnan(c.low)
    assert not c.shown
    assert rate_change(10, 10, 10, 10).high <= 1.0
