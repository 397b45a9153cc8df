"""Airflow Assets for the warehouse tables, so reporting DAGs can be scheduled on a load.

URIs use the scheme ``cekura-warehouse://<conn_id>/<schema>/<table>``: stable across environments (no host
or password in them, only the Airflow connection id), and a scheme no provider normalises, so Airflow keeps
it as written. Names are ``cekura_warehouse.<conn_id>.<schema>.<table>``.
"""

from __future__ import annotations

from airflow.sdk import Asset

from cekura_livekit.warehouse.tables import ALL_TABLES, DEFAULT_SCHEMA, check_identifier

ASSET_SCHEME = "cekura-warehouse"


def warehouse_asset(conn_id: str, table: str, schema: str = DEFAULT_SCHEMA) -> Asset:
    """One warehouse table as an Asset; `table` is the full name, e.g. 'cekura_runs'."""
    if not isinstance(conn_id, str) or not conn_id.strip() or "/" in conn_id:
        raise ValueError(f"conn_id={conn_id!r} must be a non-empty Airflow connection id without '/'")
    check_identifier(schema)
    check_identifier(table, "table")
    return Asset(
        name=f"cekura_warehouse.{conn_id}.{schema}.{table}",
        uri=f"{ASSET_SCHEME}://{conn_id}/{schema}/{table}",
        group="cekura",
    )


def warehouse_assets(conn_id: str, schema: str = DEFAULT_SCHEMA) -> list[Asset]:
    """All five tables (results, runs, run_metrics, success_rate_daily, regressions), in that order."""
    return [warehouse_asset(conn_id, f"cekura_{t.name}", schema) for t in ALL_TABLES]
