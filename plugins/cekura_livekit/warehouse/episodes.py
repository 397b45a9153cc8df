"""Success-rate drop episodes: the unit people see and alerts are keyed on, from the detection package.

Every trends pass reads `cekura_success_rate_daily` as daily counts per agent × scenario × mode × suite and
calls `detection.drops.detect_drops_many` ONCE for every series (a vectorised anchored CUSUM; never a loop of
per-series detections, never one family whose size moves every series' error rate). The result is a function
of the counts alone, so late or duplicated loads are handled by recomputing; `detection.identity.carry_ids`
gives a recomputed episode the id of the stored episode it overlaps, so one drop keeps one `episode_id` (and
one alert) when late data moves its start or its flag day.

`cekura_regression_episodes`: one row per episode (started_on = the estimated change point, flagged_on = the
alarm day, resolved_on = the day recovery began, resolution_shown_on = the day it was established), with the
baseline and post-change counts and `evidence` (`detection.evidence.describe`). The older column names the
report reads stay filled with their meaning: current_rate / current_n = the post-change rate and runs,
peak_drop = rate_drop, last_seen = the last day in effect, q_value = NULL (a CUSUM has no per-day q-value).

`cekura_regressions` (one meaning of "regression"): one row per day × series on which an episode of this table
was in effect (started, not yet recovered) and already flagged: the detector's daily state for analysts, so a
row for the newest day exists exactly when the series has an open episode.

Quarantined keys (their latest batch marked the scenario quarantined) keep their episodes, flagged
`quarantined`; the alert step never alerts them. Runs under the trends lock of the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cekura_livekit.detection.drops import DropEpisode, DropPolicy, detect_drops_many
from cekura_livekit.detection.evidence import describe
from cekura_livekit.detection.identity import StoredEpisode, carry_ids
from cekura_livekit.warehouse.dates import as_date
from cekura_livekit.warehouse.engines.base import Dialect
from cekura_livekit.warehouse.locks import TRENDS, serialise
from cekura_livekit.warehouse.scan import tune_for_aggregation
from cekura_livekit.warehouse.tables import ALERTS, EPISODES, REGRESSIONS, RUNS, SUCCESS_RATE_DAILY

Key = tuple[int, int, str, str]
#: Severity by the size of the drop (points of success rate), the thresholds `stats.RegressionPolicy` used.
MAJOR_DROP, CRITICAL_DROP = 0.20, 0.30
#: An alerted drop that vanished (late data) is the same drop if it comes back within this many days.
REMEMBER_DAYS = 28


def series_key(key: Key) -> str:
    """The text form of a series key inside episode ids: ``agent/scenario/mode/suite``."""
    return "/".join(str(part) for part in key)


def severity(drop: float | None) -> str:
    """critical (>= 30 points), major (>= 20), else minor: a label for people, not a test."""
    if drop is not None and drop >= CRITICAL_DROP - 1e-12:
        return "critical"
    if drop is not None and drop >= MAJOR_DROP - 1e-12:
        return "major"
    return "minor"


@dataclass
class SeriesCounts:
    """Daily counts of every series, as `detect_drops_many` takes them, and each series' latest names."""

    series: dict[Key, tuple[list[date], list[int], list[int]]]
    names: dict[Key, tuple[Any, Any]]
    latest: date | None


def daily_counts_in(dialect: Dialect, cur: Any) -> SeriesCounts:
    """One ordered scan of `cekura_success_rate_daily` (one row per day × series: counts already summed)."""
    q = dialect.quote
    cur.execute(
        f"SELECT agent_id, scenario_id, {q('mode')}, suite, run_date, passed, evaluated, agent_name, "
        f"scenario_name FROM {dialect.table(SUCCESS_RATE_DAILY)} "
        f"ORDER BY agent_id, scenario_id, {q('mode')}, suite, run_date"
    )
    series: dict[Key, tuple[list[date], list[int], list[int]]] = {}
    names: dict[Key, tuple[Any, Any]] = {}
    latest: date | None = None
    for agent, scenario, mode, suite, day, passed, evaluated, agent_name, scenario_name in cur.fetchall():
        key = (int(agent), int(scenario), mode or "", suite or "")
        days, xs, ns = series.setdefault(key, ([], [], []))
        d = as_date(day)
        days.append(d)
        xs.append(int(passed or 0))
        ns.append(int(evaluated or 0))
        names[key] = (
            agent_name or names.get(key, (None, None))[0],
            scenario_name or names.get(key, (None, None))[1],
        )
        latest = d if latest is None or d > latest else latest
    return SeriesCounts(series, names, latest)


def stored_episodes_in(dialect: Dialect, cur: Any) -> dict[Key, list[StoredEpisode]]:
    """The episodes of the previous pass per series, plus alerted drops that have since vanished.

    Why the alerted ones: late data can make an alerted drop disappear for a few passes (its alarm moved
    later) and come back; recognised as the same drop when it overlaps the alerted span extended by
    `REMEMBER_DAYS`, it keeps its id and is not alerted twice. Rows without an id (older versions) are skipped.
    """
    q = dialect.quote
    cur.execute(
        f"SELECT agent_id, scenario_id, {q('mode')}, suite, episode_id, started_on, resolved_on "
        f"FROM {dialect.table(EPISODES)} WHERE episode_id IS NOT NULL"
    )
    stored: dict[Key, list[StoredEpisode]] = {}
    for agent, scenario, mode, suite, episode_id, started, resolved in cur.fetchall():
        key = (int(agent), int(scenario), mode or "", suite or "")
        stored.setdefault(key, []).append(
            StoredEpisode(str(episode_id), as_date(started), None if resolved is None else as_date(resolved))
        )
    known = {e.episode_id for episodes in stored.values() for e in episodes}
    cur.execute(
        f"SELECT agent_id, scenario_id, {q('mode')}, suite, episode_id, first_detected, last_seen "
        f"FROM {dialect.table(ALERTS)} WHERE {q('kind')} = '' AND episode_id IS NOT NULL"
    )
    for agent, scenario, mode, suite, episode_id, started, last_seen in cur.fetchall():
        if str(episode_id) in known:
            continue
        key = (int(agent), int(scenario), mode or "", suite or "")
        until = as_date(last_seen or started) + timedelta(days=REMEMBER_DAYS)
        stored.setdefault(key, []).append(StoredEpisode(str(episode_id), as_date(started), until))
    return stored


def episode_row(
    key: Key, episode_id: str, e: DropEpisode, names: tuple[Any, Any], as_of: date, stamp: datetime
) -> dict[str, Any]:
    """One `cekura_regression_episodes` row (without quarantine and link, which `refresh_episodes_in` adds)."""
    last_seen = as_of if e.resolved_on is None else e.resolved_on - timedelta(days=1)
    drop = e.drop
    return {
        "agent_id": key[0],
        "scenario_id": key[1],
        "mode": key[2],
        "suite": key[3],
        "started_on": e.started_on,
        "agent_name": names[0],
        "scenario_name": names[1],
        "last_seen": last_seen,
        "flagged_days": max((last_seen - e.flagged_on).days + 1, 0),
        "baseline_rate": e.baseline_rate,
        "baseline_n": e.baseline_n,
        "current_rate": e.post_rate,
        "current_n": e.post_n,
        "q_value": None,
        "worst_rate": e.post_rate,
        "peak_drop": drop,
        "severity": severity(drop),
        "state": "open" if e.open else "resolved",
        "resolved_on": e.resolved_on,
        "quarantined": False,
        "dashboard_url": None,
        "updated_at": stamp,
        "episode_id": episode_id,
        "flagged_on": e.flagged_on,
        "resolution_shown_on": e.resolution_shown_on,
        "post_passed": e.post_passed,
        "post_n": e.post_n,
        "post_rate": e.post_rate,
        "rate_drop": drop,
        "threshold": e.threshold,
        "evidence": describe(e),
    }


def episodes_from_counts(
    counts: SeriesCounts,
    stored: dict[Key, list[StoredEpisode]],
    as_of: date,
    stamp: datetime,
    policy: DropPolicy | None = None,
) -> list[dict[str, Any]]:
    """Every series' episodes from its counts, one vectorised detection, ids carried from `stored`."""
    found = detect_drops_many(counts.series, policy)
    rows: list[dict[str, Any]] = []
    for key in sorted(found):
        episodes = found[key]
        if not episodes:
            continue
        spans = [(e.started_on, e.flagged_on, e.resolved_on) for e in episodes]
        ids = carry_ids(series_key(key), spans, stored.get(key, []))
        names = counts.names.get(key, (None, None))
        rows.extend(episode_row(key, i, e, names, as_of, stamp) for i, e in zip(ids, episodes, strict=True))
    return rows


def in_effect(row: dict[str, Any], day: date) -> bool:
    """Was the episode in effect on `day`, and already flagged by then (a row of `cekura_regressions`)?"""
    resolved = row["resolved_on"]
    return row["flagged_on"] <= day and row["started_on"] <= day and (resolved is None or day < resolved)


def regression_rows(episodes: list[dict[str, Any]], day: date, stamp: datetime) -> list[dict[str, Any]]:
    """`cekura_regressions` rows of `day`: the episodes in effect and flagged on that day."""
    rows = []
    for e in episodes:
        if not in_effect(e, day):
            continue
        rows.append(
            {
                "run_date": day,
                "agent_id": e["agent_id"],
                "scenario_id": e["scenario_id"],
                "mode": e["mode"],
                "suite": e["suite"],
                "agent_name": e["agent_name"],
                "scenario_name": e["scenario_name"],
                "current_start": e["started_on"],
                "baseline_start": None,
                "baseline_end": e["started_on"] - timedelta(days=1),
                "baseline_passed": round(e["baseline_rate"] * e["baseline_n"]),
                "baseline_n": e["baseline_n"],
                "baseline_rate": e["baseline_rate"],
                "current_passed": e["post_passed"],
                "current_n": e["post_n"],
                "current_rate": e["post_rate"],
                "rate_drop": e["rate_drop"],
                "z": None,
                "p_value": None,
                "q_value": None,
                "severity": e["severity"],
                "detected_at": stamp,
                "episode_id": e["episode_id"],
                "started_on": e["started_on"],
            }
        )
    return rows


def quarantined_keys_in(
    dialect: Dialect, cur: Any, keys: Iterable[Key] | None = None
) -> set[tuple[Any, ...]]:
    """Keys whose latest loaded batch marked the scenario quarantined (its suite's `quarantine` list): their
    episodes are kept and shown, but not alerted. `keys`: only these (read from the newest batches back,
    `latest_batches_in`); None: every key, one GROUP BY over all runs."""
    if keys is not None:
        return latest_batches_in(dialect, cur, keys)[0]
    runs = dialect.table(RUNS)
    # One GROUP BY pass (was a correlated MAX per row: quadratic on a large history). The latest batch of a
    # scenario × suite is the newest result_id over all its modes; the key takes each quarantined run's mode.
    cur.execute(
        f"SELECT r.agent_id, r.scenario_id, COALESCE(r.mode, ''), COALESCE(r.suite, '') FROM {runs} r "
        f"JOIN (SELECT agent_id, scenario_id, COALESCE(suite, '') AS suite, MAX(result_id) AS latest "
        f"FROM {runs} WHERE agent_id IS NOT NULL AND scenario_id IS NOT NULL "
        "GROUP BY agent_id, scenario_id, COALESCE(suite, '')) o "
        "ON o.agent_id = r.agent_id AND o.scenario_id = r.scenario_id AND o.suite = COALESCE(r.suite, '') "
        "AND o.latest = r.result_id "
        "WHERE r.quarantined = TRUE GROUP BY r.agent_id, r.scenario_id, COALESCE(r.mode, ''), COALESCE(r.suite, '')"
    )
    return {(int(a), int(s), m, u) for a, s, m, u in cur.fetchall()}


def latest_links_in(
    dialect: Dialect, cur: Any, keys: Iterable[Key] | None = None
) -> dict[tuple[Any, ...], str]:
    """The dashboard URL of the latest loaded result of every key (where the drop can be looked at).
    `keys`: only these (read from the newest batches back, `latest_batches_in`); None: every key."""
    if keys is not None:
        return latest_batches_in(dialect, cur, keys)[1]
    runs = dialect.table(RUNS)
    grain = "agent_id, scenario_id, COALESCE(mode, '') AS mode, COALESCE(suite, '') AS suite"
    key = "agent_id, scenario_id, COALESCE(mode, ''), COALESCE(suite, '')"
    # One GROUP BY pass (was a correlated MAX per row: quadratic on a large history): each key's newest
    # result, then that result's URL (one per result; MAX only makes the pick deterministic).
    cur.execute(
        f"SELECT r.agent_id, r.scenario_id, o.mode, o.suite, MAX(r.dashboard_url) FROM {runs} r "
        f"JOIN (SELECT {grain}, MAX(result_id) AS latest FROM {runs} "
        f"WHERE agent_id IS NOT NULL AND scenario_id IS NOT NULL GROUP BY {key}) o "
        "ON o.agent_id = r.agent_id AND o.scenario_id = r.scenario_id AND o.mode = COALESCE(r.mode, '') "
        "AND o.suite = COALESCE(r.suite, '') AND o.latest = r.result_id "
        "WHERE r.dashboard_url IS NOT NULL GROUP BY r.agent_id, r.scenario_id, o.mode, o.suite"
    )
    return {(int(a), int(s), m, u): url for a, s, m, u, url in cur.fetchall()}


#: Result ids read by the first step of `latest_batches_in` (a night of 1,000 batches is a few steps).
FIRST_BATCHES = 256


def latest_batches_in(
    dialect: Dialect, cur: Any, keys: Iterable[Key]
) -> tuple[set[tuple[Any, ...]], dict[tuple[Any, ...], str]]:
    """(quarantined keys, dashboard links) of `keys` only: the answers of `quarantined_keys_in` and
    `latest_links_in` for those keys, without a pass over every run.

    Why: the episodes and monitor alerts that need a link are a handful, but the GROUP BY over all runs grew
    with history (1.7 s + 1.2 s a pass at 1M runs). Batches are read newest first through the runs'
    `result_id` index, in steps of 256, 1,024, … result ids; a key's (or, for quarantine, its scenario ×
    suite's) newest result is the largest id in the first step holding any of its runs, so the walk stops
    once every key is settled: a few thousand runs when the keys ran recently, all runs at worst.
    """
    wanted = {(int(k[0]), int(k[1]), str(k[2] or ""), str(k[3] or "")) for k in keys}
    series = {(a, s, u) for a, s, _, u in wanted}
    key_latest: dict[Key, int] = {}
    series_latest: dict[tuple[int, int, str], int] = {}
    links: dict[tuple[Any, ...], str] = {}
    quarantined: set[tuple[Any, ...]] = set()
    runs = dialect.table(RUNS)
    below: int | None = None
    step = FIRST_BATCHES
    while wanted - key_latest.keys() or series - series_latest.keys():
        bound = "" if below is None else f" AND result_id < {dialect.param}"
        params: tuple[Any, ...] = () if below is None else (below,)
        cur.execute(
            f"SELECT DISTINCT result_id FROM {runs} WHERE result_id IS NOT NULL{bound} "
            f"ORDER BY result_id DESC LIMIT {int(step)}",
            params,
        )
        ids = [int(r[0]) for r in cur.fetchall()]
        if not ids:
            break
        cur.execute(
            f"SELECT agent_id, scenario_id, COALESCE(mode, ''), COALESCE(suite, ''), result_id, "
            "MAX(dashboard_url), MAX(CASE WHEN quarantined = TRUE THEN 1 ELSE 0 END) "
            f"FROM {runs} WHERE result_id >= {dialect.param}{bound} "
            "AND agent_id IS NOT NULL AND scenario_id IS NOT NULL "
            "GROUP BY agent_id, scenario_id, COALESCE(mode, ''), COALESCE(suite, ''), result_id",
            (min(ids), *params),
        )
        rows = [(int(a), int(s), m, u, int(r), url, int(q or 0)) for a, s, m, u, r, url, q in cur.fetchall()]
        _settle(rows, wanted, series, key_latest, series_latest, links, quarantined)
        below, step = min(ids), step * 4
    return quarantined, links


def _settle(
    rows: list[tuple[int, int, str, str, int, Any, int]],
    wanted: set[Key],
    series: set[tuple[int, int, str]],
    key_latest: dict[Key, int],
    series_latest: dict[tuple[int, int, str], int],
    links: dict[tuple[Any, ...], str],
    quarantined: set[tuple[Any, ...]],
) -> None:
    """One step of `latest_batches_in`: settle the keys and scenario × suites first seen in `rows`."""
    newest_key: dict[Key, int] = {}
    newest_series: dict[tuple[int, int, str], int] = {}
    for a, s, m, u, result, _, _ in rows:
        if (a, s, m, u) in wanted and (a, s, m, u) not in key_latest:
            newest_key[(a, s, m, u)] = max(result, newest_key.get((a, s, m, u), result))
        if (a, s, u) in series and (a, s, u) not in series_latest:
            newest_series[(a, s, u)] = max(result, newest_series.get((a, s, u), result))
    for a, s, m, u, result, url, flag in rows:
        if newest_key.get((a, s, m, u)) == result and url is not None:
            links[(a, s, m, u)] = url
        if newest_series.get((a, s, u)) == result and flag and (a, s, m, u) in wanted:
            quarantined.add((a, s, m, u))
    key_latest.update(newest_key)
    series_latest.update(newest_series)


def refresh_episodes_in(
    dialect: Dialect,
    cur: Any,
    days: Iterable[date | str] = (),
    policy: DropPolicy | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Recompute every drop episode from the daily counts, replace `cekura_regression_episodes`, and replace
    the `cekura_regressions` rows of each of `days` (the window ends a load may have changed); returns the
    episodes (open and resolved)."""
    serialise(dialect, cur, TRENDS)
    # In-memory sorts and no JIT (the DAG's detect task is a transaction of its own, without the refresh's).
    tune_for_aggregation(dialect, cur)
    stamp = now or datetime.now(UTC)
    counts = daily_counts_in(dialect, cur)
    if counts.latest is None:
        built: list[dict[str, Any]] = []
    else:
        built = episodes_from_counts(counts, stored_episodes_in(dialect, cur), counts.latest, stamp, policy)
    if built:
        keys = {(r["agent_id"], r["scenario_id"], r["mode"], r["suite"]) for r in built}
        quarantined, links = latest_batches_in(dialect, cur, keys)
        for row in built:
            key = (row["agent_id"], row["scenario_id"], row["mode"], row["suite"])
            row["quarantined"], row["dashboard_url"] = key in quarantined, links.get(key)
    cur.execute(f"DELETE FROM {dialect.table(EPISODES)}")
    dialect.insert_rows(cur, EPISODES, built)
    target = dialect.table(REGRESSIONS)
    for day in sorted({as_date(d) for d in days}):
        cur.execute(f"DELETE FROM {target} WHERE run_date = {dialect.date_param()}", (day.isoformat(),))
        dialect.insert_rows(cur, REGRESSIONS, regression_rows(built, day, stamp))
    return built
