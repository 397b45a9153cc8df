"""The reference statistics (`cekura_livekit.stats`) against hand-computed values, and the vectorised
Wilson forms (SQL in the warehouse, numpy in the report) against the reference."""

from __future__ import annotations

import pytest

from cekura_livekit.stats import RegressionPolicy, drop_test, normal_sf, wilson_interval
from tests.support.warehouse import WarehouseTarget


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


# Parity: the SQL and numpy forms of the Wilson interval against the reference, on a grid that includes
# n = 0, passed = 0, passed = n and small n (where approximations usually break).
_SIZES = (*range(13), 20, 29, 30, 97, 100, 263, 1000, 10_000)
_GRID = sorted(
    {(k, n) for n in _SIZES for k in range(n + 1) if n <= 30 or k in {0, 1, 2, n // 3, n // 2, n - 1, n}}
    | {(81, 263)}
)


def _reference(k: int, n: int) -> tuple[float, float] | None:
    return wilson_interval(k, n)


def test_grid_covers_the_edges() -> None:
    assert {(0, 0), (0, 1), (1, 1), (0, 5), (5, 5), (81, 263), (10_000, 10_000)} <= set(_GRID)


def test_numpy_wilson_matches_the_reference() -> None:
    import numpy as np

    from cekura_livekit.report.stats import wilson_arrays

    k = np.array([g[0] for g in _GRID])
    n = np.array([g[1] for g in _GRID])
    low, high = wilson_arrays(k, n)
    for i, (ki, ni) in enumerate(_GRID):
        ref = _reference(ki, ni)
        if ref is None:
            assert np.isnan(low[i]), (ki, ni)
            assert np.isnan(high[i]), (ki, ni)
        else:
            assert (low[i], high[i]) == pytest.approx(ref, abs=1e-12), (ki, ni)


def test_report_scalar_wrapper_delegates_to_the_reference() -> None:
    import math

    from cekura_livekit.report.stats import wilson_interval as report_wilson

    for k, n in _GRID:
        ref = _reference(k, n)
        got = report_wilson(k, n)
        if ref is None:
            assert all(math.isnan(x) for x in got)
        else:
            assert got == ref  # the same function underneath: bit for bit


def test_sql_wilson_matches_the_reference(warehouse: WarehouseTarget) -> None:
    """The expression `trends.recompute_daily_sql` embeds, evaluated by each engine on the whole grid."""
    from cekura_livekit.warehouse.connection import open_warehouse
    from cekura_livekit.warehouse.trends import wilson_sql

    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        grid = " UNION ALL ".join(f"SELECT {k} AS k, {n} AS n" for k, n in _GRID)  # portable to every engine
        d = wh.dialect.as_double
        sql = (
            f"SELECT k, n, {wilson_sql('low', 'k', 'n', to_double=d)}, {wilson_sql('high', 'k', 'n', to_double=d)} "
            f"FROM ({grid}) g"
        )
        _, rows = wh.query(sql)
    assert len(rows) == len(_GRID)
    for k, n, low, high in rows:
        ref = _reference(int(k), int(n))
        if ref is None:
            assert low is None, (k, n)
            assert high is None, (k, n)
        else:
            assert (low, high) == pytest.approx(ref, abs=1e-12), (k, n)


def test_sql_wilson_refuses_an_unknown_bound() -> None:
    from cekura_livekit.warehouse.trends import wilson_sql

    with pytest.raises(ValueError, match="bound='mid'"):
        wilson_sql("mid", "k", "n", to_double=str)


def test_bh_adjust_matches_hand_computed_q_values() -> None:
    from cekura_livekit.stats import bh_adjust

    # p sorted: 0.01, 0.02, 0.03, 0.5 (m = 4): q = min over ranks >= i of p * m / rank
    q = bh_adjust([0.03, None, 0.01, 0.5, 0.02])
    assert q[1] is None
    assert q[2] == pytest.approx(0.04)
    assert q[4] == pytest.approx(0.04)
    assert q[0] == pytest.approx(0.04)
    assert q[3] == pytest.approx(0.5)
    assert bh_adjust([]) == []


def test_episodes_need_persistence_and_merge_across_short_gaps() -> None:
    from datetime import date

    from cekura_livekit.stats import episodes_from_flags

    d = lambda day: date(2026, 11, day)  # noqa: E731
    assert episodes_from_flags([d(3)], d(20)) == []  # one noisy day is not an episode
    [one] = episodes_from_flags([d(3), d(4), d(6), d(7)], d(8))  # a 1-day gap inside one drop
    assert (one.started_on, one.last_seen, one.flagged_days, one.open) == (d(3), d(7), 4, True)
    first, second = episodes_from_flags([d(1), d(2), d(10), d(11)], d(20))
    assert first.resolved_on == d(3)
    assert second.resolved_on == d(12)
    assert not first.open
