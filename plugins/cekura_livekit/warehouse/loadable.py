"""Can a load write here? Checked before a batch is paid for (`batch.preflight`), changing nothing.

Why it exists: a warehouse that is unreachable (wrong port, missing database) or that the connection's role
may not write was found only by the load task, after the calls were paid for — then the results sat in
Cekura, not loaded. This connects through the same path a load takes, creates the schema and tables the way
the load would (`ddl.ensure_tables`) and probes INSERT and UPDATE on each fact table, all inside one
transaction that is always rolled back.
"""

from __future__ import annotations

from cekura_livekit.warehouse.connection import Warehouse, connection_of
from cekura_livekit.warehouse.ddl import ensure_tables
from cekura_livekit.warehouse.engines import engine_for
from cekura_livekit.warehouse.engines.base import UnsupportedDialectError, WarehouseSettingError
from cekura_livekit.warehouse.tables import DEFAULT_SCHEMA, FACT_TABLES, check_identifier


class WarehouseNotLoadableError(ValueError):
    """The warehouse cannot take a load (permanent until the connection or the grants are fixed)."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def check_loadable(conn_id: str, schema: str = DEFAULT_SCHEMA) -> None:
    """Raise `WarehouseNotLoadableError` naming the connection, what failed and the fix, unless a load into
    `schema` through `conn_id` could connect, create what is missing and insert and update the facts."""
    check_identifier(schema)
    connection = connection_of(conn_id)
    dialect = engine_for(connection.conn_type, conn_id)(schema)
    target = dialect.describe_target(connection)
    try:
        conn = dialect.connect(conn_id, connection)
    except (WarehouseSettingError, UnsupportedDialectError):
        raise
    except Exception as exc:
        raise WarehouseNotLoadableError(
            f"warehouse_conn_id={conn_id!r} ({target}) cannot be reached: {_first_line(exc)}. Fix the "
            "connection's host, port, database or credentials (or start the server / create the database) "
            "so that a load can connect. Nothing was submitted."
        ) from None
    warehouse = Warehouse(conn, dialect, conn_id)
    step = f"create or extend the {dialect.namespace_kind} {schema!r} and its tables"
    try:
        cur = conn.cursor()
        try:
            dialect.begin(cur)
            ensure_tables(dialect, cur)
            for table in FACT_TABLES:
                step = f"insert into and update {dialect.table(table)}"
                for statement in dialect.write_probe_statements(table):
                    cur.execute(statement)
        finally:
            conn.rollback()  # a check, never a change
            cur.close()
    except Exception as exc:
        raise WarehouseNotLoadableError(
            f"warehouse_conn_id={conn_id!r} ({target}) connects, but a load could not {step}: "
            f"{_first_line(exc)}. Grant the connection's role what a load needs (CREATE on the database or "
            f"an existing {dialect.namespace_kind}, USAGE and CREATE on it, SELECT/INSERT/UPDATE/DELETE on "
            "its tables — docs/warehouse.md), or point it at a warehouse it may write. Nothing was submitted."
        ) from None
    finally:
        warehouse.close()
