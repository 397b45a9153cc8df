"""Regression episodes: the unit people see, derived from the daily detections that stay as evidence.

A drop that lasts shows in `cekura_regressions` once per window end (often as critical, major, minor on
consecutive days while the windows slide past it). `cekura_regression_episodes` groups those rows per
agent × scenario × mode × suite with `stats.episodes_from_flags`: one ongoing drop = one row with its start,
peak drop, worst rate, latest evidence, state (open / resolved) and resolution day.

Rebuilt from the evidence on every detection pass (the regressions table holds only flagged rows, so this is
small), which makes it idempotent and lets late data that disproves a detection remove its episode too.
Runs under the trends lock of the caller's transaction.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

from cekura_livekit.stats import Episode, RegressionPolicy, episodes_from_flags
from cekura_livekit.warehouse.dates import as_date
from cekura_livekit.warehouse.engines.base import Dialect
from cekura_livekit.warehouse.locks import TRENDS, serialise
from cekura_livekit.warehouse.tables import EPISODES, REGRESSIONS, RUNS

_SEVERITY_RANK = {"minor": 1, "major": 2, "critical": 3}
_EVIDENCE = (
    "run_date",
    "agent_id",
    "scenario_id",
    "mode",
    "suite",
    "agent_name",
    "scenario_name",
    "baseline_rate",
    "baseline_n",
    "current_rate",
    "current_n",
    "rate_drop",
    "q_value",
    "p_value",
    "severity",
)


def _evidence(dialect: Dialect, cur: Any) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    cur.execute(
        f"SELECT {', '.join(dialect.quote(c) for c in _EVIDENCE)} FROM {dialect.table(REGRESSIONS)} ORDER BY run_date"
    )
    by_key: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for values in cur.fetchall():
        row = dict(zip(_EVIDENCE, values, strict=True))
        row["run_date"] = as_date(row["run_date"])
        by_key[(int(row["agent_id"]), int(row["scenario_id"]), row["mode"], row["suite"])].append(row)
    return by_key


def episode_row(key: tuple[Any, ...], episode: Episode, rows: list[dict[str, Any]], stamp: datetime) -> dict:
    """One episode row from its evidence (the daily rows between its start and its last flag)."""
    inside = [r for r in rows if episode.started_on <= r["run_date"] <= episode.last_seen]
    first, last = inside[0], inside[-1]
    worst = max(inside, key=lambda r: _SEVERITY_RANK.get(str(r["severity"]), 0))
    q_last = last["q_value"] if last["q_value"] is not None else last["p_value"]
    return {
        "agent_id": key[0],
        "scenario_id": key[1],
        "mode": key[2],
        "suite": key[3],
        "started_on": episode.started_on,
        "agent_name": last["agent_name"],
        "scenario_name": last["scenario_name"],
        "last_seen": episode.last_seen,
        "flagged_days": episode.flagged_days,
        "baseline_rate": first["baseline_rate"],
        "baseline_n": first["baseline_n"],
        "current_rate": last["current_rate"],
        "current_n": last["current_n"],
        "q_value": q_last,
        "worst_rate": min(float(r["current_rate"]) for r in inside),
        "peak_drop": max(float(r["rate_drop"]) for r in inside),
        "severity": worst["severity"],
        "state": "open" if episode.open else "resolved",
        "resolved_on": episode.resolved_on,
        "quarantined": False,
        "dashboard_url": None,
        "updated_at": stamp,
    }


def quarantined_keys_in(dialect: Dialect, cur: Any) -> set[tuple[Any, ...]]:
    """Keys whose latest loaded batch marked the scenario quarantined (its suite's `quarantine` list): their
    episodes are kept and shown, but not alerted."""
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


def latest_links_in(dialect: Dialect, cur: Any) -> dict[tuple[Any, ...], str]:
    """The dashboard URL of the latest loaded result of every key (where the drop can be looked at)."""
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


def refresh_episodes_in(
    dialect: Dialect,
    cur: Any,
    as_of: date | str,
    policy: RegressionPolicy | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Rebuild `cekura_regression_episodes` from the detections as of `as_of` (the newest window end)."""
    serialise(dialect, cur, TRENDS)
    policy = policy or RegressionPolicy()
    stamp = now or datetime.now(UTC)
    day = as_date(as_of)
    built: list[dict[str, Any]] = []
    for key, rows in _evidence(dialect, cur).items():
        flagged = [r["run_date"] for r in rows if r["run_date"] <= day]
        for episode in episodes_from_flags(
            flagged, day, persistence=policy.persistence_days, gap_days=policy.gap_days
        ):
            built.append(episode_row(key, episode, rows, stamp))
    quarantined, links = quarantined_keys_in(dialect, cur), latest_links_in(dialect, cur)
    for row in built:
        key = (row["agent_id"], row["scenario_id"], row["mode"], row["suite"])
        row["quarantined"], row["dashboard_url"] = key in quarantined, links.get(key)
    cur.execute(f"DELETE FROM {dialect.table(EPISODES)}")
    dialect.insert_rows(cur, EPISODES, built)
    return built
