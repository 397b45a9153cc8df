"""Numeric-metric regressions as episodes, from the daily metric table (`metrics.py` builds it).

Numeric regressions (higher is worse: latency, interruptions): per agent × scenario × mode × suite × metric,
never pooled across metrics, `detection.metric_shift.detect_metric_shifts` on the daily p50 (a CUSUM on the
robustly standardised daily median against an anchored baseline, the false-alarm budget of the drops), as
episodes (`cekura_metric_episodes`, ids carried across late data by `detection.identity`) alerted once;
`cekura_metric_regressions` holds per window end the episodes in effect. Call duration is tabulated but
not tested (longer is not worse).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from cekura_livekit.detection.identity import StoredEpisode, carry_ids
from cekura_livekit.detection.metric_shift import MetricShiftPolicy, detect_metric_shifts_many
from cekura_livekit.warehouse.dates import as_date
from cekura_livekit.warehouse.engines.base import Dialect
from cekura_livekit.warehouse.locks import TRENDS, serialise
from cekura_livekit.warehouse.metrics import _GROUP, _float, _plain
from cekura_livekit.warehouse.scan import tune_for_aggregation
from cekura_livekit.warehouse.tables import (
    CALL_DURATION_METRIC_ID,
    METRIC_DAILY,
    METRIC_EPISODES,
    METRIC_REGRESSIONS,
    SUCCESS_RATE_DAILY,
)


def _metric_series_in(
    dialect: Dialect, cur: Any
) -> tuple[
    dict[tuple[Any, ...], tuple[list[date], list[float | None]]], dict[tuple[Any, ...], tuple[Any, ...]]
]:
    """The daily p50 of every numeric metric (call duration excepted) per series × metric, one ordered scan."""
    q = dialect.quote
    cur.execute(
        f"SELECT agent_id, scenario_id, {q('mode')}, suite, metric_id, run_date, p50, metric_name, unit "
        f"FROM {dialect.table(METRIC_DAILY)} "
        f"WHERE metric_kind = 'numeric' AND metric_id <> {CALL_DURATION_METRIC_ID} "
        f"ORDER BY agent_id, scenario_id, {q('mode')}, suite, metric_id, run_date"
    )
    series: dict[tuple[Any, ...], tuple[list[date], list[float | None]]] = {}
    labels: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for agent, scenario, mode, suite, metric, day, p50, name, unit in cur.fetchall():
        key = (int(agent), int(scenario), mode or "", suite or "", int(metric))
        days, values = series.setdefault(key, ([], []))
        days.append(as_date(day))
        values.append(_float(p50))
        labels[key] = (name, unit)
    if series:  # the series' names: one GROUP BY over the daily table (the metric table keeps none)
        cur.execute(
            f"SELECT agent_id, scenario_id, {q('mode')}, suite, MAX(agent_name), MAX(scenario_name) "
            f"FROM {dialect.table(SUCCESS_RATE_DAILY)} GROUP BY agent_id, scenario_id, {q('mode')}, suite"
        )
        names = {(int(a), int(s), m or "", u or ""): (an, sn) for a, s, m, u, an, sn in cur.fetchall()}
        labels = {k: (*v, *names.get(k[:4], (None, None))) for k, v in labels.items()}
    return series, labels


def _stored_metric_episodes(dialect: Dialect, cur: Any) -> dict[tuple[Any, ...], list[StoredEpisode]]:
    q = dialect.quote
    cur.execute(
        f"SELECT agent_id, scenario_id, {q('mode')}, suite, metric_id, episode_id, started_on, resolved_on "
        f"FROM {dialect.table(METRIC_EPISODES)}"
    )
    stored: dict[tuple[Any, ...], list[StoredEpisode]] = {}
    for agent, scenario, mode, suite, metric, episode_id, started, resolved in cur.fetchall():
        key = (int(agent), int(scenario), mode or "", suite or "", int(metric))
        stored.setdefault(key, []).append(
            StoredEpisode(str(episode_id), as_date(started), None if resolved is None else as_date(resolved))
        )
    return stored


def metric_episode_rows(
    series: dict[tuple[Any, ...], tuple[list[date], list[float | None]]],
    labels: dict[tuple[Any, ...], tuple[Any, ...]],
    stored: dict[tuple[Any, ...], list[StoredEpisode]],
    stamp: datetime,
    policy: MetricShiftPolicy | None = None,
) -> list[dict[str, Any]]:
    """`cekura_metric_episodes` rows: `detect_metric_shifts_many` over every series × metric (each its own, never
    pooled), ids carried."""
    rows: list[dict[str, Any]] = []
    found = detect_metric_shifts_many(series, policy)  # every series at once, the scalar detector's episodes
    for key in sorted(series):
        episodes = found[key]
        if not episodes:
            continue
        spans = [(e.started_on, e.flagged_on, e.resolved_on) for e in episodes]
        ids = carry_ids("/".join(map(str, key[:4])) + f"/metric {key[4]}", spans, stored.get(key, []))
        name, unit, agent_name, scenario_name = labels[key]
        for episode_id, e in zip(ids, episodes, strict=True):
            rows.append(
                {
                    **dict(zip(_GROUP[1:], key, strict=True)),
                    "started_on": e.started_on,
                    "episode_id": episode_id,
                    "metric_name": name,
                    "unit": unit,
                    "agent_name": agent_name,
                    "scenario_name": scenario_name,
                    "flagged_on": e.flagged_on,
                    "resolved_on": e.resolved_on,
                    "baseline_median": e.baseline_median,
                    "episode_median": e.episode_median,
                    "relative_shift": e.relative_shift,
                    "state": "open" if e.open else "resolved",
                    "updated_at": stamp,
                }
            )
    return rows


def _regression_row(e: dict[str, Any], day: date, stamp: datetime) -> dict[str, Any]:
    """A `cekura_metric_regressions` row: the episode `e` in effect on `day` (its evidence as of now)."""
    return {
        "run_date": day,
        **{c: e[c] for c in _GROUP[1:]},
        "metric_name": e["metric_name"],
        "unit": e["unit"],
        "agent_name": e["agent_name"],
        "scenario_name": e["scenario_name"],
        "baseline_n": None,
        "baseline_median": e["baseline_median"],
        "current_n": None,
        "current_median": e["episode_median"],
        "relative_shift": e["relative_shift"],
        "u": None,
        "z": None,
        "p_value": None,
        "q_value": None,
        "detected_at": stamp,
        "episode_id": e["episode_id"],
        "started_on": e["started_on"],
    }


def refresh_metric_episodes_in(
    dialect: Dialect,
    cur: Any,
    days: Iterable[date | str] = (),
    policy: MetricShiftPolicy | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Recompute every metric episode from the daily medians, replace `cekura_metric_episodes`, and replace
    the `cekura_metric_regressions` rows of each of `days` (the episodes in effect and flagged that day)."""
    serialise(dialect, cur, TRENDS)
    # In-memory sorts and no JIT (the DAG's detect task is a transaction of its own, without the refresh's).
    tune_for_aggregation(dialect, cur)
    stamp = now or datetime.now(UTC)
    series, labels = _metric_series_in(dialect, cur)
    rows = metric_episode_rows(series, labels, _stored_metric_episodes(dialect, cur), stamp, policy)
    cur.execute(f"DELETE FROM {dialect.table(METRIC_EPISODES)}")
    dialect.insert_rows(
        cur, METRIC_EPISODES, [{c: _plain(r[c]) for c in METRIC_EPISODES.column_names} for r in rows]
    )
    target = dialect.table(METRIC_REGRESSIONS)
    for day in sorted({as_date(d) for d in days}):
        cur.execute(f"DELETE FROM {target} WHERE run_date = {dialect.date_param()}", (day.isoformat(),))
        in_effect = [
            _regression_row(e, day, stamp)
            for e in rows
            if e["flagged_on"] <= day and (e["resolved_on"] is None or day < e["resolved_on"])
        ]
        dialect.insert_rows(cur, METRIC_REGRESSIONS, in_effect)
    return rows
