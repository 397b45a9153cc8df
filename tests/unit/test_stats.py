"""Wilson interval and the one-sided drop test against hand-computed values."""

from __future__ import annotations

import pytest

from cekura_livekit.results.stats import RegressionPolicy, drop_test, normal_sf, wilson_interval


def test_wilson_9_of_10_matches_the_hand_computed_interval() -> None:
    low, high = wilson_interval(9, 10)  # type: ignore[misc]
    assert round(low, 3) == 0.596
    assert round(high, 3) == 0.982


def test_wilson_edges() -> None:
    assert wilson_interval(0, 0) is None
    low, high = wilson_interval(0, 5)  # type: ignore[misc]
    assert low == 0.0
    assert 0.0 < high < 0.6
    low, high = wilson_interval(5, 5)  # type: ignore[misc]
    assert 0.4 < low < 1.0
    assert high == pytest.approx(1.0)
    with pytest.raises(ValueError, match="successes=6"):
        wilson_interval(6, 5)


def test_normal_tail() -> None:
    assert normal_sf(0) == pytest.approx(0.5)
    assert normal_sf(1.6448536) == pytest.approx(0.05, abs=1e-6)


def test_baseline_90_of_100_vs_14_of_20_is_a_significant_drop() -> None:
    test = drop_test(90, 100, 14, 20)
    # pooled p = 104/120; se = sqrt(p(1-p)(1/100 + 1/20)) = 0.08327; z = 0.2 / se = 2.402
    assert test.z == pytest.approx(2.402, abs=1e-3)
    assert test.p_value == pytest.approx(0.00815, abs=1e-4)
    assert test.p_value < 0.05
    assert test.drop == pytest.approx(0.2)
    assert RegressionPolicy().severity(test) == "major"


def test_8_of_10_vs_90_of_100_is_not_significant() -> None:
    test = drop_test(90, 100, 8, 10)
    assert test.z == pytest.approx(0.967, abs=1e-3)
    assert test.p_value is not None
    assert test.p_value > 0.05
    assert RegressionPolicy().severity(test) is None


def test_policy_gates_on_sample_size_and_practical_drop() -> None:
    policy = RegressionPolicy()
    assert policy.severity(drop_test(18, 19, 0, 10)) is None  # baseline below min_baseline_n
    assert policy.severity(drop_test(90, 100, 0, 4)) is None  # current below min_current_n
    # a tiny but significant drop on huge samples is below min_drop
    tiny = drop_test(9500, 10000, 9300, 10000)
    assert tiny.p_value is not None
    assert tiny.p_value < 0.001
    assert policy.severity(tiny) is None
    assert policy.severity(drop_test(95, 100, 5, 20)) == "critical"
    assert policy.severity(drop_test(900, 1000, 170, 200)) is None  # 5-point drop
    assert policy.severity(drop_test(900, 1000, 155, 200)) == "minor"  # 12.5-point drop, p tiny
    assert policy.severity(drop_test(50, 100, 60, 100)) is None  # an improvement


def test_drop_test_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError, match="current"):
        drop_test(1, 2, 3, 2)
    with pytest.raises(ValueError, match="current_days"):
        RegressionPolicy(current_days=0)
