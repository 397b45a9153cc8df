"""Per-series CUSUM thresholds: a small table calibrated by simulation, interpolated.

Why a table: the false-alarm rate of a Bernoulli CUSUM depends on how coarse its daily steps are (runs per day)
and on the base rate; no closed form is accurate for p0 near 1 at 1 run a day. `bench/detection.py --calibrate`
simulates stationary series through `drops.run_detector` (baseline estimation included) at every cell and
finds, by bisection, the threshold that gives `TARGET_PER_100` false episodes per 100 scenario-months; its
output is pasted below. Between cells: linear in log(runs/day) and in logit(p0); outside: the edge (a lower
volume than 1/day makes the steps rarer, so the 1/day threshold is conservative in days).

The threshold depends only on the series' own volume and base rate: adding series changes nobody's threshold.
"""

from __future__ import annotations

import numpy as np

TARGET_PER_100 = 0.5  # half the budget of 1 false episode per 100 scenario-months: room for real-data quirks
VOLUMES = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
RATES = (0.5, 0.7, 0.85, 0.95, 0.99)
# TABLE[i][j]: threshold at VOLUMES[i] runs/day and base rate RATES[j]: `python -m bench.detection --calibrate`
# (2,000 stationary series × 365 days per cell, bisection to 0.05; DropPolicy defaults).
TABLE = (
    (6.30, 6.30, 6.45, 6.10, 5.51),
    (7.33, 7.18, 7.15, 6.86, 6.21),
    (8.03, 7.53, 7.24, 7.39, 6.68),
    (7.71, 7.47, 7.33, 7.01, 6.80),
    (7.62, 7.42, 7.30, 6.95, 6.19),
    (7.27, 7.39, 6.83, 6.48, 5.95),
)

#: No threshold is below it (interpolation stays within the table): a CUSUM under it cannot alarm.
LOWEST = float(min(min(row) for row in TABLE))


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def threshold(volume: np.ndarray, p0: np.ndarray) -> np.ndarray:
    """Thresholds for series with `volume` evaluated runs per active day and base rate `p0` (arrays)."""
    v = np.log(np.clip(np.asarray(volume, dtype=float), VOLUMES[0], VOLUMES[-1]))
    r = _logit(np.clip(np.asarray(p0, dtype=float), RATES[0], RATES[-1]))
    vs, rs = np.log(np.asarray(VOLUMES)), _logit(np.asarray(RATES))
    table = np.asarray(TABLE)
    i = np.clip(np.searchsorted(vs, v, side="right") - 1, 0, len(vs) - 2)
    j = np.clip(np.searchsorted(rs, r, side="right") - 1, 0, len(rs) - 2)
    a = np.clip((v - vs[i]) / (vs[i + 1] - vs[i]), 0.0, 1.0)
    b = np.clip((r - rs[j]) / (rs[j + 1] - rs[j]), 0.0, 1.0)
    low = table[i, j] * (1 - b) + table[i, j + 1] * b
    high = table[i + 1, j] * (1 - b) + table[i + 1, j + 1] * b
    return np.asarray(low * (1 - a) + high * a, dtype=float)
