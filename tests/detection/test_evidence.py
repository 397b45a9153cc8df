"""How an episode's evidence is stated (`detection.evidence`, issue 25.6): the drop with its Newcombe 95 %
interval and the runs behind it, never a "% confidence"."""

from __future__ import annotations

import math
from datetime import date

import pytest

from cekura_livekit.detection.drops import DropEpisode
from cekura_livekit.detection.evidence import describe, drop_interval

Z = 1.959963984540054


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson score interval, written out here independently of `stats.wilson_interval`."""
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return centre - half, centre + half


def episode(**change: object) -> DropEpisode:
    values: dict[str, object] = {
        "started_on": date(2024, 4, 10),
        "flagged_on": date(2024, 4, 12),
        "resolved_on": None,
        "baseline_rate": 0.9,
        "baseline_n": 100,
        "post_passed": 14,
        "post_n": 20,
        "threshold": 7.0,
    }
    values.update(change)
    return DropEpisode(**values)  # type: ignore[arg-type]


def test_the_drop_interval_is_newcombes_hybrid_score_interval() -> None:
    (l1, u1), (l2, u2) = wilson(90, 100), wilson(14, 20)
    d, low, high = drop_interval(90, 100, 14, 20)  # type: ignore[misc]
    assert d == pytest.approx(0.2)
    assert low == pytest.approx(d - math.sqrt((0.9 - l1) ** 2 + (u2 - 0.7) ** 2))
    assert high == pytest.approx(d + math.sqrt((u1 - 0.9) ** 2 + (0.7 - l2) ** 2))
    assert (round(low * 100), round(high * 100)) == (3, 42)


def test_the_interval_stays_inside_minus_one_to_one_at_the_extremes() -> None:
    d, low, high = drop_interval(20, 20, 0, 3)  # type: ignore[misc]
    assert d == 1.0
    assert -1.0 <= low < d <= high <= 1.0


def test_no_runs_on_either_side_means_no_interval() -> None:
    assert drop_interval(0, 0, 3, 5) is None
    assert drop_interval(9, 10, 0, 0) is None


def test_the_sentence_states_effect_interval_runs_and_the_budget_never_confidence() -> None:
    text = describe(episode())
    assert "success rate 70% over 20 runs since 2024-04-10" in text
    assert "against 90% over 100 runs before" in text
    assert "down 20 points (95 % CI 3 to 42)" in text
    assert "flagged on 2024-04-12" in text
    assert "false episodes per 100 scenario-months" in text
    assert text.endswith("ongoing")
    assert "confidence" not in text
    assert "q=" not in text


def test_a_recovered_episode_says_when() -> None:
    assert describe(episode(resolved_on=date(2024, 4, 20))).endswith("recovered on 2024-04-20")


def test_an_episode_without_runs_after_its_start_says_only_what_is_known() -> None:
    text = describe(episode(post_passed=0, post_n=0))
    assert text == "success rate below its 90% baseline since 2024-04-10"
