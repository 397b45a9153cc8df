"""Read trends back as typed DataFrames for reports and notebooks.

Every query aggregates in the warehouse and returns a small frame; dtypes are the same whichever engine
answered (SQLite returns text dates and 0/1 booleans; they are converted here): dates as
``datetime64[us]`` (naive calendar days), timestamps as ``datetime64[us, UTC]``, counts as ``Int64``,
rates as ``Float64``, names as ``str``.

Reads are read-only: nothing here creates, alters or locks anything, so an analyst role with USAGE and
SELECT can read, and reading a schema or table that does not exist raises `WarehouseTableMissingError`
(naming them and the fix) instead of leaving an empty schema behind.

Two forms of each reader: ``select_*(wh, …)`` on an open `Warehouse` (a report shares one connection across
its reads) and ``read_*(conn_id, …, schema=…)`` that opens and closes one for a single read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import pandas as pd

from cekura_livekit.results.schema import STR
from cekura_livekit.warehouse.connection import Warehouse, open_warehouse
from cekura_livekit.warehouse.dates import as_date
from cekura_livekit.warehouse.flaky import FLAKY, flaky_scenarios_sql
from cekura_livekit.warehouse.measures import (
    evaluated_sql,
    infra_error_rate_sql,
    not_evaluated_rate_sql,
    success_rate_sql,
)
from cekura_livekit.warehouse.tables import (
    BATCH_DIFFS,
    DEFAULT_SCHEMA,
    EPISODES,
    FLAKY_SCENARIOS,
    METRIC_REGRESSIONS,
    REGRESSIONS,
    RESULTS,
    RUN_METRICS,
    RUNS,
    SUCCESS_RATE_DAILY,
    Table,
)


class WarehouseTableMissingError(LookupError):
    """A read found no such table: nothing was loaded into this schema yet, or the schema name is wrong."""

    def __init__(self, wh: Warehouse, tables: Sequence[Table]) -> None:
        names = ", ".join(wh.dialect.table(t) for t in tables)
        where = wh.dialect.namespace_kind
        super().__init__(
            f"warehouse {names} does not exist in connection {wh.conn_id!r} ({where} {wh.dialect.schema!r}). "
            "Run a load into it first (CekuraResultsToWarehouseOperator, or a regression DAG's load_results) "
            f"or check the schema name (CEKURA_WAREHOUSE_SCHEMA / schema=...). Reads never create tables."
        )
        self.schema = wh.dialect.schema
        self.tables = [wh.dialect.raw_table_name(t) for t in tables]


_DTYPES = {"int": "Int64", "float": "Float64", "text": STR, "bool": "boolean"}


def _typed(names: list[str], rows: list[tuple[Any, ...]], types: Mapping[str, str]) -> pd.DataFrame:
    data: dict[str, pd.Series] = {}
    for i, name in enumerate(names):
        values = [r[i] for r in rows]
        logical = types.get(name, "float")
        if logical == "date":
            data[name] = pd.Series(
                pd.to_datetime([None if v is None else str(v) for v in values]), dtype="datetime64[us]"
            )
        elif logical == "timestamp":
            data[name] = pd.Series(
                pd.to_datetime(values, utc=True, format="ISO8601"), dtype="datetime64[us, UTC]"
            )
        elif logical == "float":
            data[name] = pd.Series([None if v is None else float(v) for v in values], dtype="Float64")
        elif logical == "bool":
            data[name] = pd.Series([None if v is None else bool(v) for v in values], dtype="boolean")
        else:
            data[name] = pd.Series(values, dtype=_DTYPES[logical])
    return pd.DataFrame(data, columns=names)


def _missing(wh: Warehouse, tables: Sequence[Table]) -> list[Table]:
    cur = wh.conn.cursor()
    try:
        return [t for t in tables if not wh.dialect.table_exists(cur, t)]
    finally:
        cur.close()
        wh.dialect.end_read(wh.conn)  # end the catalog read's transaction; nothing was written


def _query(
    wh: Warehouse, tables: Sequence[Table], sql: str, params: Sequence[Any] = ()
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run a read; when it fails because a table is missing, say which one and how to fix it."""
    try:
        return wh.query(sql, params)
    except Exception as exc:
        missing = _missing(wh, tables)
        if missing:
            raise WarehouseTableMissingError(wh, missing) from exc
        raise


def _read(
    wh: Warehouse, tables: Sequence[Table], sql: str, params: Sequence[Any], types: Mapping[str, str]
) -> pd.DataFrame:
    names, rows = _query(wh, tables, sql, params)
    return _typed(names, rows, types)


def _filters(
    wh: Warehouse, since: date | str | None, agent_id: int | None, date_col: str = "run_date"
) -> tuple[str, list[Any]]:
    clauses: list[str] = ["1 = 1"]
    params: list[Any] = []
    if since is not None:
        clauses.append(f"{date_col} >= {wh.dialect.date_param()}")
        params.append(as_date(since).isoformat())
    if agent_id is not None:
        clauses.append(f"agent_id = {wh.dialect.param}")
        params.append(int(agent_id))
    return " AND ".join(clauses), params


def select_daily(wh: Warehouse, since: date | str | None = None, agent_id: int | None = None) -> pd.DataFrame:
    """`cekura_success_rate_daily` rows (optionally from `since`, for one agent), by day, agent, scenario."""
    where, params = _filters(wh, since, agent_id)
    sql = (
        f"SELECT * FROM {wh.dialect.table(SUCCESS_RATE_DAILY)} WHERE {where} "
        "ORDER BY run_date, agent_id, scenario_id, mode, suite"
    )
    return _read(wh, [SUCCESS_RATE_DAILY], sql, params, SUCCESS_RATE_DAILY.types)


def select_regressions(
    wh: Warehouse, since: date | str | None = None, agent_id: int | None = None
) -> pd.DataFrame:
    """`cekura_regressions` rows (window end >= `since`), newest first, worst drop first."""
    where, params = _filters(wh, since, agent_id)
    sql = (
        f"SELECT * FROM {wh.dialect.table(REGRESSIONS)} WHERE {where} "
        "ORDER BY run_date DESC, rate_drop DESC, agent_id, scenario_id, mode, suite"
    )
    return _read(wh, [REGRESSIONS], sql, params, REGRESSIONS.types)


def select_episodes(
    wh: Warehouse, since: date | str | None = None, agent_id: int | None = None
) -> pd.DataFrame:
    """`cekura_regression_episodes` (episodes still open, or last seen on/after `since`): open first, then the
    newest start, the worst drop first."""
    where, params = _filters(wh, since, agent_id, date_col="last_seen")
    sql = (
        f"SELECT * FROM {wh.dialect.table(EPISODES)} WHERE ({where}) OR state = 'open' "
        "ORDER BY state DESC, started_on DESC, peak_drop DESC, agent_id, scenario_id, mode, suite"
    )
    return _read(wh, [EPISODES], sql, params, EPISODES.types)


def select_flaky_scores(wh: Warehouse) -> pd.DataFrame:
    """`cekura_flaky_scenarios`: every scored scenario, flaky first, highest score first."""
    sql = (
        f"SELECT * FROM {wh.dialect.table(FLAKY_SCENARIOS)} "
        f"ORDER BY status = '{FLAKY}' DESC, runs_z DESC, agent_id, scenario_id, mode, suite"
    )
    return _read(wh, [FLAKY_SCENARIOS], sql, [], FLAKY_SCENARIOS.types)


_LATENCY_TYPES = {
    "run_date": "date",
    "agent_id": "int",
    "agent_name": "text",
    "mode": "text",
    "value": "float",
}


def select_latency_values(wh: Warehouse, since: date | str | None = None) -> pd.DataFrame:
    """Every latency value (numeric metrics in ms) of evaluated runs, with the run's day, agent and mode."""
    where, params = _filters(wh, since, None, date_col="r.run_date")
    runs, metrics = wh.dialect.table(RUNS), wh.dialect.table(RUN_METRICS)
    sql = f"""
SELECT r.run_date, r.agent_id, r.agent_name, COALESCE(r.mode, '') AS mode, m.value_num AS value
FROM {metrics} m JOIN {runs} r ON r.run_id = m.run_id
WHERE m.metric_kind = 'numeric' AND m.unit = 'ms' AND m.value_num IS NOT NULL
  AND {evaluated_sql("r.outcome")} AND {where}"""
    return _read(wh, [RUNS, RUN_METRICS], sql, params, _LATENCY_TYPES)


def select_metric_regressions(wh: Warehouse, since: date | str | None = None) -> pd.DataFrame:
    """`cekura_metric_regressions` (window end >= `since`), newest first, largest shift first."""
    where, params = _filters(wh, since, None)
    sql = (
        f"SELECT * FROM {wh.dialect.table(METRIC_REGRESSIONS)} WHERE {where} "
        "ORDER BY run_date DESC, relative_shift DESC, agent_id, scenario_id, mode, suite, metric_id"
    )
    return _read(wh, [METRIC_REGRESSIONS], sql, params, METRIC_REGRESSIONS.types)


def select_links(
    wh: Warehouse, last_days: Mapping[tuple[int, int, str, str], date]
) -> dict[tuple[Any, ...], str]:
    """The dashboard URL of each agent × scenario × mode × suite in `last_days`: the newest result (highest
    result id) among its runs on the last day it ran (`last_days`, from the report's daily rows).

    Reads the runs of those days only (the run_date index; usually the newest day or two), then the results'
    URLs by key: bounded by a day's volume, never by the history (`episodes.latest_links_in` groups every
    run ever loaded, ~2 s at 3M runs, for every series of the warehouse).
    """
    if not last_days:
        return {}
    days = sorted({as_date(d).isoformat() for d in last_days.values()})
    d = wh.dialect.date_param()
    marks = ", ".join([d] * len(days))
    runs, results = wh.dialect.table(RUNS), wh.dialect.table(RESULTS)
    _, rows = _query(
        wh,
        [RUNS],
        f"SELECT agent_id, scenario_id, COALESCE(mode, ''), COALESCE(suite, ''), MAX(result_id) FROM {runs} "
        f"WHERE run_date IN ({marks}) AND agent_id IS NOT NULL AND scenario_id IS NOT NULL "
        "GROUP BY agent_id, scenario_id, COALESCE(mode, ''), COALESCE(suite, '')",
        days,
    )
    newest = {(int(a), int(s), m, u): int(r) for a, s, m, u, r in rows if (int(a), int(s), m, u) in last_days}
    ids = sorted(set(newest.values()))
    urls: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join([wh.dialect.param] * len(chunk))
        _, found = _query(
            wh,
            [RESULTS],
            f"SELECT result_id, dashboard_url FROM {results} WHERE result_id IN ({marks}) "
            "AND dashboard_url IS NOT NULL",
            chunk,
        )
        urls.update((int(r), str(u)) for r, u in found)
    return {key: urls[r] for key, r in newest.items() if r in urls}


def select_batch_diffs(wh: Warehouse, since: date | str | None = None) -> pd.DataFrame:
    """`cekura_batch_diffs` with each batch's creation time and dashboard link, newest batch first."""
    where, params = _filters(wh, since, None, date_col="r.created_at")
    diffs, results = wh.dialect.table(BATCH_DIFFS), wh.dialect.table(RESULTS)
    sql = f"""
SELECT d.*, r.created_at, r.dashboard_url, r.agent_name
FROM {diffs} d JOIN {results} r ON r.result_id = d.result_id
WHERE {where}
ORDER BY r.created_at DESC, d.result_id DESC, d.scenario_id"""
    types = {**BATCH_DIFFS.types, "created_at": "timestamp", "dashboard_url": "text", "agent_name": "text"}
    return _read(wh, [BATCH_DIFFS, RESULTS], sql, params, types)


def select_flaky(wh: Warehouse, since: date | str | None = None, agent_id: int | None = None) -> pd.DataFrame:
    """Flaky scenarios: `cekura_flaky_scenarios` rows scored flaky (`flaky.flaky_scenarios_sql`, the one
    definition the view `v_flaky_scenarios` shares), last flaky on/after `since`, highest score first.

    Flaky = the flip rate between consecutive evaluated outcomes over the window (see `flaky.py`), not
    "mixed outcomes in one batch": that count is the row's `mixed_batches`, kept for people.
    """
    where, params = _filters(wh, since, agent_id, date_col="last_seen")
    sql = (
        f"SELECT * FROM ({flaky_scenarios_sql(wh.dialect, where)}) f "
        "ORDER BY runs_z DESC, agent_id, scenario_id, mode, suite"
    )
    return _read(wh, [FLAKY_SCENARIOS], sql, params, FLAKY_SCENARIOS.types)


_SUMMARY_TYPES = {
    "run_date": "date",
    "agent_id": "int",
    "agent_name": "text",
    "runs": "int",
    "passed": "int",
    "failed_evaluation": "int",
    "infra_errors": "int",
    "timeouts": "int",
    "cancelled": "int",
    "success_rate": "float",
    "infra_error_rate": "float",
    "not_evaluated_rate": "float",
    "scenario_id": "int",
    "scenario_name": "text",
    "mode": "text",
    "evaluated": "int",
    "wilson_low": "float",
    "wilson_high": "float",
}


def select_runs_summary(
    wh: Warehouse, since: date | str | None = None, agent_id: int | None = None
) -> pd.DataFrame:
    """Per day × agent: counts by outcome, success rate, `infra_error_rate` (infra errors / all runs) and
    `not_evaluated_rate` (infra errors + timeouts + cancellations / all runs): `measures` defines each."""
    where, params = _filters(wh, since, agent_id)
    sql = f"""
SELECT run_date, agent_id, MAX(agent_name) AS agent_name, SUM(runs) AS runs, SUM(passed) AS passed,
       SUM(failed_evaluation) AS failed_evaluation, SUM(infra_errors) AS infra_errors, SUM(timeouts) AS timeouts,
       SUM(cancelled) AS cancelled,
       {success_rate_sql("SUM(passed)", "SUM(evaluated)", to_double=wh.dialect.as_double)} AS success_rate,
       {infra_error_rate_sql("SUM(infra_errors)", "SUM(runs)", to_double=wh.dialect.as_double)} AS infra_error_rate,
       {not_evaluated_rate_sql("SUM(infra_errors)", "SUM(timeouts)", "SUM(cancelled)", "SUM(runs)", to_double=wh.dialect.as_double)} AS not_evaluated_rate
FROM {wh.dialect.table(SUCCESS_RATE_DAILY)}
WHERE {where}
GROUP BY run_date, agent_id
ORDER BY run_date, agent_id"""
    return _read(wh, [SUCCESS_RATE_DAILY], sql, params, _SUMMARY_TYPES)


def select_latest_day(wh: Warehouse, table: Table = SUCCESS_RATE_DAILY) -> date | None:
    """The newest `run_date` in `table` (default: the daily table), None when it holds no rows."""
    _, rows = _query(wh, [table], f"SELECT MAX(run_date) FROM {wh.dialect.table(table)}")
    return as_date(rows[0][0]) if rows and rows[0][0] is not None else None


def select_worst_scenarios(
    wh: Warehouse,
    days: int = 7,
    *,
    end: date | str | None = None,
    min_evaluated: int = 5,
    limit: int = 10,
    agent_id: int | None = None,
) -> pd.DataFrame:
    """Lowest success rates per agent × scenario × mode over the `days` ending on `end` (default: latest day)."""
    if days < 1 or limit < 1 or min_evaluated < 0:
        raise ValueError(
            f"days={days!r} and limit={limit!r} must be >= 1, min_evaluated={min_evaluated!r} >= 0"
        )
    last = as_date(end) if end is not None else select_latest_day(wh) or date.today()
    start = last - timedelta(days=days - 1)
    where, params = _filters(wh, start, agent_id)
    where += f" AND run_date <= {wh.dialect.date_param()}"
    params.append(last.isoformat())
    p = wh.dialect.param
    sql = f"""
SELECT agent_id, MAX(agent_name) AS agent_name, scenario_id, MAX(scenario_name) AS scenario_name, mode,
       SUM(runs) AS runs, SUM(evaluated) AS evaluated, SUM(passed) AS passed, SUM(infra_errors) AS infra_errors,
       {success_rate_sql("SUM(passed)", "SUM(evaluated)", to_double=wh.dialect.as_double)} AS success_rate
FROM {wh.dialect.table(SUCCESS_RATE_DAILY)}
WHERE {where}
GROUP BY agent_id, scenario_id, mode
HAVING SUM(evaluated) > 0 AND SUM(evaluated) >= {p}
ORDER BY success_rate ASC, evaluated DESC, agent_id, scenario_id
LIMIT {int(limit)}"""
    return _read(wh, [SUCCESS_RATE_DAILY], sql, [*params, int(min_evaluated)], _SUMMARY_TYPES)


# Conn-id conveniences: one connection per call, for notebooks and single reads.


def read_daily(
    conn_id: str, since: date | str | None = None, agent_id: int | None = None, schema: str = DEFAULT_SCHEMA
) -> pd.DataFrame:
    """:func:`select_daily` on a connection of its own."""
    with open_warehouse(conn_id, schema) as wh:
        return select_daily(wh, since, agent_id)


def read_regressions(
    conn_id: str, since: date | str | None = None, agent_id: int | None = None, schema: str = DEFAULT_SCHEMA
) -> pd.DataFrame:
    """:func:`select_regressions` on a connection of its own."""
    with open_warehouse(conn_id, schema) as wh:
        return select_regressions(wh, since, agent_id)


def read_episodes(
    conn_id: str, since: date | str | None = None, agent_id: int | None = None, schema: str = DEFAULT_SCHEMA
) -> pd.DataFrame:
    """:func:`select_episodes` on a connection of its own."""
    with open_warehouse(conn_id, schema) as wh:
        return select_episodes(wh, since, agent_id)


def read_flaky(
    conn_id: str, since: date | str | None = None, agent_id: int | None = None, schema: str = DEFAULT_SCHEMA
) -> pd.DataFrame:
    """:func:`select_flaky` on a connection of its own."""
    with open_warehouse(conn_id, schema) as wh:
        return select_flaky(wh, since, agent_id)


def read_runs_summary(
    conn_id: str, since: date | str | None = None, agent_id: int | None = None, schema: str = DEFAULT_SCHEMA
) -> pd.DataFrame:
    """:func:`select_runs_summary` on a connection of its own."""
    with open_warehouse(conn_id, schema) as wh:
        return select_runs_summary(wh, since, agent_id)


def read_worst_scenarios(
    conn_id: str,
    days: int = 7,
    *,
    end: date | str | None = None,
    min_evaluated: int = 5,
    limit: int = 10,
    agent_id: int | None = None,
    schema: str = DEFAULT_SCHEMA,
) -> pd.DataFrame:
    """:func:`select_worst_scenarios` on a connection of its own."""
    with open_warehouse(conn_id, schema) as wh:
        return select_worst_scenarios(
            wh, days, end=end, min_evaluated=min_evaluated, limit=limit, agent_id=agent_id
        )


def select_stale_results(
    wh: Warehouse, since: date | str, exclude: int | None = None, limit: int = 20
) -> list[tuple[int, str | None]]:
    """(result id, mode) of results loaded since `since` with runs not terminal (`outcome` NULL), newest first.

    Such rows are stored when a wait hit its deadline and ending the calls failed: Cekura finishes the
    runs later, so a later load re-fetches these results (the load operator's `refresh_stale`).
    """
    if _missing(wh, [RUNS, RESULTS]):
        return []
    p = wh.dialect.param
    sql = f"""
SELECT r.result_id, MAX(res.mode) AS mode, MAX(res.loaded_at) AS newest
FROM {wh.dialect.table(RUNS)} r JOIN {wh.dialect.table(RESULTS)} res ON res.result_id = r.result_id
WHERE r.outcome IS NULL AND res.loaded_at >= {wh.dialect.date_param()} AND r.result_id <> {p}
GROUP BY r.result_id ORDER BY newest DESC, r.result_id DESC LIMIT {int(limit)}"""
    _, rows = _query(wh, [RUNS, RESULTS], sql, [as_date(since).isoformat(), int(exclude or 0)])
    return [(int(r[0]), r[1]) for r in rows]


def stored_contexts(dialect: Any, cur: Any, result_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The load context already stored for `result_ids` (`results.context.RESULT_CONTEXT` by result id),
    read on the writer's cursor inside its transaction: what a reload that does not give it keeps."""
    from cekura_livekit.results.context import RESULT_CONTEXT

    out: dict[int, dict[str, Any]] = {}
    ids = sorted({int(i) for i in result_ids})
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join([dialect.param] * len(chunk))
        columns = ", ".join(RESULT_CONTEXT)
        cur.execute(
            f"SELECT result_id, {columns} FROM {dialect.table(RESULTS)} WHERE result_id IN ({marks})", chunk
        )
        for row in cur.fetchall():
            out[int(row[0])] = dict(zip(RESULT_CONTEXT, row[1:], strict=True))
    return out


def versions_around(
    dialect: Any,
    cur: Any,
    key: tuple[int, int, str, str],
    day: date | str,
    until: date | str | None = None,
) -> tuple[str | None, str | None]:
    """(version before, version after) the change point `day` of a regression key (agent, scenario, mode,
    suite): the agent version of the key's last run before `day`, and of its last run from `day` up to
    `until` (the episode's last flagged day; None: up to now), i.e. the version that is failing.

    The rule of `v_regression_episode_versions` (whose change point is the current window's start of the
    episode's first flagged day). None where no run of that side carries a version."""
    agent_id, scenario_id, mode, suite = key
    p, day_param = dialect.param, dialect.date_param()
    common = (
        f"SELECT agent_version FROM {dialect.table(RUNS)} WHERE agent_id = {p} AND scenario_id = {p} "
        f"AND COALESCE(mode, '') = {p} AND COALESCE(suite, '') = {p} AND agent_version IS NOT NULL AND "
    )
    order = " ORDER BY run_date DESC, started_at DESC, run_id DESC LIMIT 1"
    params = [int(agent_id), int(scenario_id), mode, suite, as_date(day).isoformat()]
    after = f"run_date >= {day_param}"
    if until is not None:
        after += f" AND run_date <= {day_param}"
    found: list[str | None] = []
    for where, extra in (
        (f"run_date < {day_param}", []),
        (after, [] if until is None else [as_date(until).isoformat()]),
    ):
        cur.execute(common + where + order, params + extra)
        row = cur.fetchone()
        found.append(None if row is None else row[0])
    return found[0], found[1]
