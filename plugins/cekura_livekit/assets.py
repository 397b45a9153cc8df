"""Airflow Assets for the warehouse tables: one asset per fact, one producer per asset.

Graph: a regression DAG's `load_results` produces the fact tables (results, runs, run_metrics) and puts
the run dates it touched in the event's extra; `cekura_trends` is scheduled on the runs asset and is the
only producer of `success_rate_daily` (first task) and `regressions` (last task); `cekura_report` is
scheduled on `regressions`. So one load → one trends pass → one report.

URIs use the scheme ``cekura-warehouse://<conn_id>/<schema>/<table>``: stable across environments (no host
or password in them, only the Airflow connection id), and a scheme no provider normalises, so Airflow keeps
it as written. Names are short enough for the UI: ``<conn_id>/<schema>.<table>`` without the ``cekura_``
table prefix, e.g. ``cekura_warehouse/cekura.runs``.
"""

from __future__ import annotations

from airflow.sdk import Asset

from cekura_livekit.warehouse.tables import (
    DEFAULT_SCHEMA,
    FACT_TABLES,
    REGRESSIONS,
    RUNS,
    SUCCESS_RATE_DAILY,
    Table,
    check_identifier,
)

ASSET_SCHEME = "cekura-warehouse"
#: Key of the load's Asset event extra that lists the ISO run dates the load touched.
RUN_DATES_EXTRA = "run_dates"


def warehouse_asset(conn_id: str, table: str | Table, schema: str = DEFAULT_SCHEMA) -> Asset:
    """One warehouse table as an Asset; `table` is a `Table` or its full name, e.g. 'cekura_runs'."""
    if not isinstance(conn_id, str) or not conn_id.strip() or "/" in conn_id:
        raise ValueError(f"conn_id={conn_id!r} must be a non-empty Airflow connection id without '/'")
    check_identifier(schema)
    full = f"cekura_{table.name}" if isinstance(table, Table) else check_identifier(table, "table")
    short = full.removeprefix("cekura_")
    return Asset(
        name=f"{conn_id}/{schema}.{short}",
        uri=f"{ASSET_SCHEME}://{conn_id}/{schema}/{full}",
        group="cekura",
    )


def fact_assets(conn_id: str, schema: str = DEFAULT_SCHEMA) -> list[Asset]:
    """What a load produces: results, runs, run_metrics (in that order)."""
    return [warehouse_asset(conn_id, t, schema) for t in FACT_TABLES]


def runs_asset(conn_id: str, schema: str = DEFAULT_SCHEMA) -> Asset:
    """The asset the trends DAG is scheduled on (every load touches runs)."""
    return warehouse_asset(conn_id, RUNS, schema)


def daily_asset(conn_id: str, schema: str = DEFAULT_SCHEMA) -> Asset:
    """Produced by the trends DAG's recompute only."""
    return warehouse_asset(conn_id, SUCCESS_RATE_DAILY, schema)


def regressions_asset(conn_id: str, schema: str = DEFAULT_SCHEMA) -> Asset:
    """Produced last by the trends DAG (detection + alerting); the report DAG is scheduled on it."""
    return warehouse_asset(conn_id, REGRESSIONS, schema)
