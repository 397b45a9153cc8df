"""`make demo`'s calendar (include/demo.py) is long enough for its seeded regression to be found.

Why these tests and not a run of the demo: the demo runs two DAGs per simulated day with `dag.test()` (minutes);
what can silently break is the arithmetic between three places that do not know each other: the demo's calendar,
the sandbox catalogue's dated regression and the drop detector's warm-up (`DropPolicy`: 100 evaluated runs over
28 days before a series is watched). With the 14-day calendar the demo had before, the detector never watched the
regressing series and the demo showed 0 drop episodes.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from cekura_livekit.detection.drops import DropPolicy, detect_drops_many
from cekura_livekit.suites import load_suites
from cekura_sandbox.catalogue import load_catalogue
from include import demo

SUITES = Path(demo.ROOT) / "include" / "suites"


def designed() -> tuple[int, float, float, int]:
    """(scenario id, pass rate before, pass rate after, runs per day) of the demo's seeded regression."""
    catalogue = load_catalogue()
    [scenario] = [s for s in catalogue.scenarios.values() if s.name == demo.DESIGNED_SCENARIO]
    assert scenario.regression_from == demo.REGRESSION_DAY
    assert scenario.regression_pass_rate is not None
    suites, problems = load_suites(SUITES)
    assert not problems
    [suite] = [s for s in suites if scenario.id in s.scenarios]
    return scenario.id, scenario.pass_rate, scenario.regression_pass_rate, suite.frequency


def test_the_first_demo_gives_the_regressing_series_a_full_baseline_then_shows_the_drop() -> None:
    days = demo._days_to_run(None)
    policy = DropPolicy()
    before = [d for d in days if d < demo.REGRESSION_DAY]
    _, _, _, per_day = designed()
    assert days == sorted(days)
    assert len(set(days)) == len(days)
    assert len(before) >= policy.min_baseline_days + 2  # two days of slack: a day may carry no evaluated run
    assert len(before) * per_day >= policy.min_baseline_runs
    assert days[-1] >= demo.REGRESSION_DAY + timedelta(days=3)  # the drop has days to show


def test_every_demo_suite_is_scheduled_from_before_the_first_simulated_day() -> None:
    """`dag.test()` of a day before a DAG's start_date runs no task and still reports success: a suite starting
    after the demo's first day would silently load nothing for those days (and the baseline would never fill)."""
    suites, problems = load_suites(SUITES)
    assert not problems
    assert suites
    assert all(s.start_date <= demo.FIRST_DAY for s in suites), [(s.suite, s.start_date) for s in suites]


def test_trends_passes_cover_every_simulated_day() -> None:
    """Each trends pass refreshes the 29 days up to its day: the passes during the calendar and the last one
    leave no simulated day outside every window (a day outside never reaches the detector)."""
    days = demo._days_to_run(None)
    passes = [d for d in days if (d - days[0]).days % demo.TRENDS_EVERY_DAYS == demo.TRENDS_EVERY_DAYS - 1]
    passes.append(days[-1])
    covered = {p - timedelta(days=k) for p in passes for k in range(29)}
    assert set(days) <= covered


def test_a_second_demo_continues_by_one_day() -> None:
    last = demo.FIRST_DAY + timedelta(days=demo.FIRST_RUN_DAYS - 1)
    assert demo._days_to_run(last) == [last + timedelta(days=1)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_production_detector_finds_the_seeded_regression_within_the_demo(seed: int) -> None:
    """The demo's calendar through `detect_drops_many` on draws like the sandbox's: the seeded drop is flagged
    by the demo's last day, its change point on or after the regression day, in (almost) every draw; the
    healthy days raise nothing."""
    _, p_before, p_after, per_day = designed()
    days = demo._days_to_run(None)
    rng = np.random.default_rng(seed)
    reps = 200
    rates = np.array([p_after if d >= demo.REGRESSION_DAY else p_before for d in days])
    passed = rng.binomial(per_day, np.broadcast_to(rates, (reps, len(days))))
    series = {i: (days, passed[i].tolist(), [per_day] * len(days)) for i in range(reps)}
    found = detect_drops_many(series)
    flagged = [eps for eps in found.values() if any(e.flagged_on >= demo.REGRESSION_DAY for e in eps)]
    false = [e for eps in found.values() for e in eps if e.flagged_on < demo.REGRESSION_DAY]
    assert len(flagged) >= 0.95 * reps  # 98 % expected; with the 5 drop days the demo had: 90 %
    assert len(false) <= 0.02 * reps
    starts = [e.started_on for eps in flagged for e in eps if e.flagged_on >= demo.REGRESSION_DAY]
    assert np.mean([s >= demo.REGRESSION_DAY - timedelta(days=1) for s in starts]) >= 0.95
