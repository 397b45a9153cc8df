"""Metric trends beyond pass/fail: the daily metric table (`cekura_metric_daily`).

The daily table is aggregated by the database: one hash aggregate for names, counts and binary pass counts
(`metric_counts_sql`), and the exact percentiles of the valued rows only (`value_stats`: each engine adapter's
`value_stats`, e.g. PostgreSQL's percentile_cont, or a sort and one streaming pass where the engine has none). Percentiles
are EXACT: linear interpolation over every value of the day, no sketches. The regression test below reads the
values of its two windows into pandas (a rank test needs them all; the windows are days, not the history).

Values per kind: numeric → `value_num` (its `unit`), rating → `rating` (0–100), binary → pass rate with
Wilson bounds (`passed`), enum → counted only. Call duration is metric 0 (`CALL_DURATION_METRIC_ID`,
seconds) from the evaluated runs' `duration_s`.

Numeric-metric regressions over this table: `metric_episodes.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from cekura_livekit.stats import wilson_interval
from cekura_livekit.warehouse.changed_rows import replace_changed
from cekura_livekit.warehouse.dates import as_date
from cekura_livekit.warehouse.engines.base import Dialect
from cekura_livekit.warehouse.locks import TRENDS, serialise
from cekura_livekit.warehouse.measures import evaluated_sql
from cekura_livekit.warehouse.scan import runs_on, runs_since, tune_for_aggregation
from cekura_livekit.warehouse.tables import (
    CALL_DURATION_METRIC_ID,
    METRIC_DAILY,
    RUN_METRICS,
    RUNS,
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
    `runs_from` is the predicate choosing the runs (`r.run_date >= <param>`, `scan.runs_since`, or a list
    of days, `scan.runs_on`); its params twice.
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


def value_stats(dialect: Dialect, cur: Any, runs_where: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows of (group key…, count, mean, p50, p90, p95) for every metric group with values of the runs
    matching `runs_where` (its `params`): the adapter computes them exactly (linear interpolation:
    `measures.percentile`)."""
    return dialect.value_stats(
        cur,
        _numeric_values_sql(dialect, runs_where),
        _GROUP,
        [*params, *params],
        [p for _, p in _PERCENTILES],
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


def _fresh_rows(
    dialect: Dialect, cur: Any, runs_where: str, params: list[Any], stamp: datetime
) -> list[dict[str, Any]]:
    """The metric table's rows of the runs matching `runs_where`: both aggregates, joined by group."""
    cur.execute(metric_counts_sql(dialect, runs_where), params)
    counts = cur.fetchall()
    return metric_daily_rows(counts, value_stats(dialect, cur, runs_where, params), stamp)


def recompute_metric_daily_in(
    dialect: Dialect, cur: Any, since: date | str, now: datetime | None = None
) -> int:
    """Rebuild `cekura_metric_daily` from `since` on (delete + insert, in the caller's transaction).

    The statistics are computed by the database (`metric_counts_sql`, `value_stats`), read back as one row per
    group and written with one statement: a plain SELECT may run in parallel on PostgreSQL, an INSERT …
    SELECT may not.
    """
    serialise(dialect, cur, TRENDS)
    tune_for_aggregation(dialect, cur)
    start = as_date(since).isoformat()
    runs_from = runs_since(dialect, cur, as_date(since), "r.run_date")
    rows = _fresh_rows(dialect, cur, runs_from, [start], now or datetime.now(UTC))
    cur.execute(
        f"DELETE FROM {dialect.table(METRIC_DAILY)} WHERE run_date >= {dialect.date_param()}", (start,)
    )
    dialect.insert_rows(cur, METRIC_DAILY, rows)
    # A bulk change: without fresh statistics the report's reads of this table planned nested loops over
    # ~10M row pairs (estimates of 1 row) after a full rebuild.
    dialect.refresh_statistics(cur, METRIC_DAILY, len(rows))
    return len(rows)


def refresh_metric_days_in(
    dialect: Dialect, cur: Any, days: Sequence[date | str], now: datetime | None = None
) -> int:
    """Bring `cekura_metric_daily` up to date for exactly `days` (the days loads touched), in the caller's
    transaction; returns the rows written or deleted.

    The table holds no rolling sums, so no other day can change. The touched days' metric rows are found
    through their runs (the runs' `run_date` index, then the metric table's `run_id` key), not by scanning
    every metric row ever loaded; only rows whose values changed are rewritten (`changed_rows.py`).
    """
    if not days:
        return 0
    serialise(dialect, cur, TRENDS)
    tune_for_aggregation(dialect, cur)
    on_days, params = runs_on(dialect, days, "r.run_date")
    rows = _fresh_rows(dialect, cur, on_days, params, now or datetime.now(UTC))
    stored, stored_params = runs_on(dialect, days, "run_date")
    return replace_changed(dialect, cur, METRIC_DAILY, stored, stored_params, rows)
