"""Aggregated reads for the report: the database reduces, the report draws (issue 26: a report bounded in memory).

The weekly report used to read every latency value of its 60 days (3 values a run: millions of rows at a big
organisation's volume) and every batch-diff row into pandas, then group them. Here the same numbers come out
of SQL already reduced:

- `latency_stats_in`: exact p50 / p95 (linear interpolation, the same `Dialect.value_stats` the daily metric
  table uses, so the report's percentile is the warehouse's) and counts per metric × agent × mode × day, or
  pooled over a span (the week's figures); rows = groups, not values;
- `latency_labels_in`: each panel's metric name, unit and agent name, from the small daily tables;
- `latest_batch_diffs`: the diff rows of the newest batches only (the report shows a dozen).

Reads only: nothing here writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import pandas as pd

from cekura_livekit.warehouse.dates import as_date
from cekura_livekit.warehouse.engines.base import Dialect
from cekura_livekit.warehouse.measures import evaluated_sql
from cekura_livekit.warehouse.tables import (
    BATCH_DIFFS,
    CALL_DURATION_METRIC_ID,
    METRIC_DAILY,
    RESULTS,
    RUN_METRICS,
    RUNS,
    SUCCESS_RATE_DAILY,
    UNKNOWN_ID,
)

#: Units drawn as latency panels: numeric metrics measured in time (call duration is metric 0, in s).
LATENCY_UNITS = ("ms", "s")
#: The key of one latency panel's daily point.
PANEL_KEY = ("metric_id", "agent_id", "mode")
_PERCENTILES = (0.5, 0.95)


def _latency_values_sql(dialect: Dialect) -> str:
    """Time-valued numeric metric values of evaluated runs in [start, end], plus call durations (metric 0):
    what `weekly.latency_values` keeps of `metrics.metric_values`. Params: start, end (twice)."""
    runs, metrics, d = dialect.table(RUNS), dialect.table(RUN_METRICS), dialect.date_param()
    evaluated = evaluated_sql("r.outcome")
    key = (
        f"r.run_date AS run_date, COALESCE(r.agent_id, {UNKNOWN_ID}) AS agent_id, "
        f"COALESCE(r.scenario_id, {UNKNOWN_ID}) AS scenario_id, COALESCE(r.mode, '') AS mode, "
        "COALESCE(r.suite, '') AS suite"
    )
    units = ", ".join(f"'{u}'" for u in LATENCY_UNITS)
    return f"""
SELECT {key}, m.metric_id AS metric_id, m.value_num AS value
FROM {metrics} m JOIN {runs} r ON r.run_id = m.run_id
WHERE {evaluated} AND r.run_date >= {d} AND r.run_date <= {d}
  AND m.metric_kind = 'numeric' AND m.unit IN ({units}) AND m.value_num IS NOT NULL
UNION ALL
SELECT {key}, {CALL_DURATION_METRIC_ID} AS metric_id, r.duration_s AS value
FROM {runs} r
WHERE {evaluated} AND r.duration_s IS NOT NULL AND r.run_date >= {d} AND r.run_date <= {d}
"""


def latency_stats_in(
    dialect: Dialect, cur: Any, start: date, end: date, keys: Sequence[str] = (*PANEL_KEY, "run_date")
) -> pd.DataFrame:
    """Per `keys` group of the time-valued metric values in [start, end]: n, mean, exact p50 and p95.

    `keys` are columns of the values (run_date, agent_id, scenario_id, mode, suite, metric_id); leave out
    run_date to pool the span (the week's p50/p95 are over the week's values, not an average of days).
    """
    span = (as_date(start).isoformat(), as_date(end).isoformat())
    # The adapters read (key…, value) in that order: select exactly those columns of the values.
    values = f"SELECT {', '.join(keys)}, value FROM ({_latency_values_sql(dialect)}) w"
    rows = dialect.value_stats(cur, values, list(keys), span + span, list(_PERCENTILES))
    frame = pd.DataFrame(rows, columns=[*keys, "n", "mean", "p50", "p95"])
    for column in ("mean", "p50", "p95"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    for column in ("metric_id", "agent_id", "scenario_id", "n"):
        if column in frame:
            frame[column] = frame[column].astype(int)
    if "run_date" in frame:
        frame["run_date"] = pd.to_datetime(frame["run_date"].map(as_date))
    return frame


def latency_labels_in(dialect: Dialect, cur: Any, start: date, end: date) -> pd.DataFrame:
    """Per panel (metric × agent × mode): the metric's name and unit and the agent's name, from the daily
    metric and success-rate tables (the largest name seen in the span, as the daily rebuild picks it)."""
    d = dialect.date_param()
    units = ", ".join(f"'{u}'" for u in LATENCY_UNITS)
    span = (as_date(start).isoformat(), as_date(end).isoformat())
    cur.execute(
        f"SELECT m.metric_id, m.agent_id, m.mode, MAX(m.metric_name), MAX(m.unit), MAX(a.agent_name) "
        f"FROM {dialect.table(METRIC_DAILY)} m LEFT JOIN ("
        f"  SELECT agent_id, MAX(agent_name) AS agent_name FROM {dialect.table(SUCCESS_RATE_DAILY)} "
        f"  WHERE run_date >= {d} AND run_date <= {d} GROUP BY agent_id) a ON a.agent_id = m.agent_id "
        f"WHERE m.run_date >= {d} AND m.run_date <= {d} AND m.metric_kind = 'numeric' AND m.unit IN ({units}) "
        "GROUP BY m.metric_id, m.agent_id, m.mode",
        span + span,
    )
    frame = pd.DataFrame(cur.fetchall(), columns=[*PANEL_KEY, "metric_name", "unit", "agent_name"])
    for column in ("metric_id", "agent_id"):
        frame[column] = frame[column].astype(int)
    return frame


def latest_batch_diffs(wh: Any, since: date | str, batches: int) -> pd.DataFrame:
    """`cekura_batch_diffs` of the `batches` newest batches created on/after `since`, with each batch's
    creation time, dashboard link and agent name, newest batch first (what `read.select_batch_diffs` returns,
    limited in SQL to what the report shows)."""
    from cekura_livekit.warehouse.read import _read

    dialect = wh.dialect
    diffs, results = dialect.table(BATCH_DIFFS), dialect.table(RESULTS)
    d, p = dialect.date_param(), dialect.param
    sql = f"""
SELECT d.*, r.created_at, r.dashboard_url, r.agent_name
FROM {diffs} d JOIN (
  SELECT r.result_id, r.created_at, r.dashboard_url, r.agent_name FROM {results} r
  WHERE r.created_at >= {d} AND EXISTS (SELECT 1 FROM {diffs} x WHERE x.result_id = r.result_id)
  ORDER BY r.created_at DESC, r.result_id DESC LIMIT {p}) r ON r.result_id = d.result_id
ORDER BY r.created_at DESC, d.result_id DESC, d.scenario_id"""
    types = {**BATCH_DIFFS.types, "created_at": "timestamp", "dashboard_url": "text", "agent_name": "text"}
    return _read(wh, [BATCH_DIFFS, RESULTS], sql, [as_date(since).isoformat(), int(batches)], types)


#: The daily columns the report draws from (`report.schema.normalize_daily`): the keys, names and counts.
#: The stored rates (daily, 7/28-day, Wilson) are left in the database: the report recomputes rates from
#: summed counts, so reading them only cost memory (10 of the table's 24 columns).
REPORT_DAILY_COLUMNS = (
    "run_date",
    "agent_id",
    "agent_name",
    "scenario_id",
    "scenario_name",
    "mode",
    "suite",
    "runs",
    "passed",
    "failed_evaluation",
    "infra_errors",
    "timeouts",
    "cancelled",
    "evaluated",
)
_CHUNK = 50_000


def select_report_daily(wh: Any, since: date | str) -> pd.DataFrame:
    """`cekura_success_rate_daily` rows from `since` with the columns the report uses, converted a chunk at
    a time (the rows never exist as one list of Python tuples), in `read.select_daily`'s order and types."""
    from cekura_livekit.warehouse.read import WarehouseTableMissingError, _missing, _typed

    dialect = wh.dialect
    cols = ", ".join(REPORT_DAILY_COLUMNS)
    sql = (
        f"SELECT {cols} FROM {dialect.table(SUCCESS_RATE_DAILY)} WHERE run_date >= {dialect.date_param()} "
        "ORDER BY run_date, agent_id, scenario_id, mode, suite"
    )
    names = list(REPORT_DAILY_COLUMNS)
    parts = []
    cur = wh.conn.cursor()
    try:
        cur.execute(sql, (as_date(since).isoformat(),))
        while rows := cur.fetchmany(_CHUNK):
            parts.append(_typed(names, rows, SUCCESS_RATE_DAILY.types))
    except Exception as exc:
        cur.close()
        dialect.end_read(wh.conn)
        if _missing(wh, [SUCCESS_RATE_DAILY]):  # say which table and how to fix it, as every read does
            raise WarehouseTableMissingError(wh, [SUCCESS_RATE_DAILY]) from exc
        raise
    finally:
        cur.close()
        dialect.end_read(wh.conn)
    if not parts:
        return _typed(names, [], SUCCESS_RATE_DAILY.types)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
