"""Metric trends beyond pass/fail: the daily metric table and numeric-metric regressions.

The daily table is aggregated by the database: one hash aggregate for names, counts and binary pass counts
(`metric_counts_sql`), and the exact percentiles of the valued rows only (`value_stats`: each engine adapter's
`value_stats`, e.g. PostgreSQL's percentile_cont, or a sort and one streaming pass where the engine has none). Percentiles
are EXACT: linear interpolation over every value of the day, no sketches. The regression test below reads the
values of its two windows into pandas (a rank test needs them all; the windows are days, not the history).

Values per kind: numeric → `value_num` (its `unit`), rating → `rating` (0–100), binary → pass rate with
Wilson bounds (`passed`), enum → counted only. Call duration is metric 0 (`CALL_DURATION_METRIC_ID`,
seconds) from the evaluated runs' `duration_s`.

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

import pandas as pd

from cekura_livekit.detection.identity import StoredEpisode, carry_ids
from cekura_livekit.detection.metric_shift import MetricShiftPolicy, detect_metric_shifts
from cekura_livekit.stats import wilson_interval
from cekura_livekit.warehouse.dates import as_date
from cekura_livekit.warehouse.engines.base import Dialect
from cekura_livekit.warehouse.locks import TRENDS, serialise
from cekura_livekit.warehouse.measures import evaluated_sql
from cekura_livekit.warehouse.scan import runs_since, tune_for_aggregation
from cekura_livekit.warehouse.tables import (
    CALL_DURATION_METRIC_ID,
    METRIC_DAILY,
    METRIC_EPISODES,
    METRIC_REGRESSIONS,
    RUN_METRICS,
    RUNS,
    SUCCESS_RATE_DAILY,
    UNKNOWN_ID,
)

_EVALUATED = evaluated_sql("r.outcome")
_GROUP = ["run_date", "agent_id", "scenario_id", "mode", "suite", "metric_id"]
_VALUE_COLS = [
    "run_date",
    "agent_id",
    "scenario_id",
    "mode",
    "suite",
    "agent_name",
    "scenario_name",
    "metric_id",
    "metric_name",
    "metric_kind",
    "unit",
    "value",
    "passed",
]


def _values_sql(dialect: Dialect) -> str:
    """Every metric value of evaluated runs from a day on, plus call duration as metric 0."""
    runs, metrics, d = dialect.table(RUNS), dialect.table(RUN_METRICS), dialect.date_param()
    grain = (
        f"r.run_date, COALESCE(r.agent_id, {UNKNOWN_ID}), COALESCE(r.scenario_id, {UNKNOWN_ID}), "
        "COALESCE(r.mode, ''), COALESCE(r.suite, ''), r.agent_name, r.scenario_name"
    )
    evaluated = _EVALUATED
    value = "CASE WHEN m.metric_kind = 'rating' THEN m.rating ELSE m.value_num END"
    return f"""
SELECT {grain}, m.metric_id, m.metric_name, m.metric_kind, m.unit, {value}, m.passed
FROM {metrics} m JOIN {runs} r ON r.run_id = m.run_id
WHERE {evaluated} AND r.run_date >= {d} AND r.run_date <= {d}
UNION ALL
SELECT {grain}, {CALL_DURATION_METRIC_ID}, 'call duration', 'numeric', 's', r.duration_s, NULL
FROM {runs} r
WHERE {evaluated} AND r.duration_s IS NOT NULL AND r.run_date >= {d} AND r.run_date <= {d}
"""


def metric_values(dialect: Dialect, cur: Any, start: date, end: date) -> pd.DataFrame:
    """The metric values of runs with `start` <= run_date <= `end`, one row per run × metric."""
    span = (start.isoformat(), end.isoformat())
    cur.execute(_values_sql(dialect), span + span)
    frame = pd.DataFrame(cur.fetchall(), columns=_VALUE_COLS)
    frame["run_date"] = frame["run_date"].map(as_date)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    return frame


def _grain(alias: str) -> str:
    """The day × agent × scenario × mode × suite key of a run (unknowns as -1 / ''), as named columns."""
    return (
        f"{alias}.run_date AS run_date, COALESCE({alias}.agent_id, {UNKNOWN_ID}) AS agent_id, "
        f"COALESCE({alias}.scenario_id, {UNKNOWN_ID}) AS scenario_id, COALESCE({alias}.mode, '') AS mode, "
        f"COALESCE({alias}.suite, '') AS suite"
    )


_KEY = ", ".join(_GROUP)


def _numeric_values_sql(dialect: Dialect, runs_from: str) -> str:
    """The values percentiles are taken over: numeric and rating metrics, and call durations (metric 0).

    Binary and enum metrics carry no value, so they never enter the sort (they are most metric rows).
    `runs_from` is the `r.run_date >= <param>` predicate (`scan.runs_since`); params: since (twice).
    """
    runs, metrics = dialect.table(RUNS), dialect.table(RUN_METRICS)
    value = "CASE WHEN m.metric_kind = 'rating' THEN m.rating ELSE m.value_num END"
    return f"""
SELECT {_grain("r")}, m.metric_id AS metric_id, {value} AS value
FROM {metrics} m JOIN {runs} r ON r.run_id = m.run_id
WHERE {_EVALUATED} AND {runs_from} AND m.metric_kind IN ('numeric', 'rating') AND {value} IS NOT NULL
UNION ALL
SELECT {_grain("r")}, {CALL_DURATION_METRIC_ID} AS metric_id, r.duration_s AS value
FROM {runs} r
WHERE {_EVALUATED} AND r.duration_s IS NOT NULL AND {runs_from}
"""


_PERCENTILES = (("p50", 0.5), ("p90", 0.9), ("p95", 0.95))


def value_stats(dialect: Dialect, cur: Any, since: str, runs_from: str) -> list[tuple[Any, ...]]:
    """Rows of (group key…, count, mean, p50, p90, p95) for every metric group with values: the adapter
    computes them exactly (linear interpolation: `measures.percentile`)."""
    return dialect.value_stats(
        cur, _numeric_values_sql(dialect, runs_from), _GROUP, (since, since), [p for _, p in _PERCENTILES]
    )


def metric_counts_sql(dialect: Dialect, runs_from: str) -> str:
    """Per metric group of the runs' own metrics: name, kind, unit, rows and binary pass counts — one hash
    aggregate, no sort (params: since). Names are the largest seen that day, so a rebuild is deterministic."""
    runs, metrics = dialect.table(RUNS), dialect.table(RUN_METRICS)
    return f"""
SELECT {_KEY}, MAX(metric_name), MAX(metric_kind), MAX(unit), COUNT(*),
       SUM(CASE WHEN passed THEN 1 ELSE 0 END), COUNT(passed)
FROM (
    SELECT {_grain("r")}, m.metric_id AS metric_id, m.metric_name AS metric_name,
           m.metric_kind AS metric_kind, m.unit AS unit, m.passed AS passed
    FROM {metrics} m JOIN {runs} r ON r.run_id = m.run_id
    WHERE {_EVALUATED} AND {runs_from}
) v
GROUP BY {_KEY}
"""


_DURATION = ("call duration", "numeric", "s", 0, 0, 0)


def metric_daily_rows(
    counts: list[tuple[Any, ...]], stats: list[tuple[Any, ...]], stamp: datetime
) -> list[dict[str, Any]]:
    """Table rows from the two aggregates (keyed by group): `count` is the number of values, or of rows
    for metrics without values; pass rate and Wilson bounds (the `stats` reference) for binary metrics."""
    described = {tuple(row[:6]): row[6:] for row in counts}
    valued = {tuple(row[:6]): row[6:] for row in stats}
    out = []
    for key in sorted(described.keys() | valued.keys()):
        name, kind, unit, rows, passed, decided = described.get(key, _DURATION)
        n, mean, p50, p90, p95 = valued.get(key, (0, None, None, None, None))
        binary = kind == "binary"
        band = wilson_interval(int(passed), int(decided)) if binary and decided else None
        out.append(
            {
                **dict(zip(_GROUP, key, strict=True)),
                "metric_name": name,
                "metric_kind": kind,
                "unit": unit,
                "count": int(n) or int(rows),
                "mean": _float(mean),
                "p50": _float(p50),
                "p90": _float(p90),
                "p95": _float(p95),
                "passed": int(passed) if binary else None,
                "evaluated": int(decided) if binary else None,
                "pass_rate": int(passed) / int(decided) if binary and decided else None,
                "wilson_low": band[0] if band else None,
                "wilson_high": band[1] if band else None,
                "updated_at": stamp,
            }
        )
    return out


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _plain(value: Any) -> Any:
    """numpy scalars and pandas NA → Python values the drivers take."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def recompute_metric_daily_in(
    dialect: Dialect, cur: Any, since: date | str, now: datetime | None = None
) -> int:
    """Rebuild `cekura_metric_daily` from `since` on (delete + insert, in the caller's transaction).

    The statistics are computed by the database (`metric_counts_sql`, `value_stats`), read back as one row per group and
    written with one statement: a plain SELECT may run in parallel on PostgreSQL, an INSERT … SELECT may not.
    """
    serialise(dialect, cur, TRENDS)
    tune_for_aggregation(dialect, cur)
    start = as_date(since).isoformat()
    runs_from = runs_since(dialect, cur, as_date(since), "r.run_date")
    cur.execute(metric_counts_sql(dialect, runs_from), (start,))
    counts = cur.fetchall()
    rows = metric_daily_rows(counts, value_stats(dialect, cur, start, runs_from), now or datetime.now(UTC))
    cur.execute(
        f"DELETE FROM {dialect.table(METRIC_DAILY)} WHERE run_date >= {dialect.date_param()}", (start,)
    )
    dialect.insert_rows(cur, METRIC_DAILY, rows)
    return len(rows)


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
    """`cekura_metric_episodes` rows: `detect_metric_shifts` per series × metric (never pooled), ids carried."""
    rows: list[dict[str, Any]] = []
    for key in sorted(series):
        episodes = detect_metric_shifts(*series[key], policy)
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
