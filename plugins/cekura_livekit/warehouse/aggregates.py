"""Aggregated reads for the report: the database reduces, the report draws (issue 26: a report bounded in memory).

The weekly report used to read every latency value of its 60 days (3 values a run: millions of rows at a big
organisation's volume) and every batch-diff row into pandas, then group them. Here the same numbers come out
of SQL already reduced:

- `latency_panels_in`: the latency panels from `cekura_metric_daily`, whose exact p50 / p95 per series × day
  (linear interpolation, percentile_cont) the refresh has already computed: a panel's point is the median of
  its series' daily percentiles (the typical scenario), so the report never reads a raw value (60 days at
  3M runs were ~6M values sorted on every report); rows = panels × days;
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
from cekura_livekit.warehouse.tables import (
    BATCH_DIFFS,
    METRIC_DAILY,
    RESULTS,
    SUCCESS_RATE_DAILY,
)

#: Units drawn as latency panels: numeric metrics measured in time (call duration is metric 0, in s).
LATENCY_UNITS = ("ms", "s")
#: The key of one latency panel's daily point.
PANEL_KEY = ("metric_id", "agent_id", "mode")


_TYPICAL = (0.5,)


def _panel_values_sql(dialect: Dialect, keys: Sequence[str], column: str) -> str:
    """(keys…, value) of the time-valued numeric metrics' daily rows in [start, end]; value = `column`."""
    d = dialect.date_param()
    units = ", ".join(f"'{u}'" for u in LATENCY_UNITS)
    return (
        f"SELECT {', '.join(keys)}, {column} AS value FROM {dialect.table(METRIC_DAILY)} "
        f"WHERE run_date >= {d} AND run_date <= {d} AND metric_kind = 'numeric' AND unit IN ({units}) "
        f"AND {column} IS NOT NULL"
    )


def latency_panels_in(
    dialect: Dialect, cur: Any, start: date, end: date, *, by_day: bool = True
) -> pd.DataFrame:
    """Per latency panel (metric × agent × mode), per day (`by_day`) or over the span: p50 / p95 = the median,
    across the panel's series (scenario × suite; × day when pooled over the span), of their exact daily p50 /
    p95 in `cekura_metric_daily`; n = the values behind them; series = the daily rows; the metric's name and unit.

    Why the typical series and not the pooled percentile: a pooled percentile is not derivable from daily ones,
    and computing it means sorting every raw value of the period (6M at 3M runs, ~5 s, growing with volume);
    the daily table is per series × day, so this reads panels × series × days rows, never a value. Both
    percentiles are the warehouse's own (percentile_cont), so a panel never disagrees with the table.
    """
    keys = [*PANEL_KEY, "run_date"] if by_day else list(PANEL_KEY)
    span = (as_date(start).isoformat(), as_date(end).isoformat())
    frame = pd.DataFrame(
        [
            row[: len(keys)] + row[-1:]
            for row in dialect.value_stats(
                cur, _panel_values_sql(dialect, keys, "p50"), keys, span, list(_TYPICAL)
            )
        ],
        columns=[*keys, "p50"],
    )
    p95 = pd.DataFrame(
        [
            row[: len(keys)] + row[-1:]
            for row in dialect.value_stats(
                cur, _panel_values_sql(dialect, keys, "p95"), keys, span, list(_TYPICAL)
            )
        ],
        columns=[*keys, "p95"],
    )
    d = dialect.date_param()
    units = ", ".join(f"'{u}'" for u in LATENCY_UNITS)
    cols = ", ".join(keys)
    cur.execute(
        f"SELECT {cols}, SUM({dialect.quote('count')}), COUNT(*), MAX(metric_name), MAX(unit) "
        f"FROM {dialect.table(METRIC_DAILY)} WHERE run_date >= {d} AND run_date <= {d} "
        f"AND metric_kind = 'numeric' AND unit IN ({units}) AND p50 IS NOT NULL GROUP BY {cols}",
        span,
    )
    counts = pd.DataFrame(cur.fetchall(), columns=[*keys, "n", "series", "metric_name", "unit"])
    frame = frame.merge(p95, on=keys, how="left").merge(counts, on=keys, how="left")
    for column in ("p50", "p95"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    for column in ("metric_id", "agent_id", "n", "series"):
        frame[column] = pd.to_numeric(frame[column]).fillna(0).astype(int)
    frame["mode"] = frame["mode"].fillna("")
    if by_day:
        frame["run_date"] = pd.to_datetime(frame["run_date"].map(as_date))
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
