"""Daily success rates and regressions, computed IN SQL on the warehouse.

Why SQL: history grows without bound; pulling it into pandas on every load would not. The daily table is
rebuilt for the days a load touched plus a trailing window (late evaluations change old days), and every
rolling rate is a ratio of SUMMED counts over calendar days (a RANGE frame on a day number), never an
average of daily rates.

Rules (documented once, used everywhere):
- success_rate = passed / (passed + failed_evaluation); infra errors, timeouts and cancellations are not
  evaluation failures and are counted apart. `evaluated` = passed + failed_evaluation; a day with
  evaluated = 0 has NULL rate and interval.
- wilson_low / wilson_high: Wilson 95% score interval of passed / evaluated (computed in SQL).
- Every rate and bound above is built by `measures` (one SQL statement per definition, shared with the
  views and the reads).
- rate_7d / rate_28d: sum(passed) / sum(evaluated) over the 7 / 28 calendar days ending on run_date.
- Runs without an agent or scenario are grouped under id -1 (key columns cannot be NULL).
- Regressions: success-rate drop episodes from the daily counts (`episodes.py`, `detection.drops`: an anchored
  CUSUM per series, thresholds per series), recomputed from the whole daily history on every pass, so a
  drop that late data disproves disappears; `cekura_regressions` holds, per window end a load may have
  changed, the series with an episode in effect (one meaning of "regression": an episode).

Both steps hold the schema's trends lock (`locks.py`) for the rest of their transaction: concurrent
recomputes run one after the other, each seeing the runs the previous ones committed.
Who runs them: the `cekura_trends` DAG (`pipelines.refresh_trends` / `detect_and_alert`) after each load;
`writer.load_extract(recompute_trends=True)` for library users who load without the DAGs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from cekura_livekit.detection.drops import DropPolicy
from cekura_livekit.warehouse.changed_rows import replace_changed
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.dates import as_date
from cekura_livekit.warehouse.ddl import ensure_tables
from cekura_livekit.warehouse.engines.base import Dialect
from cekura_livekit.warehouse.episodes import refresh_episodes_in, regression_rows
from cekura_livekit.warehouse.locks import TRENDS, serialise
from cekura_livekit.warehouse.measures import evaluated_sql, success_rate_sql, wilson_sql
from cekura_livekit.warehouse.scan import runs_on, runs_since, tune_for_aggregation
from cekura_livekit.warehouse.tables import (
    DEFAULT_SCHEMA,
    RUNS,
    SUCCESS_RATE_DAILY,
    UNKNOWN_ID,
    Table,
)

DEFAULT_TRAILING_DAYS = 28
_LONGEST_WINDOW = 28


def _day_counts_sql(dialect: Dialect, runs_where: str) -> str:
    """One row per day × grain of the runs matching `runs_where`: names, counts and the day number."""

    def count(outcome: str) -> str:
        return f"SUM(CASE WHEN outcome = '{outcome}' THEN 1 ELSE 0 END)"

    grain = f"COALESCE(agent_id, {UNKNOWN_ID}), COALESCE(scenario_id, {UNKNOWN_ID}), COALESCE(mode, ''), COALESCE(suite, '')"
    return f"""
        SELECT run_date,
               COALESCE(agent_id, {UNKNOWN_ID}) AS agent_id,
               COALESCE(scenario_id, {UNKNOWN_ID}) AS scenario_id,
               COALESCE(mode, '') AS mode,
               COALESCE(suite, '') AS suite,
               MAX(agent_name) AS agent_name,
               MAX(scenario_name) AS scenario_name,
               COUNT(*) AS runs,
               {count("passed")} AS passed,
               {count("failed_evaluation")} AS failed_evaluation,
               {count("infra_error")} AS infra_errors,
               {count("timeout")} AS timeouts,
               {count("cancelled")} AS cancelled,
               SUM(CASE WHEN {evaluated_sql("outcome")} THEN 1 ELSE 0 END) AS evaluated,
               {dialect.day_number("run_date")} AS day_no
        FROM {dialect.table(RUNS)}
        WHERE {runs_where}
        GROUP BY run_date, {grain}"""


def daily_select_sql(dialect: Dialect, runs_where: str, stored_where: str, out_where: str) -> str:
    """SELECT of complete daily rows in the table's column order (params: the stamp, then those of
    `runs_where`, `stored_where`, `out_where`): the days matching `runs_where` are counted from the runs,
    the daily rows matching `stored_where` (other days) lend their stored counts to the rolling sums, and the
    rows matching `out_where` come out. Every rate is computed here, so a partial refresh and a full rebuild
    write the same values."""
    target = dialect.table(SUCCESS_RATE_DAILY)
    to_double = dialect.as_double
    counts = "runs, passed, failed_evaluation, infra_errors, timeouts, cancelled, evaluated"

    def rolling(col: str, days: int) -> str:
        return (
            f"SUM({col}) OVER (PARTITION BY agent_id, scenario_id, mode, suite ORDER BY day_no "
            f"RANGE BETWEEN {days - 1} PRECEDING AND CURRENT ROW)"
        )

    return f"""
SELECT run_date, agent_id, scenario_id, mode, suite, agent_name, scenario_name, {counts},
       {success_rate_sql("passed", "evaluated", to_double=to_double)},
       {wilson_sql("low", "passed", "evaluated", to_double=to_double)},
       {wilson_sql("high", "passed", "evaluated", to_double=to_double)},
       passed_7d, evaluated_7d, {success_rate_sql("passed_7d", "evaluated_7d", to_double=to_double)},
       passed_28d, evaluated_28d, {success_rate_sql("passed_28d", "evaluated_28d", to_double=to_double)},
       {dialect.param}
FROM (
    SELECT g.*,
           {rolling("passed", 7)} AS passed_7d, {rolling("evaluated", 7)} AS evaluated_7d,
           {rolling("passed", 28)} AS passed_28d, {rolling("evaluated", 28)} AS evaluated_28d
    FROM ({_day_counts_sql(dialect, runs_where)}
        UNION ALL
        SELECT run_date, agent_id, scenario_id, mode, suite, agent_name, scenario_name, {counts},
               {dialect.day_number("run_date")} AS day_no
        FROM {target}
        WHERE {stored_where}
    ) g
) w
WHERE {out_where}
"""


def recompute_daily_sql(dialect: Dialect, runs_from: str | None = None) -> str:
    """INSERT … SELECT … rebuilding daily rows from `since` on (params: now, since, lookback, since, since);
    `runs_from` is the runs' `run_date >= <param>` predicate (default plain; see `scan.runs_since`).

    Only the days being rebuilt are aggregated from the runs; the rolling windows reach back into the days
    before `since` through their daily rows, which this rebuild keeps (their counts are what the runs gave
    when those days were last rebuilt). So a one-day refresh reads one day of runs, not 28.
    """
    d = dialect.date_param()
    cols = ", ".join(dialect.quote(c) for c in SUCCESS_RATE_DAILY.column_names)
    select = daily_select_sql(
        dialect, runs_from or f"run_date >= {d}", f"run_date >= {d} AND run_date < {d}", f"run_date >= {d}"
    )
    return f"INSERT INTO {dialect.table(SUCCESS_RATE_DAILY)} ({cols}){select}"


def recompute_daily_in(dialect: Dialect, cur: Any, since: date | str, now: datetime | None = None) -> int:
    """Rebuild daily rows (success rates, and the metric table: `metrics.py`) with run_date >= since inside
    the caller's transaction; returns the success-rate rows written."""
    written = recompute_success_daily_in(dialect, cur, since, now)
    from cekura_livekit.warehouse.metrics import recompute_metric_daily_in  # pandas: only when it runs

    recompute_metric_daily_in(dialect, cur, since, now)
    return written


def recompute_success_daily_in(
    dialect: Dialect, cur: Any, since: date | str, now: datetime | None = None
) -> int:
    """Rebuild the success-rate rows with run_date >= since (one DELETE and one INSERT … SELECT)."""
    serialise(dialect, cur, TRENDS)
    tune_for_aggregation(dialect, cur)
    since_d = as_date(since)
    lookback = since_d - timedelta(days=_LONGEST_WINDOW - 1)
    stamp = dialect.db_value("timestamp", now or datetime.now(UTC))
    # Rebuilt, not upserted: a day whose runs moved to another grain (or were reloaded) keeps no stale row.
    cur.execute(
        f"DELETE FROM {dialect.table(SUCCESS_RATE_DAILY)} WHERE run_date >= {dialect.date_param()}",
        (since_d.isoformat(),),
    )
    since_iso = since_d.isoformat()
    runs_from = runs_since(dialect, cur, since_d)
    cur.execute(
        recompute_daily_sql(dialect, runs_from),
        (stamp, since_iso, lookback.isoformat(), since_iso, since_iso),
    )
    written = max(int(cur.rowcount or 0), 0)
    # A range rebuild is a bulk change: the detection and report reads plan on these statistics next.
    dialect.refresh_statistics(cur, SUCCESS_RATE_DAILY, written)
    return written


def refresh_days_in(
    dialect: Dialect, cur: Any, days: Iterable[date | str], now: datetime | None = None
) -> int:
    """Bring both daily tables up to date after loads that touched exactly `days`, in the caller's
    transaction; returns the success-rate rows written or deleted.

    What a night changes, and only that: the touched days are counted from their runs; a later day's row
    changes only through its 7/28-day sums, which its series' daily rows give (no runs are read for it); the
    metric table holds no rolling sums, so only the touched days are recomputed (`metrics.py`). Rows whose
    values are unchanged are not rewritten (`changed_rows.py`). Exact: the rows equal a full rebuild's
    whenever the stored rows of the untouched days do (what every partial rebuild assumes).
    """
    from cekura_livekit.warehouse.metrics import refresh_metric_days_in  # pandas: only when it runs

    chosen = sorted({as_date(d) for d in days})
    if not chosen:
        return 0
    written = refresh_success_days_in(dialect, cur, chosen, now)
    refresh_metric_days_in(dialect, cur, chosen, now)
    return written


def _counts_by_series(rows: Iterable[tuple[Any, ...]]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """(day, agent, scenario, mode, suite) → (names and counts…), comparable whatever the driver returned."""
    return {(as_date(r[0]).isoformat(), *r[1:5]): tuple(_number(v) for v in r[5:14]) for r in rows}


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, int | float | Decimal) and not isinstance(value, bool) else value


def refresh_success_days_in(dialect: Dialect, cur: Any, days: list[date], now: datetime | None = None) -> int:
    """The success-rate part of `refresh_days_in` (`days` sorted, not empty).

    1. Which series the loads changed: the touched days' counts from the runs against their stored rows.
    2. For the agents of those series only, every row from the first touched day to 27 days after the last
       (the rows whose 7/28-day sums can move), by `daily_select_sql`: touched days from the runs, the
       others from their stored counts.
    3. Only the rows that differ are written (`changed_rows.replace_changed`).
    """
    serialise(dialect, cur, TRENDS)
    tune_for_aggregation(dialect, cur)
    d = dialect.date_param()
    on_days, isos = runs_on(dialect, days)
    counts = "agent_name, scenario_name, runs, passed, failed_evaluation, infra_errors, timeouts, cancelled, evaluated"
    cur.execute(f"SELECT * FROM ({_day_counts_sql(dialect, on_days)}) c", isos)
    fresh = _counts_by_series(row[:14] for row in cur.fetchall())
    cur.execute(
        f"SELECT run_date, agent_id, scenario_id, mode, suite, {counts} "
        f"FROM {dialect.table(SUCCESS_RATE_DAILY)} WHERE {on_days}",
        isos,
    )
    stored = _counts_by_series(cur.fetchall())
    agents = sorted(
        {int(k[1]) for k in fresh.keys() ^ stored.keys()}
        | {int(k[1]) for k in fresh.keys() & stored.keys() if fresh[k] != stored[k]}
    )
    if not agents:
        return 0
    of_agents = f"IN ({', '.join(str(a) for a in agents)})"  # ints from the database: safe to inline
    first, last = days[0], days[-1] + timedelta(days=_LONGEST_WINDOW - 1)
    lookback = first - timedelta(days=_LONGEST_WINDOW - 1)
    span = f"run_date >= {d} AND run_date <= {d}"
    sql = daily_select_sql(
        dialect,
        f"{on_days} AND COALESCE(agent_id, {UNKNOWN_ID}) {of_agents}",
        f"{span} AND NOT ({on_days}) AND agent_id {of_agents}",
        f"{span} AND agent_id {of_agents}",
    )
    stamp = dialect.db_value("timestamp", now or datetime.now(UTC))
    bounds = [first.isoformat(), last.isoformat()]
    cur.execute(sql, [stamp, *isos, lookback.isoformat(), last.isoformat(), *isos, *bounds])
    names = SUCCESS_RATE_DAILY.column_names
    rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    return replace_changed(dialect, cur, SUCCESS_RATE_DAILY, f"{span} AND agent_id {of_agents}", bounds, rows)


def detect_windows_in(
    dialect: Dialect,
    cur: Any,
    ends: Iterable[date | str],
    policy: Any = None,
    now: datetime | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The detection pass over the whole daily history, in the caller's transaction: drop episodes (and the
    `cekura_regressions` rows of each day in `ends`), metric episodes, flakiness and data-quality alerts as of
    the newest day; returns (the regression rows of `ends`, oldest first; every drop episode).

    Every detector reads each series once and runs one vectorised (or one per-series) pass: the cost is linear
    in the history, with no per-series SQL. `policy`: a `detection.drops.DropPolicy` (anything else, e.g. the
    `stats.RegressionPolicy` older callers pass, is ignored: the drop detector's knobs are its own).
    """
    from cekura_livekit.warehouse.flaky import refresh_flaky_in  # pandas: only when it runs
    from cekura_livekit.warehouse.metric_episodes import refresh_metric_episodes_in
    from cekura_livekit.warehouse.quality import refresh_quality_in

    serialise(dialect, cur, TRENDS)
    stamp = now or datetime.now(UTC)
    days = sorted({as_date(e) for e in ends})
    drop_policy = policy if isinstance(policy, DropPolicy) else None
    episodes = refresh_episodes_in(dialect, cur, days, drop_policy, stamp)
    found = [row for day in days for row in regression_rows(episodes, day, stamp)]
    as_of = latest_run_date_in(dialect, cur, SUCCESS_RATE_DAILY)
    if as_of is None:
        return found, episodes
    refresh_metric_episodes_in(dialect, cur, days, now=stamp)
    refresh_flaky_in(dialect, cur, as_of, now=stamp)  # after the episodes: a regressed scenario is not flaky
    refresh_quality_in(dialect, cur, as_of, now=stamp)
    return found, episodes


def latest_run_date_in(dialect: Dialect, cur: Any, table: Table = RUNS) -> date | None:
    """The newest run date in `table` (default: the runs, which the daily table is rebuilt from)."""
    cur.execute(f"SELECT MAX(run_date) FROM {dialect.table(table)}")
    row = cur.fetchone()
    return as_date(row[0]) if row and row[0] is not None else None


def window_ends(touched: Iterable[date | str], latest: date | None, trailing_days: int) -> list[date]:
    """Regression window ends a load may have changed: from the earliest touched day to the latest day
    in the warehouse, limited to the last `trailing_days` days before that latest day."""
    days = sorted({as_date(d) for d in touched})
    if not days or latest is None:
        return []
    start = max(days[0], latest - timedelta(days=max(trailing_days, 1) - 1))
    return [start + timedelta(days=i) for i in range((latest - start).days + 1)]


#: More touched days than this (a backfill) are rebuilt as one range from the earliest of them: reading and
#: comparing every stored row of a long span costs more than rewriting it.
MAX_INCREMENTAL_DAYS = 31


@dataclass
class TrendPlan:
    """What one trends pass rebuilds: the daily rows of the touched `days` and the rolling sums they move
    (`refresh_plan_in`), or every row from `since` on when `days` is None; regressions for each of
    `window_ends`. `since` stays the range a plain rebuild would take (``earliest touched day -
    trailing_days``), for callers that rebuild the range (`recompute_daily_in`): exact too, only dearer."""

    latest: date | None
    since: date | None
    window_ends: list[date] = field(default_factory=list)
    days: list[date] | None = None


def plan_refresh(
    dialect: Dialect,
    cur: Any,
    touched: Iterable[date | str] | None,
    trailing_days: int = DEFAULT_TRAILING_DAYS,
) -> TrendPlan:
    """Days to rebuild after loads that touched `touched` (None: the whole trailing window of the latest day).

    With touched days, exactly those days are recounted from their runs (`refresh_days_in`): every load
    announces the run dates it wrote (late batches, late evaluations brought by the stale refresh, a sync),
    so no other day's counts can have changed; later days' 7/28-day sums follow from the daily rows. Until
    issue 26 the plan rebuilt every row from ``earliest touched day - trailing_days`` on: 29 days of runs and
    metric values re-aggregated and rewritten each night for one new day. `trailing_days` still bounds the
    regression window ends a load may move. Without touched days (a manual run, `dag.test()`), nothing says
    what changed: every row from ``latest - trailing_days`` on is rebuilt from the runs, which also repairs
    rows a failed pass left behind.
    """
    if not isinstance(trailing_days, int) or isinstance(trailing_days, bool) or trailing_days < 0:
        raise ValueError(f"trailing_days={trailing_days!r} must be a whole number of days >= 0, e.g. 28")
    serialise(dialect, cur, TRENDS)
    latest = latest_run_date_in(dialect, cur)
    days = sorted({as_date(d) for d in touched or ()})
    if latest is None:
        return TrendPlan(None, None)
    if not days:
        since = latest - timedelta(days=trailing_days)
        return TrendPlan(latest, since, window_ends([since], latest, trailing_days))
    since = days[0] - timedelta(days=trailing_days)
    ends = window_ends(days, latest, trailing_days)
    return TrendPlan(latest, since, ends, days if len(days) <= MAX_INCREMENTAL_DAYS else None)


def refresh_plan_in(dialect: Dialect, cur: Any, plan: TrendPlan, now: datetime | None = None) -> int:
    """Carry out `plan` in the caller's transaction: the touched days (`refresh_days_in`), or every row from
    `plan.since` on (`recompute_daily_in`: a manual run, or a backfill of more than `MAX_INCREMENTAL_DAYS`
    days); returns the success-rate rows written."""
    if plan.since is None:
        return 0
    if plan.days is not None:
        return refresh_days_in(dialect, cur, plan.days, now)
    return recompute_daily_in(dialect, cur, plan.since, now)


def recompute_daily(
    warehouse_conn_id: str, since: date | str, schema: str = DEFAULT_SCHEMA, now: datetime | None = None
) -> int:
    """Rebuild `cekura_success_rate_daily` from `since` on, in its own transaction."""
    with open_warehouse(warehouse_conn_id, schema) as wh, wh.transaction() as cur:
        ensure_tables(wh.dialect, cur)
        return recompute_daily_in(wh.dialect, cur, since, now)


def detect_regressions(
    warehouse_conn_id: str,
    end_date: date | str | None = None,
    schema: str = DEFAULT_SCHEMA,
    policy: DropPolicy | None = None,
) -> list[dict[str, Any]]:
    """Run the detection pass and return the `cekura_regressions` rows of `end_date` (default: the latest day
    in the warehouse): the drops in effect on that day."""
    with open_warehouse(warehouse_conn_id, schema) as wh, wh.transaction() as cur:
        ensure_tables(wh.dialect, cur)
        end = end_date if end_date is not None else latest_run_date_in(wh.dialect, cur, SUCCESS_RATE_DAILY)
        if end is None:
            return []
        return detect_windows_in(wh.dialect, cur, [end], policy)[0]
