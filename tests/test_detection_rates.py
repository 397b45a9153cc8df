"""False discoveries and detection power of the regression detector, on seeded synthetic data.

Publishes its numbers: docs/analytics.md must show exactly what this test computes (seeded, deterministic),
so the page cannot drift from the detector.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cekura_livekit.stats import RegressionPolicy
from tests.support.detection import designed_drop, stationary

DOC = Path(__file__).resolve().parents[1] / "docs" / "analytics.md"
pytestmark = pytest.mark.slow


def test_false_episodes_on_stationary_data_and_power_on_a_designed_drop() -> None:
    policy = RegressionPolicy()
    still = stationary(policy)
    # The rule before (one-sided p < 0.05 per test, no family correction, every flagged day shown) …
    assert still.raw_flags / still.day_rows > 0.03
    # … and the warehouse's rule: BH across each day's tests + two consecutive flagged days per episode.
    assert still.per_100_scenario_months <= 1.0
    demo = designed_drop(policy, runs=5, family=11)
    team = designed_drop(policy, runs=18, family=150, replicates=100)
    assert demo.detected >= 0.6
    assert team.detected >= 0.9
    assert demo.median_delay <= 5
    lines = [
        f"| stationary 80 %, 150 scenarios × 365 days, ~18 runs/day | {still.day_rows:,} day-rows | "
        f"{still.raw_flags:,} flagged day-rows, {still.raw_episodes:,} flag runs | "
        f"{still.episodes} episodes = {still.per_100_scenario_months:.2f} per 100 scenario-months |",
        f"| 95 % → 75 %, demo volume: 5 runs/day, 11 scenarios | | | detected {demo.detected:.0%} within 14 days, "
        f"delay median {demo.median_delay:.0f} d, p90 {demo.p90_delay:.0f} d |",
        f"| 95 % → 75 %, team volume: 18 runs/day, 150 scenarios | | | detected {team.detected:.0%} within 14 days, "
        f"delay median {team.median_delay:.0f} d, p90 {team.p90_delay:.0f} d |",
    ]
    text = DOC.read_text()
    missing = [line for line in lines if line not in text]
    assert not missing, "docs/analytics.md is out of date; publish:\n" + "\n".join(lines)
