"""The CUSUM threshold table (`detection.calibration`): exact at its cells, linear between them in log(volume)
and logit(rate), clamped at the edges, vectorised; and the table itself is sane."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cekura_livekit.detection.calibration import RATES, TABLE, TARGET_PER_100, VOLUMES, threshold


def test_every_cell_is_returned_exactly() -> None:
    volume, rate = np.meshgrid(VOLUMES, RATES, indexing="ij")
    np.testing.assert_allclose(threshold(volume.ravel(), rate.ravel()), np.asarray(TABLE).ravel())


def test_between_two_volumes_it_is_linear_in_log_volume() -> None:
    middle = math.sqrt(VOLUMES[1] * VOLUMES[2])  # halfway in log(volume)
    expected = (TABLE[1][2] + TABLE[2][2]) / 2
    assert threshold(np.array([middle]), np.array([RATES[2]]))[0] == pytest.approx(expected)


def test_between_two_rates_it_is_linear_in_logit_rate() -> None:
    lo, hi = math.log(RATES[3] / (1 - RATES[3])), math.log(RATES[4] / (1 - RATES[4]))
    mid = 1 / (1 + math.exp(-(lo + hi) / 2))  # halfway in logit(p0), not 0.97
    expected = (TABLE[3][3] + TABLE[3][4]) / 2
    assert threshold(np.array([VOLUMES[3]]), np.array([mid]))[0] == pytest.approx(expected)


def test_outside_the_table_the_edge_applies() -> None:
    """Below 1 run a day the 1/day threshold (conservative in days); rates past the last row clamp."""
    edge = threshold(np.array([VOLUMES[0], VOLUMES[-1]]), np.array([RATES[0], RATES[-1]]))
    outside = threshold(np.array([0.2, 500.0]), np.array([0.1, 0.9999]))
    np.testing.assert_allclose(outside, edge)
    np.testing.assert_allclose(edge, [TABLE[0][0], TABLE[-1][-1]])


def test_thresholds_are_continuous_across_a_cell_boundary() -> None:
    eps = 1e-9
    for v in VOLUMES[1:-1]:
        below, above = threshold(np.array([v * (1 - eps), v * (1 + eps)]), np.array([0.8, 0.8]))
        assert below == pytest.approx(above, abs=1e-6)


def test_the_table_is_one_row_per_volume_one_column_per_rate_and_plausible() -> None:
    assert len(TABLE) == len(VOLUMES)
    assert all(len(row) == len(RATES) for row in TABLE)
    assert list(VOLUMES) == sorted(VOLUMES)
    assert list(RATES) == sorted(RATES)
    assert all(4.0 < t < 10.0 for row in TABLE for t in row)  # a CUSUM h of a few log-likelihood units
    assert 0 < TARGET_PER_100 <= 1


def test_threshold_is_vectorised_and_bounded_by_the_table() -> None:
    rng = np.random.default_rng(3)
    volume, rate = rng.uniform(0.1, 100, size=500), rng.uniform(0.3, 0.999, size=500)
    out = threshold(volume, rate)
    assert out.shape == (500,)
    assert np.all(out >= np.min(TABLE))
    assert np.all(out <= np.max(TABLE))


@pytest.mark.parametrize("i", range(len(VOLUMES) - 1))
@pytest.mark.parametrize("j", range(len(RATES) - 1))
def test_within_a_cell_the_threshold_moves_monotonically_between_its_corners(i: int, j: int) -> None:
    """The table itself is not monotone (it is simulated), but interpolation must never overshoot it: along
    either axis of a cell the threshold runs monotonically from one corner's value to the other's."""
    steps = np.linspace(0, 1, 21)
    volumes = np.exp(np.log(VOLUMES[i]) + steps * (np.log(VOLUMES[i + 1]) - np.log(VOLUMES[i])))
    along_volume = threshold(volumes, np.full(21, RATES[j]))
    lo, hi = np.log(RATES[j] / (1 - RATES[j])), np.log(RATES[j + 1] / (1 - RATES[j + 1]))
    rates = 1 / (1 + np.exp(-(lo + steps * (hi - lo))))
    along_rate = threshold(np.full(21, VOLUMES[i]), rates)
    for series, start, end in (
        (along_volume, TABLE[i][j], TABLE[i + 1][j]),
        (along_rate, TABLE[i][j], TABLE[i][j + 1]),
    ):
        assert series[0] == pytest.approx(start)
        assert series[-1] == pytest.approx(end)
        diffs = np.diff(series)
        assert np.all(diffs >= -1e-12) or np.all(diffs <= 1e-12)
