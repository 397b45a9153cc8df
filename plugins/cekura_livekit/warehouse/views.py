"""Views for the questions analysts ask first, and table/column comments on PostgreSQL.

Every view is relative to the newest `run_date` in the warehouse (not the wall clock), so a warehouse loaded
with history answers the same way tomorrow; `run_date` is a UTC calendar day. Views read summed counts, never
averages of rates. Created (or replaced) by `ddl.ensure_tables` under the DDL lock; names are
`cekura_v_<name>` on PostgreSQL (in the schema) and `<schema>_v_<name>` on SQLite.

| view | question |
|---|---|
| `v_success_rate_28d` | success rate per agent × scenario × mode × suite over the last 28 days (summed counts, Wilson-free) |
| `v_regressions_this_week` | regression episodes seen in the last 7 days (open or resolved) |
| `v_flaky_scenarios` | scenarios scored flaky over the flakiness window, worst first |
| `v_call_duration_p95` | p95 call duration per agent × mode × day (seconds, evaluated runs; linear interpolation) |
| `v_infra_error_rate_daily` | per day × agent × mode: `infra_error_rate` and `not_evaluated_rate` |
| `v_success_rate_by_agent_version` | per agent × agent version × mode × day: runs, passed, failed, rate, Wilson bounds |
| `v_regression_episode_versions` | every regression episode with the agent versions before and after its start |

Every rate and percentile is built by `measures` (the one SQL statement of each definition): the view's p95
is the same linear interpolation as `cekura_metric_daily.p95`, its success rate the daily table's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cekura_livekit.warehouse.engines.base import Dialect
from cekura_livekit.warehouse.flaky import flaky_scenarios_sql
from cekura_livekit.warehouse.measures import (
    evaluated_sql,
    infra_error_rate_sql,
    not_evaluated_rate_sql,
    ranked_percentile_sql,
    success_rate_sql,
    wilson_sql,
)
from cekura_livekit.warehouse.tables import (
    ALL_TABLES,
    EPISODES,
    REGRESSIONS,
    RUNS,
    SUCCESS_RATE_DAILY,
    Table,
    column_comments,
)


def _name(view: str) -> Table:
    return Table(f"v_{view}", (), ())


def _days_before(dialect: Dialect, expr: str, days: int) -> str:
    return dialect.days_before(expr, days)


def _latest(dialect: Dialect) -> str:
    return f"(SELECT MAX(run_date) FROM {dialect.table(SUCCESS_RATE_DAILY)})"


def _success_rate_28d(d: Dialect) -> str:
    return f"""
SELECT agent_id, MAX(agent_name) AS agent_name, scenario_id, MAX(scenario_name) AS scenario_name, mode, suite,
       MIN(run_date) AS first_day, MAX(run_date) AS last_day, SUM(runs) AS runs, SUM(passed) AS passed,
       SUM(evaluated) AS evaluated, SUM(infra_errors) AS infra_errors,
       {success_rate_sql("SUM(passed)", "SUM(evaluated)", to_double=d.as_double)} AS success_rate
FROM {d.table(SUCCESS_RATE_DAILY)}
WHERE run_date > {_days_before(d, _latest(d), 28)}
GROUP BY agent_id, scenario_id, mode, suite"""


def _regressions_this_week(d: Dialect) -> str:
    return f"""
SELECT * FROM {d.table(EPISODES)}
WHERE last_seen > {_days_before(d, _latest(d), 7)} OR state = 'open'"""


def _flaky(d: Dialect) -> str:
    return flaky_scenarios_sql(d)


def _call_duration_p95(d: Dialect) -> str:
    return f"""
SELECT agent_id, MAX(agent_name) AS agent_name, mode, run_date, MAX(n) AS calls,
       {ranked_percentile_sql(95, "duration_s", "rn", "n")} AS p95_duration_s
FROM (
    SELECT agent_id, agent_name, COALESCE(mode, '') AS mode, run_date, duration_s,
           ROW_NUMBER() OVER (PARTITION BY agent_id, COALESCE(mode, ''), run_date ORDER BY duration_s) AS rn,
           COUNT(*) OVER (PARTITION BY agent_id, COALESCE(mode, ''), run_date) AS n
    FROM {d.table(RUNS)}
    WHERE duration_s IS NOT NULL AND {evaluated_sql("outcome")}
) ranked
GROUP BY agent_id, mode, run_date"""


def _infra_error_rate(d: Dialect) -> str:
    return f"""
SELECT run_date, agent_id, MAX(agent_name) AS agent_name, mode, SUM(runs) AS runs,
       SUM(infra_errors) AS infra_errors, SUM(timeouts) AS timeouts, SUM(cancelled) AS cancelled,
       {infra_error_rate_sql("SUM(infra_errors)", "SUM(runs)", to_double=d.as_double)} AS infra_error_rate,
       {not_evaluated_rate_sql("SUM(infra_errors)", "SUM(timeouts)", "SUM(cancelled)", "SUM(runs)", to_double=d.as_double)} AS not_evaluated_rate
FROM {d.table(SUCCESS_RATE_DAILY)}
GROUP BY run_date, agent_id, mode"""


def _success_rate_by_agent_version(d: Dialect) -> str:
    """Which deploy broke it: the success rate of each agent version, per day (from the runs)."""
    passed, n = "passed", "passed + failed_evaluation"
    return f"""
SELECT agent_id, agent_name, agent_version, mode, run_date, runs, passed, failed_evaluation,
       {n} AS evaluated, {success_rate_sql(passed, f"({n})", to_double=d.as_double)} AS success_rate,
       {wilson_sql("low", passed, f"({n})", to_double=d.as_double)} AS wilson_low,
       {wilson_sql("high", passed, f"({n})", to_double=d.as_double)} AS wilson_high
FROM (
    SELECT agent_id, MAX(agent_name) AS agent_name, agent_version, COALESCE(mode, '') AS mode, run_date,
           COUNT(*) AS runs, SUM(CASE WHEN outcome = 'passed' THEN 1 ELSE 0 END) AS passed,
           SUM(CASE WHEN outcome = 'failed_evaluation' THEN 1 ELSE 0 END) AS failed_evaluation
    FROM {d.table(RUNS)}
    GROUP BY agent_id, agent_version, COALESCE(mode, ''), run_date
) counts"""


#: The change point of an episode: the start of the current window of its first flagged day (the drop lies
#: after it), else the episode's start.
_CHANGE_POINT = "COALESCE(g.current_start, e.started_on)"


def _version_near(d: Dialect, before: bool) -> str:
    """The agent version of the key's last run before the change point, or of its last run from the change
    point up to the episode's last flagged day (the version that is failing). `read.versions_around`."""
    window = (
        f"r.run_date < {_CHANGE_POINT}"
        if before
        else (f"r.run_date >= {_CHANGE_POINT} AND r.run_date <= e.last_seen")
    )
    return f"""(SELECT r.agent_version FROM {d.table(RUNS)} r
     WHERE r.agent_id = e.agent_id AND r.scenario_id = e.scenario_id AND COALESCE(r.mode, '') = e.mode
       AND COALESCE(r.suite, '') = e.suite AND r.agent_version IS NOT NULL AND {window}
     ORDER BY r.run_date DESC, r.started_at DESC, r.run_id DESC LIMIT 1)"""


def _regression_episode_versions(d: Dialect) -> str:
    """Every regression episode naming the agent versions before and after its change point."""
    return f"""
SELECT e.*, {_CHANGE_POINT} AS change_point, {_version_near(d, True)} AS version_before,
       {_version_near(d, False)} AS version_after
FROM {d.table(EPISODES)} e
LEFT JOIN {d.table(REGRESSIONS)} g
  ON g.agent_id = e.agent_id AND g.scenario_id = e.scenario_id AND g.mode = e.mode AND g.suite = e.suite
 AND g.run_date = e.started_on"""


VIEWS: dict[str, Callable[[Dialect], str]] = {
    "success_rate_28d": _success_rate_28d,
    "regressions_this_week": _regressions_this_week,
    "flaky_scenarios": _flaky,
    "call_duration_p95": _call_duration_p95,
    "infra_error_rate_daily": _infra_error_rate,
    "success_rate_by_agent_version": _success_rate_by_agent_version,
    "regression_episode_versions": _regression_episode_versions,
}


def view_table(view: str) -> Table:
    """The naming stand-in of a view (for `dialect.table`)."""
    return _name(view)


def missing_views(dialect: Dialect, cur: Any) -> list[str]:
    present = dialect.existing_views(cur)
    return [v for v in VIEWS if dialect.raw_table_name(_name(v)) not in present]


def drop_views(dialect: Dialect, cur: Any) -> None:
    for view in VIEWS:
        cur.execute(f"DROP VIEW IF EXISTS {dialect.table(_name(view))}")


def create_views(dialect: Dialect, cur: Any) -> None:
    """(Re)create every view: after a table gained columns a view's `*` must be re-expanded."""
    drop_views(dialect, cur)
    for view, build in VIEWS.items():
        cur.execute(f"CREATE VIEW {dialect.table(_name(view))} AS {build(dialect)}")


def comment_tables(dialect: Dialect, cur: Any) -> None:
    """Table and column comments where the engine keeps them: what a BI tool shows next to each name."""
    for table in ALL_TABLES:
        for statement in dialect.comment_statements(table, column_comments(table)):
            cur.execute(statement)
