"""Checks that must pass before any paid call: a batch whose results cannot be stored is not submitted.

The load task runs after the calls were paid for; a warehouse connection that cannot work (an unknown conn
id, a conn type this package cannot load into) would only be found then. Checking it here costs one
connection lookup and no network call.
"""

from __future__ import annotations

from cekura_livekit.batch.spec import BatchSpec


def check_warehouse_connection(conn_id: str) -> None:
    """Raise a ValueError naming the connection and the fix when `conn_id` cannot be a warehouse."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from cekura_livekit.warehouse.dialects import SUPPORTED

    try:
        connection = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise ValueError(
            f"warehouse_conn_id={conn_id!r} is not a defined Airflow connection: create it (a PostgreSQL or "
            "SQLite connection), or set CEKURA_WAREHOUSE_CONN_ID / the suite's warehouse_conn_id to one that "
            "exists. Nothing was submitted."
        ) from None
    conn_type = (connection.conn_type or "").lower()
    if conn_type not in SUPPORTED:
        raise ValueError(
            f"warehouse_conn_id={conn_id!r} has conn_type={connection.conn_type!r}, which this package cannot "
            f"load into (supported: {', '.join(SUPPORTED)}); point it at a PostgreSQL or SQLite connection. "
            "Nothing was submitted."
        )


def preflight(spec: BatchSpec) -> None:
    """Everything that can be known to fail later, checked before the first side effect."""
    if spec.warehouse_conn_id:
        check_warehouse_connection(spec.warehouse_conn_id)
