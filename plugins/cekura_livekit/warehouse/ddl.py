"""Table DDL, in one place: create the schema and tables, and add columns a newer version declares.

Only writers call `ensure_tables` (the load, the trends step, the alert bookkeeping); readers never do, so a
read-only role can read and a read of a missing table is an error instead of a new empty schema.

Race-free: a warehouse whose tables are complete is left alone without any lock (the normal case, every
load after the first); otherwise the DDL runs under a schema-wide transaction lock and re-checks, so 50
concurrent first loads into a new schema create it once and all succeed.
"""

from __future__ import annotations

import logging
from typing import Any

from cekura_livekit.warehouse.dialects import Dialect, q
from cekura_livekit.warehouse.locks import DDL, serialise
from cekura_livekit.warehouse.tables import ALL_TABLES, Table

log = logging.getLogger(__name__)


def missing_columns(
    dialect: Dialect, cur: Any, tables: tuple[Table, ...] = ALL_TABLES
) -> dict[Table, list[str]]:
    """Per table, the declared columns the database lacks (all of them when the table does not exist)."""
    missing: dict[Table, list[str]] = {}
    for table in tables:
        existing = dialect.existing_columns(cur, table)
        lacking = [c for c in table.column_names if c not in existing]
        if lacking:
            missing[table] = lacking
    return missing


def ensure_tables(dialect: Dialect, cur: Any) -> list[str]:
    """Create the schema and tables if missing and add any column a newer version declares.

    Runs in the caller's transaction (DDL is transactional in both engines, so a failed load leaves no
    half-made tables). Returns the columns added to tables that already existed (``table.column``).
    """
    if not missing_columns(dialect, cur):
        return []
    serialise(dialect, cur, DDL)
    missing = missing_columns(dialect, cur)  # another transaction may have created them while we waited
    if not missing:
        return []
    dialect.ensure_schema(cur)
    added: list[str] = []
    for table, lacking in missing.items():
        existed = len(lacking) < len(table.column_names)
        for statement in dialect.create_statements(table):
            cur.execute(statement)
        if not existed:
            continue
        for column in lacking:
            logical = table.types[column]
            cur.execute(
                f"ALTER TABLE {dialect.table(table)} ADD COLUMN {q(column)} {dialect.sql_types[logical]}"
            )
            added.append(f"{dialect.raw_table_name(table)}.{column}")
    if added:
        log.info("Added columns to existing warehouse tables: %s", ", ".join(added))
    return added
