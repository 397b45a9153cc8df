"""Snowflake (snowflake-connector-python behind the `snowflake` connection type): schemas in the connection's
database, upper-case identifiers, an upsert as UPDATE … FROM + INSERT … SELECT over bound rows, percentile_cont.

Tested against an EMULATOR (`fakesnow`, which runs Snowflake SQL on DuckDB), not a Snowflake account: see
docs/engines.md for what that proves and what it does not.

What differs, and how this adapter answers it:
- Unquoted identifiers are stored upper-case, quoted ones as written. The rest of the warehouse writes column
  names unquoted (→ upper-case) and quotes through `quote`, so `quote` upper-cases too: `"RUN_DATE"` and
  `run_date` are one column. Result column names come back upper-case; the connection's cursors report them
  lower-case, as every other engine does.
- DDL commits the open transaction and runs in its own. The writers run `ensure_tables` first (before any row
  is written), so a load is still all-or-nothing for rows; the cursor makes that commit explicit (COMMIT,
  the DDL, BEGIN again) so the emulator behaves as Snowflake does.
- No indexes (micro-partition pruning instead): the declared indexes are reported as present.
- No advisory locks: `serialise` does nothing. A DML statement locks its table until commit, and every
  statement reads what was committed when it started, so a trends rebuild (DELETE, then INSERT … SELECT)
  that waits for another one's lock sees that one's rows.
- The upsert is two statements over the same bound rows, not MERGE: the emulator cannot run MERGE inside a
  transaction (its MERGE creates a table), and in Snowflake both forms take the same table lock. The
  connector's staged bulk load (`write_pandas`: PUT + COPY INTO) creates a temporary stage, which is DDL and
  would commit a load half-way; the benchmark measures it as the raw bulk path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, ClassVar

import pandas as pd

from cekura_livekit.warehouse.engines.base import Dialect, StatsRow, quote_identifier
from cekura_livekit.warehouse.tables import ALL_TABLES, Table

#: Rows bound per upsert statement (the SQL text carries them).
UPSERT_BATCH = 2000
_DDL = ("CREATE", "ALTER", "DROP", "COMMENT")


class SnowCursor:
    """A connector cursor that reports column names lower-case and commits around DDL (Snowflake's rule)."""

    def __init__(self, session: SnowConnection) -> None:
        self._session = session
        self._cur = session.raw.cursor()
        self.connection = session.raw

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> SnowCursor:
        ddl = sql.lstrip().upper().startswith(_DDL) and self._session.in_transaction
        if ddl:
            self._session.raw.commit()
        self._cur.execute(sql, tuple(params) if params else None)
        if ddl:
            self._cur.execute("BEGIN")
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> SnowCursor:
        for row in rows:
            self._cur.execute(sql, tuple(row))
        return self

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._cur.fetchall())

    def fetchmany(self, size: int) -> list[Any]:
        """Chunked reads (the report's daily frame)."""
        return list(self._cur.fetchmany(size))

    @property
    def description(self) -> Any:
        desc = self._cur.description
        return None if desc is None else [(d[0].lower(), *tuple(d)[1:]) for d in desc]

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount or 0)

    def close(self) -> None:
        self._cur.close()


class SnowConnection:
    """The connector's connection, knowing whether a transaction is open (for the DDL rule above)."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.in_transaction = False

    def cursor(self) -> SnowCursor:
        return SnowCursor(self)

    def commit(self) -> None:
        self.in_transaction = False
        self.raw.commit()

    def rollback(self) -> None:
        self.in_transaction = False
        self.raw.rollback()

    def close(self) -> None:
        self.raw.close()


class SnowflakeDialect(Dialect):
    name = "Snowflake"
    conn_types = ("snowflake",)
    namespace_kind = "schema"
    param = "%s"
    sql_types: ClassVar[dict[str, str]] = {
        "int": "BIGINT",
        "float": "FLOAT",
        "text": "VARCHAR",
        "bool": "BOOLEAN",
        "timestamp": "TIMESTAMP_TZ",
        "date": "DATE",
    }

    def __init__(self, schema: str) -> None:
        super().__init__(schema)
        self._session: SnowConnection | None = None

    # naming and dates
    def quote(self, identifier: str) -> str:
        """Upper-case, quoted: the same column as the unquoted name the shared SQL writes."""
        return quote_identifier(identifier.upper())

    def raw_table_name(self, table: Table) -> str:
        return f"cekura_{table.name}"

    def table(self, table: Table) -> str:
        return f"{self.quote(self.schema)}.{self.quote(self.raw_table_name(table))}"

    def date_param(self) -> str:
        return "CAST(%s AS DATE)"

    def day_number(self, column: str) -> str:
        return f"DATEDIFF('day', DATE '1970-01-01', {column})"

    def days_before(self, expr: str, days: int) -> str:
        return f"CAST(DATEADD(day, {-int(days)}, {expr}) AS DATE)"

    # catalog and DDL
    def ensure_schema(self, cur: Any) -> None:
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {self.quote(self.schema)}")

    def existing_columns(self, cur: Any, table: Table) -> set[str]:
        cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (self.schema.upper(), self.raw_table_name(table).upper()),
        )
        return {row[0].lower() for row in cur.fetchall()}

    def table_exists(self, cur: Any, table: Table) -> bool:
        cur.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            (self.schema.upper(), self.raw_table_name(table).upper()),
        )
        return bool(cur.fetchall())

    def drop_index_statement(self, name: str, table: Table) -> str:
        """No secondary indexes to drop (see `existing_indexes`): a statement that changes nothing."""
        return "SELECT 1"

    def existing_indexes(self, cur: Any) -> set[str]:
        """Snowflake has no secondary indexes (it prunes micro-partitions): every declared one counts as
        present, so `ddl.ensure_tables` never tries to create one."""
        return {self.index_name(t, cols) for t in ALL_TABLES for cols in t.indexes}

    def existing_views(self, cur: Any) -> set[str]:
        cur.execute(
            "SELECT table_name FROM information_schema.views WHERE table_schema = %s", (self.schema.upper(),)
        )
        return {row[0].lower() for row in cur.fetchall()}

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

    def _source(self, table: Table, count: int) -> str:
        """A subquery of `count` bound rows, typed and named as the table's columns."""
        width = len(table.columns)
        rows = ", ".join("(" + ", ".join(["%s"] * width) + ")" for _ in range(count))
        cols = ", ".join(
            f"CAST(column{i + 1} AS {self.sql_types[t]}) AS {self.quote(c)}"
            for i, (c, t) in enumerate(table.columns)
        )
        return f"(SELECT {cols} FROM VALUES {rows})"

    def upsert(self, cur: Any, table: Table, frame: pd.DataFrame) -> int:
        """Per batch of bound rows: UPDATE the rows whose values differ (EQUAL_NULL: null-safe), then INSERT
        the new keys; returns both counts."""
        if frame.empty:
            return 0
        q = self.quote
        target = self.table(table)
        rows = self.rows(frame, table)
        on = " AND ".join(f"t.{q(k)} = s.{q(k)}" for k in table.key)
        sets = ", ".join(f"{q(c)} = s.{q(c)}" for c in table.column_names if c not in table.key)
        same = " AND ".join(f"EQUAL_NULL(t.{q(c)}, s.{q(c)})" for c in table.value_columns)
        cols = ", ".join(q(c) for c in table.column_names)
        changed = 0
        for start in range(0, len(rows), UPSERT_BATCH):
            batch = rows[start : start + UPSERT_BATCH]
            params = [v for row in batch for v in row]
            source = self._source(table, len(batch))
            cur.execute(f"UPDATE {target} t SET {sets} FROM {source} s WHERE {on} AND NOT ({same})", params)
            changed += max(int(cur.rowcount or 0), 0)
            cur.execute(
                f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {source} s "
                f"WHERE NOT EXISTS (SELECT 1 FROM {target} t WHERE {on})",
                params,
            )
            changed += max(int(cur.rowcount or 0), 0)
        return changed

    def write_rows(self, cur: Any, table: Table, values: list[tuple[Any, ...]]) -> None:
        """Derived rows as multi-row INSERTs of bound rows (one statement per batch, not one per row)."""
        cols = ", ".join(self.quote(c) for c in table.column_names)
        for start in range(0, len(values), UPSERT_BATCH):
            batch = values[start : start + UPSERT_BATCH]
            cur.execute(
                f"INSERT INTO {self.table(table)} ({cols}) SELECT {cols} FROM {self._source(table, len(batch))}",
                [v for row in batch for v in row],
            )

    def refresh_statistics(self, cur: Any, table: Table, changed: int) -> bool:
        """Not needed: Snowflake keeps micro-partition metadata as it writes."""
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
        """PERCENTILE_CONT (linear interpolation), an ordinary aggregate on Snowflake."""
        return self.percentile_cont_stats(cur, values_sql, key, params, percentiles)

    def tune_for_aggregation(self, cur: Any) -> None:
        """Nothing per transaction: the virtual warehouse's size is the knob (the connection's `warehouse`)."""

    def runs_from(self, cur: Any, runs: str, since: date, column: str) -> str:
        return f"{column} >= {self.date_param()}"

    # transactions, locks, errors
    def begin(self, cur: Any) -> None:
        cur.execute("BEGIN")
        if self._session is not None:
            self._session.in_transaction = True

    def end_read(self, conn: Any) -> None:
        """Nothing to end: reads run in autocommit mode."""

    def serialise(self, cur: Any, key: int) -> None:
        """Nothing to take: Snowflake has no advisory locks (see the module doc for why none is needed)."""

    def explain_failure(self, conn: Any, exc: BaseException, conn_id: str) -> BaseException | None:
        return None

    # connecting
    def connect(self, conn_id: str, connection: Any) -> Any:
        """The connector directly (the Airflow Snowflake provider pins older SQLAlchemy and python-dateutil
        than this project's Airflow uses): account, warehouse, database and role from the extra."""
        import snowflake.connector

        extra = connection.extra_dejson
        options = {
            "user": connection.login,
            "password": connection.password,
            "account": extra.get("account"),
            "warehouse": extra.get("warehouse"),
            "database": extra.get("database"),
            "role": extra.get("role"),
            "schema": connection.schema or None,
        }
        raw = snowflake.connector.connect(**{k: v for k, v in options.items() if v})
        self._session = SnowConnection(raw)
        return self._session

    def describe_target(self, connection: Any) -> str:
        extra = connection.extra_dejson
        return f"Snowflake account {extra.get('account')!r} database {extra.get('database')!r}"


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"
