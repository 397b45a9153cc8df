"""DuckDB: one file, schemas, pandas frames ingested through Arrow (no row inserts), percentile_cont.

Why a wrapped connection: a DuckDB connection's `cursor()` opens a *second connection* with its own
transaction, so `Warehouse.transaction()`'s `conn.commit()` would commit nothing the cursor wrote. The wrapper
hands out cursors that share the one connection.

One writer at a time: DuckDB lets one process open a file for writing (others fail to open it) and, inside
that process, resolves concurrent writers optimistically (the second to commit a conflicting change fails).
So every write transaction takes a per-file writer lock, waiting up to the connection extra's
`busy_timeout` seconds, and opening a file another process holds is retried for as long: concurrent loads
queue, as on SQLite, instead of failing half-way. Reads take no lock.

The file must be named by an absolute path in the connection's host (see `warehouse_file`: an in-memory
database would vanish with the load's connection, and a relative path resolves per worker).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from cekura_livekit.warehouse.engines.base import (
    SchemaQualified,
    StatsRow,
    WarehouseLockTimeoutError,
    WarehouseSettingError,
    seconds_setting,
)
from cekura_livekit.warehouse.tables import Table

BUSY_TIMEOUT_FIELD, DEFAULT_BUSY_TIMEOUT_S = "busy_timeout", 60.0
#: One writer lock per database file in this process (threads of one worker, or one test process).
_WRITERS: dict[str, threading.Lock] = {}
_WRITERS_GUARD = threading.Lock()


def _writer_lock(path: str) -> threading.Lock:
    with _WRITERS_GUARD:
        return _WRITERS.setdefault(path, threading.Lock())


def warehouse_file(conn_id: str, host: str | None) -> Path:
    """The database file a DuckDB connection names: an absolute path, the same for every process."""
    text = (host or "").strip()
    fix = (
        "Set the connection's host to the absolute path of the database file, e.g. "
        '{"conn_type": "duckdb", "host": "/opt/airflow/data/cekura_warehouse.duckdb"}.'
    )
    if not text or text.startswith(":memory:") or text.startswith("md:"):
        raise WarehouseSettingError(
            f"warehouse connection {conn_id!r} (duckdb) has host={host!r}: an in-memory (or MotherDuck) "
            f"database is not a warehouse this package loads into; a load would report rows no later read "
            f"finds. {fix}"
        )
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise WarehouseSettingError(
            f"warehouse connection {conn_id!r} (duckdb) has host={host!r}, a relative path: the load and the "
            f"reads would resolve it against their own working directories. {fix}"
        )
    return path


class _Cursor:
    """A DB-API cursor over the one shared DuckDB connection (DuckDB's own `cursor()` is a new connection)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.connection = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Cursor:
        self._conn.execute(sql, list(params))
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> _Cursor:
        self._conn.executemany(sql, [list(r) for r in rows])
        return self

    def fetchone(self) -> Any:
        return self._conn.fetchone()

    def fetchall(self) -> list[Any]:
        return self._conn.fetchall()

    def fetchmany(self, size: int) -> list[Any]:
        """Chunked reads (the report's daily frame) through the one connection."""
        return self._conn.fetchmany(size)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._conn.fetchall())

    @property
    def description(self) -> Any:
        return self._conn.description

    @property
    def rowcount(self) -> int:
        return int(self._conn.rowcount)

    def close(self) -> None:
        """Nothing to close: the cursor is the connection, which `Warehouse.close` closes."""


class DuckConnection:
    """The DuckDB connection plus its writer lock: `commit` / `rollback` end the transaction and release
    the lock `DuckDBDialect.begin` took."""

    def __init__(self, conn: Any, path: str, busy_timeout_s: float) -> None:
        self.raw = conn
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self._held = False

    def cursor(self) -> _Cursor:
        return _Cursor(self.raw)

    def acquire(self) -> None:
        if not _writer_lock(self.path).acquire(timeout=self.busy_timeout_s if self.busy_timeout_s else -1):
            raise TimeoutError(f"DuckDB writer lock on {self.path} not free after {self.busy_timeout_s:g} s")
        self._held = True

    def _release(self) -> None:
        if self._held:
            self._held = False
            _writer_lock(self.path).release()

    def commit(self) -> None:
        try:
            self.raw.commit()
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            self.raw.rollback()
        except Exception:  # no transaction active (BEGIN itself failed): nothing to roll back
            pass
        finally:
            self._release()

    def close(self) -> None:
        self._release()
        self.raw.close()


class DuckDBDialect(SchemaQualified):
    name = "DuckDB"
    conn_types = ("duckdb",)
    namespace_kind = "schema"
    param = "?"
    sql_types: ClassVar[dict[str, str]] = {
        "int": "BIGINT",
        "float": "DOUBLE",
        "text": "VARCHAR",
        "bool": "BOOLEAN",
        "timestamp": "TIMESTAMPTZ",
        "date": "DATE",
    }

    def __init__(self, schema: str) -> None:
        super().__init__(schema)
        self.busy_timeout_s = DEFAULT_BUSY_TIMEOUT_S
        self.path: Path | None = None

    # naming and dates
    def date_param(self) -> str:
        return "CAST(? AS DATE)"

    # catalog and DDL (schema-qualified naming: `SchemaQualified`)
    def table_exists(self, cur: Any, table: Table) -> bool:
        cur.execute(
            "SELECT 1 FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
            (self.schema, self.raw_table_name(table)),
        )
        return cur.fetchone() is not None

    def existing_indexes(self, cur: Any) -> set[str]:
        cur.execute("SELECT index_name FROM duckdb_indexes() WHERE schema_name = ?", (self.schema,))
        return {row[0] for row in cur.fetchall()}

    def existing_views(self, cur: Any) -> set[str]:
        cur.execute(
            "SELECT view_name FROM duckdb_views() WHERE schema_name = ? AND NOT internal", (self.schema,)
        )
        return {row[0] for row in cur.fetchall()}

    def drop_index_statement(self, name: str, table: Table) -> str:
        return f"DROP INDEX IF EXISTS {self.quote(self.schema)}.{self.quote(name)}"

    def comment_statements(self, table: Table, comments: Mapping[str, str]) -> list[str]:
        out = [f"COMMENT ON TABLE {self.table(table)} IS {_literal(table.comment)}"] if table.comment else []
        for column in table.column_names:
            text = comments.get(column)
            if text:
                out.append(f"COMMENT ON COLUMN {self.table(table)}.{self.quote(column)} IS {_literal(text)}")
        return out

    # values and bulk writes
    def db_value(self, logical_type: str, value: Any) -> Any:
        if logical_type == "timestamp" and isinstance(value, pd.Timestamp):
            return value.to_pydatetime()
        if logical_type == "date" and isinstance(value, str):
            return date.fromisoformat(value)
        if logical_type == "date" and isinstance(value, datetime):
            return value.date()
        return value

    def _frame_select(self, table: Table, source: str) -> str:
        """SELECT of a registered frame's columns cast to the table's types, in the table's column order."""
        q = self.quote
        return (
            "SELECT "
            + ", ".join(f"CAST({q(c)} AS {self.sql_types[t]}) AS {q(c)}" for c, t in table.columns)
            + f" FROM {source}"
        )

    def _check_bindable(self, table: Table, frame: pd.DataFrame) -> None:
        """Refuse a text column holding non-text Python objects: a registered frame would otherwise turn a
        dict into its repr silently, where the row-binding engines refuse it (`TypeError`, nothing written)."""
        for column, logical in table.columns:
            series = frame[column]
            if logical != "text" or series.dtype != object:
                continue
            kind = pd.api.types.infer_dtype(series, skipna=True)
            if kind not in {"string", "empty"}:
                bad = next((v for v in series if not _missing(v) and not isinstance(v, str)), None)
                if bad is None:
                    continue
                raise TypeError(
                    f"{table.name}.{column} holds a value of type {type(bad).__name__} ({bad!r:.60}), which "
                    "cannot be bound as text; build the frame with cekura_livekit.results.frames.extract()"
                )

    def upsert(self, cur: Any, table: Table, frame: pd.DataFrame) -> int:
        """DuckDB's bulk path: the frame is registered (scanned through Arrow, no per-row binding), then one
        `INSERT … SELECT … ON CONFLICT DO UPDATE … WHERE <changed>`; returns the rows inserted or changed.

        An empty table takes a plain INSERT … SELECT: with `begin`'s writer lock held no other load can add
        rows meanwhile, so every row is new and the outcome is the upsert's, without its conflict checks.
        """
        if frame.empty:
            return 0
        self._check_bindable(table, frame)
        view = f"_load_{self.schema}_{table.name}"
        raw = cur.connection
        target = self.table(table)
        select = self._frame_select(table, self.quote(view))
        raw.register(view, frame[table.column_names])
        try:
            cur.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {target})")
            if cur.fetchone()[0]:
                cols = ", ".join(self.quote(c) for c in table.column_names)
                cur.execute(f"INSERT INTO {target} ({cols}) {select}")
            else:
                cur.execute(self.upsert_sql(target, table, select))
            row = cur.fetchone()
        finally:
            raw.unregister(view)
        return int(row[0]) if row else 0

    def write_rows(self, cur: Any, table: Table, values: list[tuple[Any, ...]]) -> None:
        """Derived rows as one frame through the bulk path (executemany binds row by row: ~100× slower)."""
        if not values:
            return
        frame = pd.DataFrame.from_records(values, columns=table.column_names)
        view = f"_write_{self.schema}_{table.name}"
        raw = cur.connection
        raw.register(view, frame)
        try:
            cols = ", ".join(self.quote(c) for c in table.column_names)
            cur.execute(
                f"INSERT INTO {self.table(table)} ({cols}) {self._frame_select(table, self.quote(view))}"
            )
        finally:
            raw.unregister(view)

    def refresh_statistics(self, cur: Any, table: Table, changed: int) -> bool:
        """Not needed: DuckDB keeps its statistics (row counts, min/max per row group) as it writes."""
        return False

    # aggregation
    def value_stats(
        self,
        cur: Any,
        values_sql: str,
        key: Sequence[str],
        params: Sequence[Any],
        percentiles: Sequence[float],
    ) -> list[StatsRow]:
        """percentile_cont (linear interpolation, PostgreSQL's definition), computed by DuckDB's aggregate."""
        return self.percentile_cont_stats(cur, values_sql, key, params, percentiles)

    def tune_for_aggregation(self, cur: Any) -> None:
        """Nothing to tune: DuckDB spills to its temp directory by itself."""

    def runs_from(self, cur: Any, runs: str, since: date, column: str) -> str:
        """The plain predicate: DuckDB's zone maps skip row groups outside the range on a scan."""
        return f"{column} >= {self.date_param()}"

    # transactions, locks, errors
    def begin(self, cur: Any) -> None:
        """Take this file's writer lock (one writer at a time, see the module doc), then BEGIN."""
        conn: DuckConnection = self._session
        conn.acquire()
        cur.execute("BEGIN TRANSACTION")

    def end_read(self, conn: Any) -> None:
        """Nothing to end: outside `begin … commit` DuckDB runs each statement in its own transaction."""

    def serialise(self, cur: Any, key: int) -> None:
        """Nothing to do: `begin` already admits one writer at a time."""

    def explain_failure(self, conn: Any, exc: BaseException, conn_id: str) -> BaseException | None:
        if not isinstance(exc, TimeoutError) or isinstance(exc, WarehouseLockTimeoutError):
            return None
        return WarehouseLockTimeoutError(
            f"warehouse connection {conn_id!r}: another load held the DuckDB file {str(self.path)!r} for "
            f"busy_timeout={self.busy_timeout_s:g} s; nothing was written. Let it finish and retry, or raise "
            f"the connection extra '{BUSY_TIMEOUT_FIELD}' (seconds)."
        )

    # connecting
    def connect(self, conn_id: str, connection: Any) -> Any:
        """Through the Airflow DuckDB provider's hook (its extensions, limits and settings apply); opening a
        file another process writes is retried for up to `busy_timeout` seconds."""
        from airflow.providers.duckdb.hooks.duckdb import DuckDBHook

        self.path = warehouse_file(conn_id, connection.host)
        self.busy_timeout_s = seconds_setting(
            connection.extra_dejson, BUSY_TIMEOUT_FIELD, DEFAULT_BUSY_TIMEOUT_S, conn_id
        )
        hook = DuckDBHook(duckdb_conn_id=conn_id, database=str(self.path))
        deadline = time.monotonic() + self.busy_timeout_s
        delay = 0.05
        while True:
            try:
                raw = hook.get_conn()
                break
            except Exception as exc:
                if "lock" not in str(exc).lower() or time.monotonic() + delay > deadline:
                    if "lock" in str(exc).lower():
                        raise WarehouseLockTimeoutError(
                            f"warehouse connection {conn_id!r}: another process kept the DuckDB file "
                            f"{str(self.path)!r} open for busy_timeout={self.busy_timeout_s:g} s (DuckDB admits "
                            f"one process per file); let it finish, or raise the extra '{BUSY_TIMEOUT_FIELD}'."
                        ) from exc
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        raw.execute("SET TimeZone = 'UTC'")
        self._session = DuckConnection(raw, str(self.path), self.busy_timeout_s)
        return self._session

    def describe_target(self, connection: Any) -> str:
        return f"DuckDB file {connection.host!r}"


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _literal(text: str) -> str:
    """Our own comment text as a SQL literal (COMMENT takes no bind parameters)."""
    return "'" + text.replace("'", "''") + "'"
