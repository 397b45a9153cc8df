"""Metric trends beyond pass/fail: the daily metric table and numeric-metric regressions.

Why pandas and not SQL here (unlike the success rates): exact percentiles need every value, and SQLite has
no percentile function. Both steps read only the days they rebuild (the trailing window plus the touched
days), so memory stays bounded by the window, not the history. Percentiles are EXACT: linear interpolation
over all values of the day (the same definition as PostgreSQL's percentile_cont), no sketches.

Values per kind: numeric → `value_num` (its `unit`), rating → `rating` (0–100), binary → pass rate with
Wilson bounds (`passed`), enum → counted only. Call duration is metric 0 (`CALL_DURATION_METRIC_ID`,
seconds) from the evaluated runs' `duration_s`.

Numeric regressions (higher is worse: latency, interruptions): per agent × scenario × mode × suite × metric,
the current window's values against the baseline window's by a one-sided Mann–Whitney U test
(`stats.shift_test`, suited to skewed data), minimum samples and a minimum median shift, BH across the day's
metric tests (`stats.MetricPolicy`). Call duration is tabulated but not tested (longer is not worse).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

from cekura_livekit.stats import MetricPolicy, bh_adjust, shift_test, wilson_interval
from cekura_livekit.warehouse.dates import as_date
from cekura_livekit.warehouse.dialects import Dialect, q
from cekura_livekit.warehouse.locks import TRENDS, serialise
from cekura_livekit.warehouse.tables import (
    CALL_DURATION_METRIC_ID,
    METRIC_DAILY,
    METRIC_REGRESSIONS,
    RUN_METRICS,
    RUNS,
    UNKNOWN_ID,
)

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
    evaluated = "r.outcome IN ('passed', 'failed_evaluation')"
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


def _summary(group: pd.DataFrame) -> dict[str, Any]:
    values = group["value"].dropna().astype(float)
    decided = group["passed"].dropna().astype(bool)
    passed, evaluated = int(decided.sum()), len(decided)
    band = wilson_interval(passed, evaluated) if evaluated else None
    kind = group["metric_kind"].iloc[0]
    return {
        "metric_name": group["metric_name"].iloc[-1],
        "metric_kind": kind,
        "unit": group["unit"].dropna().iloc[-1] if group["unit"].notna().any() else None,
        "count": len(values) if len(values) else len(group),
        "mean": float(values.mean()) if len(values) else None,
        "p50": float(values.quantile(0.5)) if len(values) else None,
        "p90": float(values.quantile(0.9)) if len(values) else None,
        "p95": float(values.quantile(0.95)) if len(values) else None,
        "passed": passed if kind == "binary" else None,
        "evaluated": evaluated if kind == "binary" else None,
        "pass_rate": passed / evaluated if kind == "binary" and evaluated else None,
        "wilson_low": band[0] if kind == "binary" and band else None,
        "wilson_high": band[1] if kind == "binary" and band else None,
    }


def metric_daily_rows(values: pd.DataFrame, stamp: datetime) -> list[dict[str, Any]]:
    rows = []
    for key, group in values.groupby(_GROUP, sort=True, dropna=False):
        rows.append({**dict(zip(_GROUP, key, strict=True)), **_summary(group), "updated_at": stamp})
    return rows


def _insert(dialect: Dialect, cur: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    cols = table.column_names
    marks = ", ".join(dialect.param for _ in cols)
    values = [tuple(dialect.db_value(table.types[c], _plain(r.get(c))) for c in cols) for r in rows]
    cur.executemany(
        f"INSERT INTO {dialect.table(table)} ({', '.join(q(c) for c in cols)}) VALUES ({marks})", values
    )


def _plain(value: Any) -> Any:
    """numpy scalars and pandas NA → Python values the drivers take."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def recompute_metric_daily_in(
    dialect: Dialect, cur: Any, since: date | str, now: datetime | None = None
) -> int:
    """Rebuild `cekura_metric_daily` from `since` on (delete + insert, in the caller's transaction)."""
    serialise(dialect, cur, TRENDS)
    start = as_date(since)
    values = metric_values(dialect, cur, start, date.max)
    cur.execute(
        f"DELETE FROM {dialect.table(METRIC_DAILY)} WHERE run_date >= {dialect.date_param()}",
        (start.isoformat(),),
    )
    rows = metric_daily_rows(values, now or datetime.now(UTC))
    _insert(dialect, cur, METRIC_DAILY, rows)
    return len(rows)


def _tests(values: pd.DataFrame, current_start: date, policy: MetricPolicy) -> list[dict[str, Any]]:
    numeric = values[(values["metric_kind"] == "numeric") & (values["metric_id"] != CALL_DURATION_METRIC_ID)]
    tests = []
    for key, group in numeric.dropna(subset=["value"]).groupby(_GROUP[1:], sort=True):
        current = group[group["run_date"] >= current_start]
        test = shift_test(
            group.loc[group["run_date"] < current_start, "value"].tolist(), current["value"].tolist()
        )
        tests.append({"key": key, "group": group, "test": test})
    return tests


def detect_metric_regressions_in(
    dialect: Dialect,
    cur: Any,
    end_date: date | str,
    policy: MetricPolicy | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Test every numeric metric for the windows ending on `end_date`; replace that day's rows."""
    serialise(dialect, cur, TRENDS)
    policy = policy or MetricPolicy()
    end = as_date(end_date)
    current_start = end - timedelta(days=policy.current_days - 1)
    tests = _tests(
        metric_values(dialect, cur, current_start - timedelta(days=policy.baseline_days), end),
        current_start,
        policy,
    )
    q_values = bh_adjust([t["test"].p_value if policy.eligible(t["test"]) else None for t in tests])
    found = []
    stamp = now or datetime.now(UTC)
    for item, q_value in zip(tests, q_values, strict=True):
        test, group = item["test"], item["group"]
        if not policy.flags(test, q_value):
            continue
        found.append(
            {
                "run_date": end,
                **dict(zip(_GROUP[1:], item["key"], strict=True)),
                "metric_name": group["metric_name"].iloc[-1],
                "unit": group["unit"].dropna().iloc[-1] if group["unit"].notna().any() else None,
                "agent_name": group["agent_name"].iloc[-1],
                "scenario_name": group["scenario_name"].iloc[-1],
                "baseline_n": test.baseline_n,
                "baseline_median": test.baseline_median,
                "current_n": test.current_n,
                "current_median": test.current_median,
                "relative_shift": test.relative_shift,
                "u": test.u,
                "z": test.z,
                "p_value": test.p_value,
                "q_value": q_value,
                "detected_at": stamp,
            }
        )
    cur.execute(
        f"DELETE FROM {dialect.table(METRIC_REGRESSIONS)} WHERE run_date = {dialect.date_param()}",
        (end.isoformat(),),
    )
    _insert(dialect, cur, METRIC_REGRESSIONS, found)
    return found
