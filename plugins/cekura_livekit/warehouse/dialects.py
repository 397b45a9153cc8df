"""Dialect-aware warehouse access: PostgreSQL (psycopg 3, COPY) and SQLite (batched upsert).

Why only two: the upsert and the trend SQL rely on `INSERT … ON CONFLICT`, window frames with numeric RANGE
offsets and row-value comparison, which both support with the same syntax. Any other connection type is
refused with a clear error before anything is written, rather than half-working.

Everything a load does runs inside `Warehouse.transaction()`: one transaction, DDL included (both engines
have transactional DDL), so a failure leaves the tables exactly as they were.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, ClassVar

import pandas as pd

from cekura_livekit.warehouse import pgcopy
from cekura_livekit.warehouse.tables import DEFAULT_SCHEMA, Table, check_identifier

POSTGRES_TYPES = {"postgres", "postgresql"}
SQLITE_TYPES = {"sqlite"}
SUPPORTED = sorted(POSTGRES_TYPES | SQLITE_TYPES)


class UnsupportedDialectError(ValueError):
    """The warehouse connection is of a type this package cannot load into."""


def q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class Dialect:
    name = "generic"
    param = "?"
    sql_types: ClassVar[dict[str, str]] = {}
    #: SQL expression turning the date column `col` into a day number (for RANGE window frames).
    day_number_template = ""

    def __init__(self, schema: str) -> None:
        self.schema = check_identifier(schema)

    # naming
    def table(self, table: Table) -> str:
        raise NotImplementedError

    def raw_table_name(self, table: Table) -> str:
        raise NotImplementedError

    def date_param(self) -> str:
        return self.param

    def day_number(self, column: str) -> str:
        return self.day_number_template.format(col=column)

    # DDL
    def create_statements(self, table: Table) -> list[str]:
        cols = ", ".join(
            f"{q(c)} {self.sql_types[t]}{' NOT NULL' if c in table.key else ''}" for c, t in table.columns
        )
        key = ", ".join(q(k) for k in table.key)
        return [f"CREATE TABLE IF NOT EXISTS {self.table(table)} ({cols}, PRIMARY KEY ({key}))"]

    def existing_columns(self, cur: Any, table: Table) -> set[str]:
        raise NotImplementedError

    def ensure_schema(self, cur: Any) -> None:
        """Nothing to do by default (SQLite uses a table prefix)."""

    def table_exists(self, cur: Any, table: Table) -> bool:
        """Whether the table exists (whatever the caller may do with it), without touching it."""
        raise NotImplementedError

    # values
    def db_value(self, logical_type: str, value: Any) -> Any:
        return value

    def rows(self, frame: pd.DataFrame, table: Table) -> list[tuple[Any, ...]]:
        """Frame → DB-API rows in the table's column order, NA → None, types the driver binds.

        Column at a time, not value at a time: timestamps leave pandas in one vectorised call, and a
        dialect's `db_value` runs per distinct value (dates repeat) or not at all when it is the identity.
        """
        columns = []
        for name in table.column_names:
            series = frame[name]
            logical = table.types[name]
            missing = series.isna().to_numpy()
            values: list[Any]
            if pd.api.types.is_datetime64_any_dtype(series.dtype):
                values = list(series.dt.to_pydatetime())
            else:
                values = series.astype(object).tolist()
            if missing.any():
                values = [None if gone else v for v, gone in zip(values, missing, strict=True)]
            if logical in {"timestamp", "date", "bool"}:
                probe = next((v for v in values if v is not None), None)
                if probe is not None and self.db_value(logical, probe) is not probe:
                    if logical == "date":
                        converted = {v: self.db_value(logical, v) for v in set(values) if v is not None}
                        values = [None if v is None else converted[v] for v in values]
                    else:
                        values = [None if v is None else self.db_value(logical, v) for v in values]
            columns.append(values)
        return list(zip(*columns, strict=True))

    def upsert(self, cur: Any, table: Table, frame: pd.DataFrame) -> int:
        raise NotImplementedError

    def insert_rows(self, cur: Any, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert derived rows (dicts keyed by column) into `table`, in its column order.

        Only date, timestamp and bool columns go through `db_value`: for every other type it is the identity
        in both dialects, and skipping it matters when a rebuild writes tens of thousands of rows.
        """
        if not rows:
            return
        cols = table.column_names
        converted = {c: t for c, t in table.columns if t in {"date", "timestamp", "bool"}}
        values = [
            tuple(self.db_value(converted[c], r[c]) if c in converted else r[c] for c in cols) for r in rows
        ]
        self.write_rows(cur, table, values)

    def write_rows(self, cur: Any, table: Table, values: list[tuple[Any, ...]]) -> None:
        """Driver-ready rows into `table`: executemany (PostgreSQL overrides it with COPY)."""
        marks = ", ".join(self.param for _ in table.column_names)
        cols = ", ".join(q(c) for c in table.column_names)
        cur.executemany(f"INSERT INTO {self.table(table)} ({cols}) VALUES ({marks})", values)

    def refresh_statistics(self, cur: Any, table: Table, changed: int) -> bool:
        """After a bulk change, refresh the planner's statistics of `table` (see PostgreSQL's); False: not needed."""
        return False

    def upsert_sql(self, target: str, table: Table, source: str) -> str:
        cols = ", ".join(q(c) for c in table.column_names)
        key = ", ".join(q(k) for k in table.key)
        sets = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in table.column_names if c not in table.key)
        values = table.value_columns
        old = ", ".join(f"{target}.{q(c)}" for c in values)
        new = ", ".join(f"excluded.{q(c)}" for c in values)
        return (
            f"INSERT INTO {target} ({cols}) {source} ON CONFLICT ({key}) DO UPDATE SET {sets} "
            f"WHERE ({old}) {self.distinct} ({new})"
        )

    distinct = "IS DISTINCT FROM"


class PostgresDialect(Dialect):
    name = "postgres"
    param = "%s"
    sql_types: ClassVar[dict[str, str]] = {
        "int": "BIGINT",
        "float": "DOUBLE PRECISION",
        "text": "TEXT",
        "bool": "BOOLEAN",
        "timestamp": "TIMESTAMPTZ",
        "date": "DATE",
    }
    day_number_template = "({col} - DATE '1970-01-01')"

    def raw_table_name(self, table: Table) -> str:
        return f"cekura_{table.name}"

    def table(self, table: Table) -> str:
        return f"{q(self.schema)}.{q(self.raw_table_name(table))}"

    def date_param(self) -> str:
        return "CAST(%s AS DATE)"

    def ensure_schema(self, cur: Any) -> None:
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {q(self.schema)}")

    def existing_columns(self, cur: Any, table: Table) -> set[str]:
        cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (self.schema, self.raw_table_name(table)),
        )
        return {row[0] for row in cur.fetchall()}

    def table_exists(self, cur: Any, table: Table) -> bool:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (self.table(table),))
        row = cur.fetchone()
        return bool(row and row[0])

    def db_value(self, logical_type: str, value: Any) -> Any:
        if logical_type == "timestamp" and isinstance(value, pd.Timestamp):
            return value.to_pydatetime()
        if logical_type == "date" and isinstance(value, str):
            return date.fromisoformat(value)
        if logical_type == "date" and isinstance(value, datetime):
            return value.date()
        return value

    def write_rows(self, cur: Any, table: Table, values: list[tuple[Any, ...]]) -> None:
        """One text COPY: a full rebuild writes tens of thousands of derived rows."""
        copy_rows(cur, self.table(table), table.column_names, values)

    #: A load that changed at least this many rows and this share of a table's rows re-analyses it; a
    #: batch (≤ 200 runs by default) never does, a backfill does.
    BULK_ROWS = 1000
    BULK_SHARE = 0.1

    def refresh_statistics(self, cur: Any, table: Table, changed: int) -> bool:
        """ANALYZE `table` in this transaction when `changed` rows are a bulk change (≥ 1,000 rows and ≥ 10 %
        of the rows the planner knew of, or a table it never analysed).

        Why here and not left to autovacuum: the trends step runs right after the load, before autovacuum's
        next round; planning its aggregates without statistics (estimates of a few hundred rows for a
        million) chose sort-based plans that took ~1.5× as long. ANALYZE samples a fixed 30,000 rows, so it
        costs about the same at any size, and only bulk loads pay it.
        """
        if changed < self.BULK_ROWS:
            return False
        cur.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", (self.table(table),))
        row = cur.fetchone()
        known = float(row[0]) if row and row[0] is not None else -1.0
        if known >= 0 and changed < self.BULK_SHARE * known:
            return False
        cur.execute(f"ANALYZE {self.table(table)}")
        return True

    def upsert(self, cur: Any, table: Table, frame: pd.DataFrame) -> int:
        """Binary COPY into a temporary table, then one INSERT … ON CONFLICT … DO UPDATE (only changed rows).

        A first load into an empty table skips the temporary table: with the table locked against
        concurrent writers and still empty, every row is new, so a binary COPY straight into it has the
        upsert's exact outcome at the cost of the COPY alone.
        """
        if frame.empty:
            return 0
        target = self.table(table)
        empty = f"SELECT NOT EXISTS (SELECT 1 FROM {target})"
        if cur.execute(empty).fetchone()[0]:
            cur.execute(f"LOCK TABLE {target} IN SHARE ROW EXCLUSIVE MODE")
            if cur.execute(empty).fetchone()[0]:
                self.copy_frame(cur, target, table, frame)
                return len(frame)
        temp = q(f"_load_{self.raw_table_name(table)}")
        cur.execute(f"DROP TABLE IF EXISTS {temp}")
        cur.execute(f"CREATE TEMP TABLE {temp} (LIKE {target} INCLUDING DEFAULTS) ON COMMIT DROP")
        self.copy_frame(cur, temp, table, frame)
        cols = ", ".join(q(c) for c in table.column_names)
        cur.execute(self.upsert_sql(target, table, f"SELECT {cols} FROM {temp}"))
        changed = int(cur.rowcount or 0)
        cur.execute(f"DROP TABLE {temp}")
        return changed

    copy_types: ClassVar[dict[str, str]] = {
        "int": "int8",
        "float": "float8",
        "text": "text",
        "bool": "bool",
        "timestamp": "timestamptz",
        "date": "date",
    }

    def copy_frame(self, cur: Any, target: str, table: Table, frame: pd.DataFrame) -> None:
        """Binary COPY of `frame` into `target`: encoded column-wise when every column allows it exactly.

        The column-wise encoder (`pgcopy`) does in numpy what the row path does value by value; a frame it
        cannot encode exactly (object columns of dates, naive timestamps, a connection not in UTF-8) takes
        the row path, with psycopg's dumpers, unchanged.
        """
        encoded = pgcopy.encoder(frame, table.columns) if cur.connection.info.encoding == "utf-8" else None
        if encoded is not None:
            pgcopy.copy_frame(cur, target, encoded, q)
            return
        types = [self.copy_types[table.types[c]] for c in table.column_names]
        copy_rows(cur, target, table.column_names, self.rows(frame, table), types)


def copy_rows(
    cur: Any,
    target: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    types: Sequence[str] | None = None,
) -> None:
    """psycopg 3 `COPY … FROM STDIN` through the driver's C dumpers; binary when the column types are given.

    Binary skips formatting every value as text and the server's parsing of it (about half the cost).
    """
    cols = ", ".join(q(c) for c in columns)
    binary = " (FORMAT BINARY)" if types is not None else ""
    with cur.copy(f"COPY {target} ({cols}) FROM STDIN{binary}") as copy:
        if types is not None:
            copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)


class SqliteDialect(Dialect):
    name = "sqlite"
    param = "?"
    sql_types: ClassVar[dict[str, str]] = {
        "int": "INTEGER",
        "float": "REAL",
        "text": "TEXT",
        "bool": "INTEGER",
        "timestamp": "TEXT",
        "date": "TEXT",
    }
    day_number_template = "CAST(julianday({col}) - 2440587.5 AS INTEGER)"
    distinct = "IS NOT"

    def raw_table_name(self, table: Table) -> str:
        return f"{self.schema}_{table.name}"

    def table(self, table: Table) -> str:
        return q(self.raw_table_name(table))

    def existing_columns(self, cur: Any, table: Table) -> set[str]:
        cur.execute(f"PRAGMA table_info({self.table(table)})")
        return {row[1] for row in cur.fetchall()}

    def table_exists(self, cur: Any, table: Table) -> bool:
        cur.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (self.raw_table_name(table),)
        )
        return cur.fetchone() is not None

    def db_value(self, logical_type: str, value: Any) -> Any:
        if logical_type == "timestamp" and isinstance(value, datetime):
            # One fixed format, so text comparison orders timestamps correctly.
            return value.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        if logical_type == "date" and isinstance(value, datetime):
            return value.date().isoformat()
        if logical_type == "date" and isinstance(value, date):
            return value.isoformat()
        if logical_type == "bool":
            return int(bool(value))
        return value

    def upsert(self, cur: Any, table: Table, frame: pd.DataFrame, batch: int = 5000) -> int:
        """Batched `INSERT … ON CONFLICT … DO UPDATE`: SQLite has no COPY, executemany is its bulk path."""
        if frame.empty:
            return 0
        marks = ", ".join("?" for _ in table.column_names)
        sql = self.upsert_sql(self.table(table), table, f"VALUES ({marks})")
        rows = self.rows(frame, table)
        changed = 0
        for start in range(0, len(rows), batch):
            cur.executemany(sql, rows[start : start + batch])
            changed += max(int(cur.rowcount or 0), 0)
        return changed


class Warehouse:
    """An open warehouse connection with its dialect; use `transaction()` for every write."""

    def __init__(self, conn: Any, dialect: Dialect, conn_id: str) -> None:
        self.conn = conn
        self.dialect = dialect
        self.conn_id = conn_id

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        cur = self.conn.cursor()
        if self.dialect.name == "sqlite":
            cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
        except BaseException:
            self.conn.rollback()
            raise
        else:
            self.conn.commit()
        finally:
            cur.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        cur = self.conn.cursor()
        try:
            cur.execute(sql, tuple(params))
            names = [d[0] for d in cur.description]
            return names, [tuple(r) for r in cur.fetchall()]
        finally:
            cur.close()
            if self.dialect.name == "postgres":
                self.conn.rollback()  # end the read transaction; nothing was written

    def close(self) -> None:
        self.conn.close()


def _sqlite_math(conn: sqlite3.Connection) -> None:
    """Older SQLite builds lack math functions; the Wilson interval needs sqrt."""
    try:
        conn.execute("SELECT sqrt(4)").fetchone()
    except sqlite3.OperationalError:
        conn.create_function("sqrt", 1, lambda x: None if x is None else math.sqrt(x), deterministic=True)


@contextmanager
def open_warehouse(conn_id: str, schema: str = DEFAULT_SCHEMA) -> Iterator[Warehouse]:
    """Connect through the Airflow connection `conn_id`, choosing the dialect from its conn type."""
    from airflow.sdk import BaseHook

    check_identifier(schema)
    connection = BaseHook.get_connection(conn_id)
    conn_type = (connection.conn_type or "").lower()
    dialect: Dialect
    conn: Any
    if conn_type in POSTGRES_TYPES:
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        conn = PostgresHook(postgres_conn_id=conn_id).get_conn()
        conn.autocommit = False
        dialect = PostgresDialect(schema)
    elif conn_type in SQLITE_TYPES:
        from airflow.providers.sqlite.hooks.sqlite import SqliteHook

        sqlite_conn = SqliteHook(sqlite_conn_id=conn_id).get_conn()
        sqlite_conn.isolation_level = None  # explicit BEGIN/COMMIT: DDL and DML in one transaction
        _sqlite_math(sqlite_conn)
        conn = sqlite_conn
        dialect = SqliteDialect(schema)
    else:
        raise UnsupportedDialectError(
            f"warehouse_conn_id={conn_id!r} has conn_type={connection.conn_type!r}, which this package cannot "
            f"load into; supported conn types: {', '.join(SUPPORTED)}. Point warehouse_conn_id at a "
            "PostgreSQL or SQLite connection."
        )
    warehouse = Warehouse(conn, dialect, conn_id)
    try:
        yield warehouse
    finally:
        warehouse.close()
