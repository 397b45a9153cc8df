"""Stable episode ids (`detection.identity.carry_ids`): one drop keeps its id when late data moves its start
or flag day (so it is alerted once); a drop that overlaps nothing stored is new."""

from __future__ import annotations

from datetime import date

from cekura_livekit.detection.identity import StoredEpisode, carry_ids

KEY = "1|2004|voice/managed|nightly"


def test_a_new_drop_is_named_after_its_series_and_flag_day() -> None:
    assert carry_ids(KEY, [(date(2024, 4, 10), date(2024, 4, 12), None)], []) == [f"{KEY}@2024-04-12"]


def test_the_id_survives_a_start_moved_a_day_earlier() -> None:
    stored = [StoredEpisode(f"{KEY}@2024-04-12", date(2024, 4, 10), None)]
    moved = [(date(2024, 4, 9), date(2024, 4, 11), None)]
    assert carry_ids(KEY, moved, stored) == [f"{KEY}@2024-04-12"]


def test_the_id_survives_a_start_moved_a_day_later_and_a_resolution() -> None:
    stored = [StoredEpisode("ep-a", date(2024, 4, 10), None)]
    assert carry_ids(KEY, [(date(2024, 4, 11), date(2024, 4, 13), date(2024, 4, 20))], stored) == ["ep-a"]


def test_a_later_drop_after_a_recovery_is_a_new_episode() -> None:
    stored = [StoredEpisode("ep-a", date(2024, 4, 10), date(2024, 4, 20))]
    episodes = [
        (date(2024, 4, 10), date(2024, 4, 12), date(2024, 4, 20)),
        (date(2024, 5, 1), date(2024, 5, 3), None),
    ]
    assert carry_ids(KEY, episodes, stored) == ["ep-a", f"{KEY}@2024-05-03"]


def test_each_stored_id_goes_to_one_episode_only_the_earliest_overlapping() -> None:
    """A stored open episode overlaps everything after its start; it must not name two recomputed drops."""
    stored = [StoredEpisode("ep-open", date(2024, 4, 1), None)]
    episodes = [
        (date(2024, 4, 2), date(2024, 4, 4), date(2024, 4, 8)),
        (date(2024, 4, 15), date(2024, 4, 17), None),
    ]
    assert carry_ids(KEY, episodes, stored) == ["ep-open", f"{KEY}@2024-04-17"]


def test_ids_follow_the_stored_start_order_not_the_given_order() -> None:
    stored = [
        StoredEpisode("second", date(2024, 5, 1), None),
        StoredEpisode("first", date(2024, 4, 1), date(2024, 4, 10)),
    ]
    episodes = [
        (date(2024, 4, 2), date(2024, 4, 3), date(2024, 4, 9)),
        (date(2024, 5, 2), date(2024, 5, 3), None),
    ]
    assert carry_ids(KEY, episodes, stored) == ["first", "second"]


def test_touching_spans_overlap_but_disjoint_ones_do_not() -> None:
    stored = [StoredEpisode("ep-a", date(2024, 4, 1), date(2024, 4, 10))]
    assert carry_ids(KEY, [(date(2024, 4, 10), date(2024, 4, 12), None)], stored) == ["ep-a"]
    assert carry_ids(KEY, [(date(2024, 4, 11), date(2024, 4, 12), None)], stored) == [f"{KEY}@2024-04-12"]
