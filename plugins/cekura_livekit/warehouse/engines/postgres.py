"""PostgreSQL (psycopg 3): schemas, binary COPY, percentile_cont, advisory locks, lock and statement timeouts.

Loads run concurrently (READ COMMITTED), serialised where they must be by transaction-scoped advisory locks
(`locks.py`). Every write transaction sets `lock_timeout` and `statement_timeout` (SET LOCAL, from the
connection extra, defaults below) so a session holding a table lock — a dead host's connection, an analyst's
open transaction — cannot block a load forever; when a lock wait times out, the error names the sessions
that held locks on the warehouse (pid, application_name, state, since when, what they ran).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, ClassVar

import pandas as pd

from cekura_livekit.warehouse import pgcopy
from cekura_livekit.warehouse.engines.base import (
    SchemaQualified,
    StatsRow,
    WarehouseLockTimeoutError,
    quote_identifier,
    seconds_setting,
)
from cekura_livekit.warehouse.locks import lock_key
from cekura_livekit.warehouse.tables import Table

#: Connection-extra fields (seconds; 0 disables) and their defaults. A lock wait longer than five minutes is
#: a stuck session, not a busy warehouse (a full trends rebuild at 1M runs holds its lock ~30 s); one
#: statement longer than an hour is a runaway.
LOCK_TIMEOUT_FIELD, DEFAULT_LOCK_TIMEOUT_S = "lock_timeout", 300.0
STATEMENT_TIMEOUT_FIELD, DEFAULT_STATEMENT_TIMEOUT_S = "statement_timeout", 3600.0
#: libpq's connect_timeout (seconds) unless the connection's extra sets one: without it, a host that drops
#: packets keeps a load (or the pre-flight) waiting for the operating system's TCP timeout.
DEFAULT_CONNECT_TIMEOUT_S = 10
#: SQLSTATE of "lock_not_available" (what lock_timeout raises).
LOCK_NOT_AVAILABLE = "55P03"


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
    cols = ", ".join(quote_identifier(c) for c in columns)
    binary = " (FORMAT BINARY)" if types is not None else ""
    with cur.copy(f"COPY {target} ({cols}) FROM STDIN{binary}") as copy:
        if types is not None:
            copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)


class PostgresDialect(SchemaQualified):
    name = "PostgreSQL"
    conn_types = ("postgres", "postgresql")
    namespace_kind = "schema"
    param = "%s"
    sql_types: ClassVar[dict[str, str]] = {
        "int": "BIGINT",
        "float": "DOUBLE PRECISION",
        "text": "TEXT",
        "bool": "BOOLEAN",
        "timestamp": "TIMESTAMPTZ",
        "date": "DATE",
    }
    copy_types: ClassVar[dict[str, str]] = {
        "int": "int8",
        "float": "float8",
        "text": "text",
        "bool": "bool",
        "timestamp": "timestamptz",
        "date": "date",
    }
    #: A load that changed at least this many rows and this share of a table's rows re-analyses it; a
    #: batch (≤ 200 runs by default) never does, a backfill does.
    BULK_ROWS = 1000
    BULK_SHARE = 0.1
    #: Memory for one sort or hash of the rebuild: a full rebuild groups ~1M runs and ~2M metric rows, which
    #: PostgreSQL's default 4 MB would spill to disk (measured: a 100 MB spill, several seconds).
    AGGREGATION_WORK_MEM = "128MB"

    def __init__(self, schema: str) -> None:
        super().__init__(schema)
        self.lock_timeout_s = DEFAULT_LOCK_TIMEOUT_S
        self.statement_timeout_s = DEFAULT_STATEMENT_TIMEOUT_S

    # naming and dates
    def date_param(self) -> str:
        return "CAST(%s AS DATE)"

    # catalog and DDL (schema-qualified naming: `SchemaQualified`)
    def table_exists(self, cur: Any, table: Table) -> bool:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (self.table(table),))
        row = cur.fetchone()
        return bool(row and row[0])

    def drop_index_statement(self, name: str, table: Table) -> str:
        """Indexes live in the table's schema, which is not on the search path: qualify the name."""
        return f"DROP INDEX IF EXISTS {self.quote(self.schema)}.{self.quote(name)}"

    def existing_indexes(self, cur: Any) -> set[str]:
        cur.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s", (self.schema,))
        return {row[0] for row in cur.fetchall()}

    def existing_views(self, cur: Any) -> set[str]:
        cur.execute("SELECT table_name FROM information_schema.views WHERE table_schema = %s", (self.schema,))
        return {row[0] for row in cur.fetchall()}

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

    def write_rows(self, cur: Any, table: Table, values: list[tuple[Any, ...]]) -> None:
        """One text COPY: a full rebuild writes tens of thousands of derived rows."""
        copy_rows(cur, self.table(table), table.column_names, values)

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
        temp = self.quote(f"_load_{self.raw_table_name(table)}")
        cur.execute(f"DROP TABLE IF EXISTS {temp}")
        cur.execute(f"CREATE TEMP TABLE {temp} (LIKE {target} INCLUDING DEFAULTS) ON COMMIT DROP")
        self.copy_frame(cur, temp, table, frame)
        cols = ", ".join(self.quote(c) for c in table.column_names)
        cur.execute(self.upsert_sql(target, table, f"SELECT {cols} FROM {temp}"))
        changed = int(cur.rowcount or 0)
        cur.execute(f"DROP TABLE {temp}")
        return changed

    def copy_frame(self, cur: Any, target: str, table: Table, frame: pd.DataFrame) -> None:
        """Binary COPY of `frame` into `target`: encoded column-wise when every column allows it exactly.

        The column-wise encoder (`pgcopy`) does in numpy what the row path does value by value; a frame it
        cannot encode exactly (object columns of dates, naive timestamps, a connection not in UTF-8) takes
        the row path, with psycopg's dumpers, unchanged.
        """
        encoded = pgcopy.encoder(frame, table.columns) if cur.connection.info.encoding == "utf-8" else None
        if encoded is not None:
            pgcopy.copy_frame(cur, target, encoded, self.quote)
            return
        types = [self.copy_types[table.types[c]] for c in table.column_names]
        copy_rows(cur, target, table.column_names, self.rows(frame, table), types)

    # aggregation
    def value_stats(
        self,
        cur: Any,
        values_sql: str,
        key: Sequence[str],
        params: Sequence[Any],
        percentiles: Sequence[float],
    ) -> list[StatsRow]:
        """percentile_cont (linear interpolation), whose sort the percentile calls of a group share."""
        return self.percentile_cont_stats(cur, values_sql, key, params, percentiles)

    def tune_for_aggregation(self, cur: Any) -> None:
        """SET LOCAL (this transaction only):

        - `work_mem`: enough to aggregate in memory.
        - `jit = off`: the rebuild's large cost estimates make PostgreSQL spend seconds compiling expressions
          for queries that then run in about as long (measured: 2.7 s of JIT in a 12.8 s query).
        - `random_page_cost = 1.1` (SSD-like): a one-day refresh joins the day's runs to their metrics by key;
          at the default 4 PostgreSQL preferred scanning every metric row ever loaded (2M rows, ~0.4 s) to
          ~14k index probes (~0.03 ms each).
        """
        cur.execute(f"SET LOCAL work_mem = '{self.AGGREGATION_WORK_MEM}'")
        cur.execute("SET LOCAL jit = off")
        cur.execute("SET LOCAL random_page_cost = 1.1")

    def runs_from(self, cur: Any, runs: str, since: date, column: str) -> str:
        """The plain predicate: PostgreSQL's planner has the range statistics to choose index or scan."""
        return f"{column} >= {self.date_param()}"

    # transactions, locks, errors
    def begin(self, cur: Any) -> None:
        """psycopg opens the transaction itself; set this transaction's lock and statement timeouts."""
        cur.execute(f"SET LOCAL lock_timeout = '{int(self.lock_timeout_s * 1000)}ms'")
        cur.execute(f"SET LOCAL statement_timeout = '{int(self.statement_timeout_s * 1000)}ms'")

    def end_read(self, conn: Any) -> None:
        conn.rollback()  # end the read transaction; nothing was written

    def serialise(self, cur: Any, key: int) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (key,))

    def explain_failure(self, conn: Any, exc: BaseException, conn_id: str) -> BaseException | None:
        if getattr(exc, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            return None
        return WarehouseLockTimeoutError(
            f"warehouse connection {conn_id!r}: a lock wait exceeded lock_timeout={self.lock_timeout_s:g} s "
            f"(schema {self.schema!r}); nothing was written. {self.blockers(conn)} Fix: end that session "
            f"(SELECT pg_terminate_backend(<pid>)) or let it finish and retry; raise the connection extra "
            f"'{LOCK_TIMEOUT_FIELD}' (seconds) to wait longer."
        )

    def blockers(self, conn: Any) -> str:
        """The other sessions holding locks on this schema's tables or its advisory locks (`locks.py`)."""
        sql = """
SELECT DISTINCT a.pid, a.application_name, a.state, a.xact_start, a.query_start, left(a.query, 120), l.mode,
       COALESCE(c.relname, l.locktype)
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
LEFT JOIN pg_class c ON c.oid = l.relation
LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.granted AND l.pid <> pg_backend_pid()
  AND (n.nspname = %s OR (l.locktype = 'advisory' AND l.objid = CAST(%s AS oid)))
ORDER BY a.pid"""
        # An advisory lock's objid is the low 32 bits of its key: this schema's part of `locks.lock_key`.
        schema_part = lock_key(self.schema, "") & 0xFFFFFFFF
        try:
            with conn.cursor() as cur:
                rows = cur.execute(sql, (self.schema, schema_part)).fetchall()
            conn.rollback()
        except Exception as exc:  # the diagnosis must not hide the timeout itself
            return f"(could not list the blocking sessions: {type(exc).__name__})"
        if not rows:
            return "No session holds a lock on it any more (the blocker finished)."
        sessions = [
            f"pid={pid} application_name={app!r} state={state!r} transaction since {xact} query since "
            f"{started} holding {mode} on {what!r} (last query: {query!r})"
            for pid, app, state, xact, started, query, mode, what in rows
        ]
        return "Blocking session(s): " + "; ".join(sessions) + "."

    # connecting
    def connect(self, conn_id: str, connection: Any) -> Any:
        """Through the Postgres provider's hook, given a copy of the connection whose extra holds libpq
        options only: our timeouts are read here (they are settings, not connection options), and a
        `connect_timeout` is added when absent, so an unreachable host fails in seconds, not minutes."""
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        extra = dict(connection.extra_dejson)
        self.lock_timeout_s = seconds_setting(extra, LOCK_TIMEOUT_FIELD, DEFAULT_LOCK_TIMEOUT_S, conn_id)
        self.statement_timeout_s = seconds_setting(
            extra, STATEMENT_TIMEOUT_FIELD, DEFAULT_STATEMENT_TIMEOUT_S, conn_id
        )
        for field in (LOCK_TIMEOUT_FIELD, STATEMENT_TIMEOUT_FIELD):
            extra.pop(field, None)
        extra.setdefault("connect_timeout", DEFAULT_CONNECT_TIMEOUT_S)
        options = copy.copy(connection)
        options.extra = json.dumps(extra)
        conn: Any = PostgresHook(postgres_conn_id=conn_id, connection=options).get_conn()
        conn.autocommit = False
        return conn

    def describe_target(self, connection: Any) -> str:
        return (
            f"PostgreSQL {connection.host or 'localhost'}:{connection.port or 5432}/{connection.schema or ''}"
        )


def _literal(text: str) -> str:
    """Our own comment text as a SQL literal (COMMENT takes no bind parameters)."""
    return "'" + text.replace("'", "''") + "'"
