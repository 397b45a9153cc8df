"""Transaction-scoped locks that serialise what concurrent loads must not do at the same time.

PostgreSQL runs loads concurrently (READ COMMITTED), so two things need a lock:
- DDL: `CREATE SCHEMA/TABLE IF NOT EXISTS` is not race-free (two first loads both insert into `pg_namespace`
  and one fails on its unique index);
- the trend recompute: rows are rebuilt with INSERT … SELECT from the runs table, and a transaction that
  recomputes while another one's runs are not yet committed writes counts without them (undercount).
The adapter's `serialise` takes a transaction-scoped lock on a key derived from the schema (PostgreSQL:
`pg_advisory_xact_lock`), which waits for the other transaction to commit; the next statement then sees its
rows. The lock ends with the transaction, so nothing can leak it. Engines that admit one writer at a time
(SQLite's `BEGIN IMMEDIATE`) need nothing, and their adapter says so.
"""

from __future__ import annotations

import zlib
from typing import Any

from cekura_livekit.warehouse.engines.base import Dialect

DDL = "ddl"
TRENDS = "trends"


def lock_key(schema: str, purpose: str) -> int:
    """A stable signed 64-bit key for (schema, purpose): the same in every process and Python version."""
    high = zlib.crc32(f"cekura-warehouse:{purpose}".encode())
    low = zlib.crc32(schema.encode())
    key = (high << 32) | low
    return key - (1 << 64) if key >= 1 << 63 else key


def serialise(dialect: Dialect, cur: Any, purpose: str) -> None:
    """Wait until no other transaction holds the lock for `purpose` on this schema; hold it until commit."""
    dialect.serialise(cur, lock_key(dialect.schema, purpose))
