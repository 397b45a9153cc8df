"""The warehouse engine adapter: everything that differs between SQL engines, behind one class.

Why one class per engine: the rest of the warehouse (DDL, loads, trends, views, reads) is written once, in
SQL both engines share, and asks the adapter for every piece that differs — identifier quoting, table
naming, bind-parameter style, column types, upsert and bulk load, percentiles, date arithmetic, transaction
boundaries, locks, scan strategy, statistics, session settings, connecting, catalog lookups and errors. So
an engine is one file here plus one line in the registry (`engines/__init__.py`); no other module may test
an engine's name (`tests/provider/test_engine_names.py`).

Every method an engine must decide is abstract: a new engine that forgets one fails when instantiated,
not with SQL meant for another engine.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from cekura_livekit.warehouse.tables import Table, check_identifier

#: The type of what a percentile aggregate returns per group: (group key…, count, mean, p…).
StatsRow = tuple[Any, ...]


class UnsupportedDialectError(ValueError):
    """The warehouse connection is of a type this package cannot load into."""


class WarehouseSettingError(ValueError):
    """A warehouse connection field holds a value the engine cannot use (permanent: fix the connection)."""


class WarehouseLockTimeoutError(TimeoutError):
    """A statement waited longer than the connection's lock timeout; the message names the blocking sessions.

    A TimeoutError (transient): the blocker may finish, so a retry later can succeed.
    """


def quote_identifier(identifier: str) -> str:
    """ANSI double-quoted identifier (doubling embedded quotes): what PostgreSQL, SQLite, DuckDB and
    Snowflake accept. An engine with other quoting (MariaDB's backticks) overrides `Dialect.quote`."""
    return '"' + identifier.replace('"', '""') + '"'


def seconds_setting(extra: Mapping[str, Any], field: str, default: float, conn_id: str) -> float:
    """A non-negative number of seconds from the connection extra (`field`), or `default` when absent."""
    raw = extra.get(field, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(raw, bool) or not value >= 0 or value == float("inf"):
        raise WarehouseSettingError(
            f"connection {conn_id!r} extra {field}={raw!r} is not a number of seconds >= 0; set it to e.g. "
            f"{default:g} (0 disables it) in the connection's extra JSON."
        )
    return value


class Dialect(abc.ABC):
    """One warehouse engine. `schema` is the namespace the tables live in (a schema, or a table prefix)."""

    #: Display name, for messages and logs only (never compared outside `engines/`).
    name: ClassVar[str] = ""
    #: Airflow connection types this adapter claims (the registry is built from them).
    conn_types: ClassVar[tuple[str, ...]] = ()
    #: What `schema` is on this engine, in messages: "schema" or "table prefix".
    namespace_kind: ClassVar[str] = "schema"
    #: The DB-API bind-parameter marker.
    param: ClassVar[str] = "?"
    #: Logical column type (tables.py) → SQL type.
    sql_types: ClassVar[dict[str, str]] = {}
    #: The null-safe "values differ" operator of the upsert's change test.
    distinct: ClassVar[str] = "IS DISTINCT FROM"

    def __init__(self, schema: str) -> None:
        self.schema = check_identifier(schema)

    # --- naming -------------------------------------------------------------------------------------------

    def quote(self, identifier: str) -> str:
        """`identifier` quoted for this engine's SQL."""
        return quote_identifier(identifier)

    @abc.abstractmethod
    def raw_table_name(self, table: Table) -> str:
        """The table's name inside its namespace, unquoted (as the catalog lists it)."""

    @abc.abstractmethod
    def table(self, table: Table) -> str:
        """The table's quoted, qualified name for SQL."""

    # --- dates --------------------------------------------------------------------------------------------

    def date_param(self) -> str:
        """A bind parameter holding an ISO date, usable where a date column is compared."""
        return self.param

    def concat(self, *parts: str) -> str:
        """SQL concatenating text expressions: ANSI `||` (MariaDB, where `||` is a logical OR, overrides it)."""
        return "(" + " || ".join(parts) + ")"

    def as_double(self, expr: str) -> str:
        """SQL casting `expr` to a double (a ratio's numerator): this engine's float column type, since the
        name differs (`DOUBLE PRECISION`, `DOUBLE`, `FLOAT`, `REAL`) and MariaDB's CAST knows only `DOUBLE`."""
        return f"CAST({expr} AS {self.sql_types['float']})"

    @abc.abstractmethod
    def day_number(self, column: str) -> str:
        """SQL turning the date expression `column` into an integer day number (for RANGE window frames)."""

    @abc.abstractmethod
    def days_before(self, expr: str, days: int) -> str:
        """SQL for the date `days` before the date expression `expr`, comparable with date columns."""

    # --- DDL ----------------------------------------------------------------------------------------------

    def create_statements(self, table: Table) -> list[str]:
        q = self.quote
        cols = ", ".join(
            f"{q(c)} {self.sql_types[t]}{' NOT NULL' if c in table.key else ''}" for c, t in table.columns
        )
        key = ", ".join(q(k) for k in table.key)
        return [f"CREATE TABLE IF NOT EXISTS {self.table(table)} ({cols}, PRIMARY KEY ({key}))"]

    def add_column_statement(self, table: Table, column: str) -> str:
        return (
            f"ALTER TABLE {self.table(table)} ADD COLUMN {self.quote(column)} "
            f"{self.sql_types[table.types[column]]}"
        )

    def create_index_statement(self, name: str, table: Table, columns: Sequence[str]) -> str:
        cols = ", ".join(self.quote(c) for c in columns)
        return f"CREATE INDEX IF NOT EXISTS {self.quote(name)} ON {self.table(table)} ({cols})"

    def drop_index_statement(self, name: str, table: Table) -> str:
        """`DROP INDEX` of the index `name` on `table`: qualified by the schema where indexes live in one
        (PostgreSQL, DuckDB), by the table on MariaDB; this default suits engines with global index names."""
        return f"DROP INDEX IF EXISTS {self.quote(name)}"

    def index_name(self, table: Table, columns: Sequence[str]) -> str:
        """`<raw table>_<columns>_idx`: the raw name carries the namespace, so it is unique even where index
        names are global to the database (SQLite)."""
        return f"{self.raw_table_name(table)}_{'_'.join(columns)}_idx"

    @abc.abstractmethod
    def ensure_schema(self, cur: Any) -> None:
        """Create the namespace if the engine has one to create."""

    @abc.abstractmethod
    def existing_columns(self, cur: Any, table: Table) -> set[str]:
        """Columns the table has (empty when it does not exist)."""

    @abc.abstractmethod
    def table_exists(self, cur: Any, table: Table) -> bool:
        """Whether the table exists, without touching it."""

    @abc.abstractmethod
    def existing_indexes(self, cur: Any) -> set[str]:
        """Names of the indexes in this namespace (or database, where index names are global)."""

    @abc.abstractmethod
    def existing_views(self, cur: Any) -> set[str]:
        """Raw names of the views in this namespace."""

    @abc.abstractmethod
    def comment_statements(self, table: Table, comments: Mapping[str, str]) -> list[str]:
        """Statements attaching the table's comment and `comments` (column → text) for BI tools; [] where
        the engine has no comments."""

    # --- values and bulk writes ---------------------------------------------------------------------------

    def db_value(self, logical_type: str, value: Any) -> Any:
        """A Python value as this engine's driver binds it for a column of `logical_type`."""
        return value

    def rows(self, frame: pd.DataFrame, table: Table) -> list[tuple[Any, ...]]:
        """Frame → DB-API rows in the table's column order, NA → None, types the driver binds.

        Column at a time, not value at a time: timestamps leave pandas in one vectorised call, and
        `db_value` runs per distinct value (dates repeat) or not at all when it is the identity.
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
            columns.append(self._converted(logical, values))
        return list(zip(*columns, strict=True))

    def _converted(self, logical: str, values: list[Any]) -> list[Any]:
        if logical not in {"timestamp", "date", "bool"}:
            return values
        probe = next((v for v in values if v is not None), None)
        if probe is None or self.db_value(logical, probe) is probe:
            return values
        if logical == "date":
            converted = {v: self.db_value(logical, v) for v in set(values) if v is not None}
            return [None if v is None else converted[v] for v in values]
        return [None if v is None else self.db_value(logical, v) for v in values]

    @abc.abstractmethod
    def upsert(self, cur: Any, table: Table, frame: pd.DataFrame) -> int:
        """Insert or update `frame`'s rows by the table's key, touching only changed rows; returns how many."""

    def insert_rows(self, cur: Any, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert derived rows (dicts keyed by column) into `table`, in its column order.

        Only date, timestamp and bool columns go through `db_value`: for every other type it is the identity,
        and skipping it matters when a rebuild writes tens of thousands of rows.
        """
        if not rows:
            return
        cols = table.column_names
        converted = {c: t for c, t in table.columns if t in {"date", "timestamp", "bool"}}
        # numpy scalars become Python ones (pandas 2's groupby keys are numpy.int64, pandas 3's are int): the
        # sqlite3 module stores a numpy.int64 as an 8-byte BLOB, through the buffer protocol.
        scalar = np.generic
        values = [
            tuple(
                self.db_value(converted[c], r[c])
                if c in converted
                else (v.item() if isinstance(v := r[c], scalar) else v)
                for c in cols
            )
            for r in rows
        ]
        self.write_rows(cur, table, values)

    def write_rows(self, cur: Any, table: Table, values: list[tuple[Any, ...]]) -> None:
        """Driver-ready rows into `table`: executemany unless the engine has a faster bulk path."""
        marks = ", ".join(self.param for _ in table.column_names)
        cols = ", ".join(self.quote(c) for c in table.column_names)
        cur.executemany(f"INSERT INTO {self.table(table)} ({cols}) VALUES ({marks})", values)

    def upsert_sql(self, target: str, table: Table, source: str) -> str:
        """`INSERT … ON CONFLICT … DO UPDATE … WHERE <changed>` (PostgreSQL, SQLite, DuckDB). Engines without
        ON CONFLICT (MariaDB's ON DUPLICATE KEY, Snowflake's MERGE) override `upsert` instead."""
        q = self.quote
        cols = ", ".join(q(c) for c in table.column_names)
        key = ", ".join(q(k) for k in table.key)
        sets = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in table.column_names if c not in table.key)
        old = ", ".join(f"{target}.{q(c)}" for c in table.value_columns)
        new = ", ".join(f"excluded.{q(c)}" for c in table.value_columns)
        return (
            f"INSERT INTO {target} ({cols}) {source} ON CONFLICT ({key}) DO UPDATE SET {sets} "
            f"WHERE ({old}) {self.distinct} ({new})"
        )

    @abc.abstractmethod
    def refresh_statistics(self, cur: Any, table: Table, changed: int) -> bool:
        """After a bulk change of `changed` rows, refresh the planner's statistics; False when not needed."""

    # --- aggregation --------------------------------------------------------------------------------------

    @abc.abstractmethod
    def value_stats(
        self,
        cur: Any,
        values_sql: str,
        key: Sequence[str],
        params: Sequence[Any],
        percentiles: Sequence[float],
    ) -> list[StatsRow]:
        """Per group of `key` over `values_sql` (columns: key…, value): (key…, count, mean, p…) with every
        percentile EXACT by linear interpolation (`measures.percentile`, PostgreSQL's percentile_cont)."""

    @staticmethod
    def percentile_cont_stats(
        cur: Any, values_sql: str, key: Sequence[str], params: Sequence[Any], percentiles: Sequence[float]
    ) -> list[StatsRow]:
        """`value_stats` for engines with the ordered-set aggregate `percentile_cont … WITHIN GROUP`
        (PostgreSQL, DuckDB, Snowflake): one grouped query, whose sort the percentiles of a group share."""
        cols = ", ".join(key)
        pcts = ", ".join(f"percentile_cont({float(p)!r}) WITHIN GROUP (ORDER BY value)" for p in percentiles)
        cur.execute(
            f"SELECT {cols}, COUNT(*), AVG(value), {pcts} FROM ({values_sql}) v GROUP BY {cols}", params
        )
        return list(cur.fetchall())

    @abc.abstractmethod
    def tune_for_aggregation(self, cur: Any) -> None:
        """Session settings for the rest of this transaction that large aggregations need (or nothing)."""

    @abc.abstractmethod
    def runs_from(self, cur: Any, runs: str, since: date, column: str) -> str:
        """The predicate ``column >= <date param>`` reading `runs` from `since` on, written the way this
        engine's planner reads such a range fastest (see `scan.py`)."""

    # --- transactions, locks, errors ----------------------------------------------------------------------

    @abc.abstractmethod
    def begin(self, cur: Any) -> None:
        """Start a write transaction on `cur` (and its per-transaction limits)."""

    @abc.abstractmethod
    def end_read(self, conn: Any) -> None:
        """End whatever a read left open on `conn` (nothing was written)."""

    @abc.abstractmethod
    def serialise(self, cur: Any, key: int) -> None:
        """Hold a transaction-scoped lock on `key` until commit, waiting for its holder (or nothing, where
        the engine already admits one writer at a time)."""

    @abc.abstractmethod
    def explain_failure(self, conn: Any, exc: BaseException, conn_id: str) -> BaseException | None:
        """After a failed (rolled back) transaction: a clearer error for `exc` (a lock wait that timed out
        names its blocker), or None to re-raise `exc` as it is."""

    # --- connecting ---------------------------------------------------------------------------------------

    @abc.abstractmethod
    def connect(self, conn_id: str, connection: Any) -> Any:
        """A DB-API connection from the Airflow connection `connection` (already fetched), ready for
        `begin`; refuses settings it cannot use with `WarehouseSettingError`."""

    @abc.abstractmethod
    def describe_target(self, connection: Any) -> str:
        """Where the connection points, for messages (host:port/database or a file), without secrets."""

    def write_probe_statements(self, table: Table) -> list[str]:
        """Statements that fail unless this session may insert and update `table`, and change nothing."""
        target, first = self.table(table), self.quote(table.column_names[0])
        return [
            f"INSERT INTO {target} SELECT * FROM {target} WHERE 1 = 0",
            f"UPDATE {target} SET {first} = {first} WHERE 1 = 0",
        ]


class SchemaQualified(Dialect):
    """The adapter base of engines whose tables live in a real SQL schema (PostgreSQL, DuckDB): tables are
    `"<schema>"."cekura_<name>"`, the schema is created on demand, `information_schema` lists the columns, and
    date minus date is a day count. One copy of what those engines share; the rest stays abstract."""

    def raw_table_name(self, table: Table) -> str:
        return f"cekura_{table.name}"

    def table(self, table: Table) -> str:
        return f"{self.quote(self.schema)}.{self.quote(self.raw_table_name(table))}"

    def day_number(self, column: str) -> str:
        return f"({column} - DATE '1970-01-01')"

    def days_before(self, expr: str, days: int) -> str:
        return f"({expr} - {int(days)})"

    def ensure_schema(self, cur: Any) -> None:
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {self.quote(self.schema)}")

    def existing_columns(self, cur: Any, table: Table) -> set[str]:
        p = self.param
        cur.execute(
            f"SELECT column_name FROM information_schema.columns WHERE table_schema = {p} AND table_name = {p}",
            (self.schema, self.raw_table_name(table)),
        )
        return {row[0] for row in cur.fetchall()}
