"""How an episode's evidence is stated: the effect with its interval and the runs behind it (issue 25.6).

Why not "q=0.009 (99.1 % confidence)": 1 - q is not a confidence. A CUSUM episode has no per-day p-value; what a
reader can check is the size of the drop, how sure we are of it, how many runs carry it, and the false-alarm
budget the threshold was set for. The interval of the drop is Newcombe's hybrid score interval (from the two
Wilson intervals): it stays honest at small counts and near 0 and 1, like the Wilson intervals elsewhere.
"""

from __future__ import annotations

import math

from cekura_livekit.detection.calibration import TARGET_PER_100
from cekura_livekit.detection.drops import DropEpisode
from cekura_livekit.stats import wilson_interval


def drop_interval(
    before_passed: int, before_n: int, after_passed: int, after_n: int
) -> tuple[float, float, float] | None:
    """(drop, low, high): before rate - after rate with its 95 % Newcombe interval; None without runs."""
    before = wilson_interval(before_passed, before_n)
    after = wilson_interval(after_passed, after_n)
    if before is None or after is None:
        return None
    p1, p2 = before_passed / before_n, after_passed / after_n
    d = p1 - p2
    low = d - math.sqrt((p1 - before[0]) ** 2 + (after[1] - p2) ** 2)
    high = d + math.sqrt((before[1] - p1) ** 2 + (p2 - after[0]) ** 2)
    return d, low, high


def describe(episode: DropEpisode) -> str:
    """One sentence for an alert or a report row."""
    before_passed = round(episode.baseline_rate * episode.baseline_n)
    ci = drop_interval(before_passed, episode.baseline_n, episode.post_passed, episode.post_n)
    if ci is None or episode.post_rate is None:
        return f"success rate below its {episode.baseline_rate:.0%} baseline since {episode.started_on}"
    drop, low, high = ci
    state = "ongoing" if episode.open else f"recovered on {episode.resolved_on}"
    return (
        f"success rate {episode.post_rate:.0%} over {episode.post_n} runs since {episode.started_on} against "
        f"{episode.baseline_rate:.0%} over {episode.baseline_n} runs before: down {drop * 100:.0f} points "
        f"(95 % CI {low * 100:.0f} to {high * 100:.0f}); flagged on {episode.flagged_on} by a CUSUM set for "
        f"{TARGET_PER_100:g} false episodes per 100 scenario-months; {state}"
    )
