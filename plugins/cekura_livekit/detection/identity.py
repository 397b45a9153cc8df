"""Stable episode ids: one drop keeps one id (and so one alert) when late data moves its start or flag day.

Why: episodes are recomputed from the counts on every pass; a late load can move the change-point estimate or
the alarm day by a day or two. Keying alerts on `started_on` (what the warehouse does today) alerted one drop
twice. Here a recomputed episode inherits the id of a stored episode of the same series whose span overlaps
its own (spans: start .. resolution, open-ended while open); only a drop that overlaps nothing stored is new,
with id ``<series key>@<flagged_on>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class StoredEpisode:
    """What the warehouse keeps of an episode of one series, enough to recognise it again."""

    episode_id: str
    started_on: date
    resolved_on: date | None


def _overlaps(a_start: date, a_end: date | None, b_start: date, b_end: date | None) -> bool:
    return (a_end is None or b_start <= a_end) and (b_end is None or a_start <= b_end)


def carry_ids(
    series_key: str,
    episodes: Sequence[tuple[date, date, date | None]],
    stored: Sequence[StoredEpisode],
) -> list[str]:
    """Ids for the recomputed `episodes` (started_on, flagged_on, resolved_on) of one series, in order.

    Each stored id is given to at most one recomputed episode (the earliest overlapping one).
    """
    free = sorted(stored, key=lambda s: s.started_on)
    ids = []
    for started, flagged, resolved in episodes:
        match = next((s for s in free if _overlaps(s.started_on, s.resolved_on, started, resolved)), None)
        if match is None:
            ids.append(f"{series_key}@{flagged.isoformat()}")
        else:
            free.remove(match)
            ids.append(match.episode_id)
    return ids
