"""The report's statistics: the Wilson interval and the rolling rate over calendar days."""

from __future__ import annotations

import math
from datetime import date

import pandas as pd
import pytest

from cekura_livekit.report import stats as report_stats
from cekura_livekit.report import wilson_interval
from cekura_livekit.report.schema import normalize_daily

# ------------------------------------------------------------------------------------------ wilson


def test_wilson_interval_matches_published_values() -> None:
    # Reference values (Newcombe 1998, table I / Agresti & Coull 1998): x/n → Wilson 95% interval.
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)


def test_wilson_interval_edge_cases() -> None:
    low, high = wilson_interval(0, 0)
    assert math.isnan(low)
    assert math.isnan(high)
    with pytest.raises(ValueError, match="passed=11"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match="z > 0"):
        wilson_interval(1, 10, z=0)
    # Vectorised and scalar versions agree.
    lows, highs = report_stats.wilson_arrays([0, 5, 81, 0], [10, 10, 263, 0])
    for i, (p, n) in enumerate([(0, 10), (5, 10), (81, 263)]):
        assert (lows[i], highs[i]) == pytest.approx(wilson_interval(p, n))
    assert math.isnan(lows[3])


def test_rolling_rate_uses_summed_counts_over_calendar_days() -> None:
    daily = normalize_daily(
        pd.DataFrame(
            {
                "run_date": [date(2024, 5, 1), date(2024, 5, 2), date(2024, 5, 9)],
                "agent_id": [1, 1, 1],
                "passed": [1, 9, 5],
                "failed_evaluation": [9, 1, 5],
            }
        )
    )
    roll = report_stats.rolling_by_agent(daily, window_days=7).set_index("run_date")["rate_roll"]
    assert len(roll) == 9  # every calendar day from May 1 to May 9
    assert roll[pd.Timestamp("2024-05-02")] == pytest.approx(10 / 20)
    assert roll[pd.Timestamp("2024-05-07")] == pytest.approx(10 / 20)
    # May 9's window is May 3..9: only May 9 counts, May 1-2 have left the window.
    assert roll[pd.Timestamp("2024-05-09")] == pytest.approx(5 / 10)
