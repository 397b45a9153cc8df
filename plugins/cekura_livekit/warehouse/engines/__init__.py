"""Warehouse engines: one adapter per engine (`base.Dialect`), chosen from the Airflow connection type.

Adding an engine: one adapter file here, one line in `REGISTRY`, one test parameter (the warehouse test
fixture is parametrised from `REGISTRY`). Nothing outside this package tests an engine's name.
"""

from __future__ import annotations

from cekura_livekit.warehouse.engines.base import Dialect, UnsupportedDialectError
from cekura_livekit.warehouse.engines.duckdb import DuckDBDialect
from cekura_livekit.warehouse.engines.mysql import MySqlDialect
from cekura_livekit.warehouse.engines.postgres import PostgresDialect
from cekura_livekit.warehouse.engines.snowflake import SnowflakeDialect
from cekura_livekit.warehouse.engines.sqlite import SqliteDialect

#: Adapter classes; each claims the connection types in its `conn_types`.
ENGINES: tuple[type[Dialect], ...] = (
    PostgresDialect,
    SqliteDialect,
    DuckDBDialect,
    MySqlDialect,
    SnowflakeDialect,
)
#: Airflow conn_type → adapter class.
REGISTRY: dict[str, type[Dialect]] = {t: engine for engine in ENGINES for t in engine.conn_types}
SUPPORTED = sorted(REGISTRY)


def engine_for(conn_type: str | None, conn_id: str = "") -> type[Dialect]:
    """The adapter class for an Airflow connection type; a clear error naming the connection otherwise."""
    engine = REGISTRY.get((conn_type or "").lower())
    if engine is None:
        names = " or ".join(e.name for e in ENGINES)
        raise UnsupportedDialectError(
            f"warehouse_conn_id={conn_id!r} has conn_type={conn_type!r}, which this package cannot "
            f"load into; supported conn types: {', '.join(SUPPORTED)}. Point warehouse_conn_id at a "
            f"{names} connection."
        )
    return engine


__all__ = ["ENGINES", "REGISTRY", "SUPPORTED", "Dialect", "UnsupportedDialectError", "engine_for"]
