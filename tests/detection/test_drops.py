"""The drop detector on designed series: found at the right start, quiet when stationary, resolved only after
recovery, deterministic under late data, and thresholds that depend on the series alone."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from cekura_livekit.detection import calibration
from cekura_livekit.detection.drops import DropPolicy, detect_drops, run_detector
from cekura_livekit.detection.identity import StoredEpisode, carry_ids

D0 = date(2025, 1, 1)


def days(count: int) -> list[date]:
    return [D0 + timedelta(days=i) for i in range(count)]


def exact_series(rates: list[float], runs: int) -> tuple[list[int], list[int]]:
    """Counts that follow the rates as closely as whole runs allow (error diffusion: no luck involved)."""
    passed, carry = [], 0.0
    for r in rates:
        want = r * runs + carry
        k = min(runs, max(0, round(want)))
        carry = want - k
        passed.append(k)
    return passed, [runs] * len(rates)


def test_a_clear_drop_is_found_with_its_start_day() -> None:
    rates = [0.9] * 100 + [0.5] * 30
    passed, n = exact_series(rates, 10)
    (episode,) = detect_drops(days(130), passed, n)
    assert episode.started_on == D0 + timedelta(days=100)
    assert D0 + timedelta(days=100) <= episode.flagged_on <= D0 + timedelta(days=103)
    assert episode.open
    assert episode.baseline_rate == pytest.approx(0.9, abs=0.02)
    assert episode.drop == pytest.approx(0.4, abs=0.05)


def test_a_stationary_series_stays_quiet() -> None:
    rng = np.random.default_rng(0)
    n = np.full((50, 365), 5.0)
    x = rng.binomial(n.astype(int), 0.85).astype(float)
    # 50 series × 12 months at the budget of 0.5 per 100 series-months: ~3 expected; far more means broken.
    assert len(run_detector(x, n)) <= 8
    passed, evaluated = exact_series([0.85] * 365, 5)
    assert detect_drops(days(365), passed, evaluated) == []


def test_an_episode_resolves_only_after_recovery_and_on_the_recovery_day() -> None:
    rates = [0.95] * 80 + [0.6] * 40 + [0.95] * 40
    passed, n = exact_series(rates, 10)
    (episode,) = detect_drops(days(160), passed, n)
    assert episode.started_on == D0 + timedelta(days=80)
    assert episode.resolved_on == D0 + timedelta(days=120)
    assert episode.resolution_shown_on is not None
    assert D0 + timedelta(days=120) < episode.resolution_shown_on <= D0 + timedelta(days=140)
    # While the drop lasts, however long, the episode stays open: the baseline does not slide onto it.
    long_drop = [0.95] * 80 + [0.6] * 200
    passed, n = exact_series(long_drop, 10)
    (still,) = detect_drops(days(280), passed, n)
    assert still.open


def test_a_slow_drift_is_found_because_the_baseline_is_anchored() -> None:
    rates = [0.9] * 100 + [0.9 - 0.3 * min(t / 90, 1) for t in range(1, 121)]
    passed, n = exact_series(rates, 5)
    episodes = detect_drops(days(220), passed, n)
    assert episodes
    assert episodes[0].flagged_on <= D0 + timedelta(days=190)


def test_missing_days_and_empty_days_add_nothing() -> None:
    rates = [0.9] * 100 + [0.5] * 30
    passed, n = exact_series(rates, 10)
    full = detect_drops(days(130), passed, n)
    # The same counts with every third pre-change day absent, or present with 0 evaluated runs.
    keep = [i for i in range(130) if i >= 100 or i % 3]
    sparse = detect_drops([days(130)[i] for i in keep], [passed[i] for i in keep], [n[i] for i in keep])
    zeros = detect_drops(
        days(130),
        [p if i in keep else 0 for i, p in enumerate(passed)],
        [m if i in keep else 0 for i, m in enumerate(n)],
    )
    assert [e.started_on for e in sparse] == [e.started_on for e in zeros] == [e.started_on for e in full]


def test_late_data_recomputes_deterministically_and_keeps_the_episode_id() -> None:
    rates = [0.9] * 100 + [0.5] * 30
    passed, n = exact_series(rates, 10)
    first = detect_drops(days(130), passed, n)
    assert detect_drops(list(reversed(days(130))), passed[::-1], n[::-1]) == first  # order does not matter
    ids = carry_ids(
        "a1/s2/voice/managed/nightly", [(e.started_on, e.flagged_on, e.resolved_on) for e in first], []
    )
    stored = [StoredEpisode(ids[0], first[0].started_on, first[0].resolved_on)]
    # A late load adds a bad day just before the change: the start moves one day earlier.
    late_passed, late_n = [*passed], [*n]
    late_passed[99] = 3
    moved = detect_drops(days(130), late_passed, late_n)
    assert moved[0].started_on == D0 + timedelta(days=99)
    again = carry_ids(
        "a1/s2/voice/managed/nightly", [(e.started_on, e.flagged_on, e.resolved_on) for e in moved], stored
    )
    assert again == ids  # one drop, one id: alerted once


def test_carry_ids_gives_a_stored_id_once_and_new_ids_to_new_drops() -> None:
    stored = [StoredEpisode("k@2025-02-01", date(2025, 1, 30), date(2025, 2, 20))]
    got = carry_ids(
        "k",
        [
            (date(2025, 1, 29), date(2025, 2, 2), date(2025, 2, 19)),
            (date(2025, 5, 1), date(2025, 5, 3), None),
        ],
        stored,
    )
    assert got == ["k@2025-02-01", "k@2025-05-03"]


def test_thresholds_depend_on_the_series_alone() -> None:
    rng = np.random.default_rng(4)
    n = np.full((30, 200), 5.0)
    x = rng.binomial(n.astype(int), 0.8).astype(float)
    x[0, 120:] = rng.binomial(5, 0.5, 80)
    alone = run_detector(x[:1], n[:1])
    among = [e for e in run_detector(x, n) if e.series == 0]
    assert [(e.start, e.flagged, e.threshold) for e in alone] == [
        (e.start, e.flagged, e.threshold) for e in among
    ]


def test_calibration_table_interpolates_and_clamps() -> None:
    t = calibration.TABLE
    got = calibration.threshold(np.array([1.0, 0.2, 500.0, 5.0]), np.array([0.5, 0.5, 0.999, 0.85]))
    assert got.tolist() == pytest.approx([t[0][0], t[0][0], t[-1][-1], t[2][2]])
    mid = calibration.threshold(np.array([np.sqrt(1 * 2)]), np.array([0.5]))[0]
    assert mid == pytest.approx((t[0][0] + t[1][0]) / 2)


def test_bad_input_names_the_field() -> None:
    with pytest.raises(ValueError, match="passed=6, evaluated=5"):
        detect_drops([D0], [6], [5])
    with pytest.raises(ValueError, match="one row per day"):
        detect_drops([D0, D0], [1, 1], [2, 2])
    with pytest.raises(ValueError, match="drops="):
        DropPolicy(drops=(1.5,))


def test_the_evidence_states_the_effect_with_its_interval() -> None:
    from cekura_livekit.detection.evidence import describe, drop_interval

    d, low, high = drop_interval(90, 100, 5, 10) or (0, 0, 0)
    assert d == pytest.approx(0.4)
    assert low < 0.4 < high
    assert 0.05 < low < 0.3  # 5 of 10 is uncertain: the interval is wide but excludes no drop
    rates = [0.9] * 100 + [0.5] * 30
    passed, n = exact_series(rates, 10)
    (episode,) = detect_drops(days(130), passed, n)
    text = describe(episode)
    assert "95 % CI" in text
    assert "confidence" not in text
    assert str(episode.started_on) in text


def test_many_series_at_once_give_what_each_gives_alone() -> None:
    from cekura_livekit.detection.drops import detect_drops_many

    rng = np.random.default_rng(8)
    series = {}
    for i in range(6):
        start = 10 * i  # series start on different days
        length = 200 - 5 * i
        n = [int(v) for v in rng.poisson(6, length)]
        rate = [0.9 if t < 120 else 0.6 if i % 2 else 0.9 for t in range(length)]
        k = [int(rng.binomial(m, r)) for m, r in zip(n, rate, strict=True)]
        series[("a", i)] = ([D0 + timedelta(days=start + t) for t in range(length)], k, n)
    series[("empty", 0)] = ([], [], [])
    together = detect_drops_many(series)
    assert together == {key: detect_drops(*value) for key, value in series.items()}
    assert sum(len(v) for v in together.values()) >= 3


def test_change_point_is_the_likelihood_maximum_and_skips_empty_days() -> None:
    from cekura_livekit.detection.drops import change_point

    x = np.array([9.0] * 30 + [5.0] * 10)
    n = np.full(40, 10.0)
    assert change_point(x, n, 0.9) == 30
    n[30], x[30] = 0.0, 0.0  # no runs on the first bad day: the start is the first day with evidence
    assert change_point(x, n, 0.9) == 31
    assert change_point(np.array([9.0, 9.0]), np.array([10.0, 10.0]), 0.9) in (0, 1)  # no drop: any day


def test_an_open_episode_counts_every_run_since_the_change() -> None:
    """The evidence of an open episode covers every day since the change, not only the days up to the alarm
    (it stopped at the alarm day: an alert on day 50 quoted the runs of days 40-41)."""
    from datetime import date, timedelta

    from cekura_livekit.detection.drops import detect_drops

    days = [date(2024, 3, 1) + timedelta(days=i) for i in range(50)]
    passed = [6 if i % 4 else 5 for i in range(40)] + [2] * 10
    [episode] = detect_drops(days, passed, [6] * 50)
    assert episode.open
    since = (episode.started_on - days[0]).days
    assert episode.post_n == 6 * (50 - since)
    assert episode.post_passed == sum(passed[since:])


def test_skipping_series_below_the_lowest_threshold_changes_no_episode() -> None:
    """Thresholds are computed only for series whose CUSUM reached `calibration.LOWEST` (and the reverse CUSUMs
    only over open episodes): the calibrated thresholds as a plain callable (no lower bound known, every series
    computed) give the same episodes, drops, recoveries and missing days included."""
    rng = np.random.default_rng(12)
    series, span = 400, 260
    t = np.arange(span)
    start = rng.integers(60, 200, series)
    rate = rng.choice([0.6, 0.85, 0.97], series)[:, None] - rng.choice([0.0, 0.15, 0.3], series)[:, None] * (
        (t >= start[:, None]) & (t < start[:, None] + 40)
    )
    n = rng.poisson(rng.choice([1, 5, 20], series)[:, None] * np.ones((series, span))) * (
        rng.random((series, span)) > 0.2
    )
    x = rng.binomial(n, rate)
    fast = run_detector(x, n)
    slow = run_detector(x, n, thresholds=lambda v, p: calibration.threshold(v, p))
    assert fast == slow
    assert sum(e.resolved is not None for e in fast) >= 5  # recoveries were exercised
    assert len(fast) >= 50


def test_the_lowest_threshold_bounds_every_threshold() -> None:
    rng = np.random.default_rng(13)
    got = calibration.threshold(rng.uniform(0.1, 100, 2000), rng.uniform(0.01, 0.9999, 2000))
    assert pytest.approx(np.min(calibration.TABLE)) == calibration.LOWEST
    assert np.all(got >= calibration.LOWEST)
