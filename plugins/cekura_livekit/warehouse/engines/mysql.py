"""MySQL / MariaDB (mysqlclient through the Airflow MySQL provider): databases as schemas, backtick quoting,
a staged upsert (multi-row INSERT into a temporary table, one UPDATE … JOIN, one INSERT … SELECT), GET_LOCK.

What differs from the other engines, silently, and how this adapter answers it:
- DDL commits implicitly, so "one transaction, DDL included" does not hold: the writers run `ensure_tables`
  first (before any row is written) under a GET_LOCK, so a failed load can leave new, empty tables or
  columns behind but never partial rows. A re-key (`ddl.rekey_table`) is not atomic here.
- `GET_LOCK` is held by the session, not the transaction: the connection wrapper releases every lock on
  commit and rollback, so `serialise` keeps its transaction-scoped meaning.
- `||` is a logical OR (unless PIPES_AS_CONCAT): `concat` is CONCAT(); date − date is not a day count:
  `day_number` is DATEDIFF; CAST knows `DOUBLE` but not `DOUBLE PRECISION` (`as_double`).
- TEXT cannot be a key without a length: key text columns are VARCHAR(255); every text column has the
  binary collation, so 'Voice' and 'voice' (or 'a' and 'a ') stay distinct keys as on the other engines.
- TIMESTAMP ends in 2038 and follows the session time zone: timestamps are DATETIME(6) holding UTC.
- PERCENTILE_CONT exists only as a window function (MariaDB ≥ 10.3) and returns a DECIMAL with 10 digits;
  percentiles are streamed from a sorted read instead, exact (`measures.sorted_group_stats`).
- ANALYZE TABLE commits implicitly: statistics are left to InnoDB's automatic recalculation.
- `ALTER TABLE … RENAME TO x` resolves `x` in the session's current database: `ensure_schema` makes the
  warehouse's database current.
Loads run at READ COMMITTED, as on PostgreSQL, so a load that waited for the trends lock sees the rows the
previous one committed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, ClassVar

import pandas as pd

from cekura_livekit.warehouse.engines.base import (
    Dialect,
    StatsRow,
    WarehouseLockTimeoutError,
    seconds_setting,
)
from cekura_livekit.warehouse.measures import sorted_group_stats
from cekura_livekit.warehouse.tables import Table

LOCK_TIMEOUT_FIELD, DEFAULT_LOCK_TIMEOUT_S = "lock_timeout", 300.0
STATEMENT_TIMEOUT_FIELD, DEFAULT_STATEMENT_TIMEOUT_S = "statement_timeout", 3600.0
#: MariaDB/MySQL error numbers: lock wait timeout, and a statement killed by max_statement_time.
LOCK_WAIT_TIMEOUT, STATEMENT_TIMEOUT = 1205, 1969
TEXT_COLLATION = "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
#: Rows per multi-row INSERT into the staging table (mysqlclient's executemany batches one statement).
STAGE_BATCH = 5000


def quote_backtick(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


class MariaConnection:
    """mysqlclient's connection whose commit and rollback also release the session's GET_LOCKs."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def cursor(self) -> Any:
        return self.raw.cursor()

    def _release(self) -> None:
        cur = self.raw.cursor()
        try:
            cur.execute("SELECT RELEASE_ALL_LOCKS()")
            cur.fetchall()
        finally:
            cur.close()

    def commit(self) -> None:
        try:
            self.raw.commit()
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            self.raw.rollback()
        finally:
            self._release()

    def close(self) -> None:
        self.raw.close()


class MySqlDialect(Dialect):
    name = "MariaDB/MySQL"
    conn_types = ("mysql", "mariadb")
    namespace_kind = "database"
    param = "%s"
    sql_types: ClassVar[dict[str, str]] = {
        "int": "BIGINT",
        "float": "DOUBLE",
        "text": f"MEDIUMTEXT {TEXT_COLLATION}",
        "bool": "BOOLEAN",
        "timestamp": "DATETIME(6)",
        "date": "DATE",
    }
    #: A text column that is part of a key (a key cannot hold TEXT without a prefix length).
    #: 191 characters: InnoDB keys are at most 3,072 bytes, and the alert tables key on three utf8mb4 texts
    #: (3 × 255 × 4 bytes plus the ids was over it: "Specified key was too long").
    key_text = f"VARCHAR(191) {TEXT_COLLATION}"
    distinct = "<=>"  # not used by the upsert below (MariaDB has no IS DISTINCT FROM); kept for the record

    def __init__(self, schema: str) -> None:
        super().__init__(schema)
        self.lock_timeout_s = DEFAULT_LOCK_TIMEOUT_S
        self.statement_timeout_s = DEFAULT_STATEMENT_TIMEOUT_S

    # naming and dates
    def quote(self, identifier: str) -> str:
        return quote_backtick(identifier)

    def raw_table_name(self, table: Table) -> str:
        return f"cekura_{table.name}"

    def table(self, table: Table) -> str:
        return f"{self.quote(self.schema)}.{self.quote(self.raw_table_name(table))}"

    def date_param(self) -> str:
        return "CAST(%s AS DATE)"

    def concat(self, *parts: str) -> str:
        return "CONCAT(" + ", ".join(parts) + ")"

    def day_number(self, column: str) -> str:
        return f"DATEDIFF({column}, DATE '1970-01-01')"

    def days_before(self, expr: str, days: int) -> str:
        return f"DATE_SUB({expr}, INTERVAL {int(days)} DAY)"

    # catalog and DDL
    def column_type(self, table: Table, column: str) -> str:
        logical = table.types[column]
        indexed = column in table.key or any(column in index for index in table.indexes)
        return self.key_text if logical == "text" and indexed else self.sql_types[logical]

    def create_statements(self, table: Table) -> list[str]:
        q = self.quote
        cols = ", ".join(
            f"{q(c)} {self.column_type(table, c)}{' NOT NULL' if c in table.key else ''}"
            for c in table.column_names
        )
        key = ", ".join(q(k) for k in table.key)
        return [
            f"CREATE TABLE IF NOT EXISTS {self.table(table)} ({cols}, PRIMARY KEY ({key})) "
            f"ENGINE=InnoDB DEFAULT {TEXT_COLLATION}"
        ]

    def add_column_statement(self, table: Table, column: str) -> str:
        return f"ALTER TABLE {self.table(table)} ADD COLUMN {self.quote(column)} {self.column_type(table, column)}"

    def drop_index_statement(self, name: str, table: Table) -> str:
        return f"DROP INDEX IF EXISTS {self.quote(name)} ON {self.table(table)}"

    def ensure_schema(self, cur: Any) -> None:
        """The database, then USE it: unqualified names in DDL (RENAME TO) resolve to the current database."""
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {self.quote(self.schema)} {TEXT_COLLATION}")
        cur.execute(f"USE {self.quote(self.schema)}")

    def existing_columns(self, cur: Any, table: Table) -> set[str]:
        cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (self.schema, self.raw_table_name(table)),
        )
        return {row[0] for row in cur.fetchall()}

    def table_exists(self, cur: Any, table: Table) -> bool:
        cur.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            (self.schema, self.raw_table_name(table)),
        )
        return bool(cur.fetchall())

    def existing_indexes(self, cur: Any) -> set[str]:
        cur.execute(
            "SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = %s",
            (self.schema,),
        )
        return {row[0] for row in cur.fetchall()}

    def existing_views(self, cur: Any) -> set[str]:
        cur.execute("SELECT table_name FROM information_schema.views WHERE table_schema = %s", (self.schema,))
        return {row[0] for row in cur.fetchall()}

    def comment_statements(self, table: Table, comments: Mapping[str, str]) -> list[str]:
        """One ALTER per table: its comment and each column's, re-stating the column's definition (MariaDB
        attaches a column comment only through MODIFY; a metadata-only change, no table copy)."""
        parts = [f"COMMENT = {_literal(table.comment)}"] if table.comment else []
        for column in table.column_names:
            text = comments.get(column)
            if text:
                null = " NOT NULL" if column in table.key else ""
                parts.append(
                    f"MODIFY COLUMN {self.quote(column)} {self.column_type(table, column)}{null} "
                    f"COMMENT {_literal(text)}"
                )
        return [f"ALTER TABLE {self.table(table)} {', '.join(parts)}"] if parts else []

    # values and bulk writes
    def db_value(self, logical_type: str, value: Any) -> Any:
        if logical_type == "timestamp" and isinstance(value, datetime):
            if value.tzinfo is not None:
                value = value.astimezone(UTC).replace(tzinfo=None)
            return value.to_pydatetime() if isinstance(value, pd.Timestamp) else value
        if logical_type == "date" and isinstance(value, str):
            return date.fromisoformat(value)
        if logical_type == "date" and isinstance(value, datetime):
            return value.date()
        if logical_type == "bool" and value is not None:
            return bool(value)
        return value

    def upsert(self, cur: Any, table: Table, frame: pd.DataFrame) -> int:
        """Stage the rows (multi-row INSERTs into a temporary copy of the table), then UPDATE … JOIN the
        rows whose values differ (null-safe `<=>`) and INSERT … SELECT the new keys; returns both counts.

        Why not `INSERT … ON DUPLICATE KEY UPDATE`: it counts an update twice, cannot skip an unchanged
        row's `loaded_at` without order-dependent assignments, and names the new row with VALUES(), which
        MySQL 8 deprecates and MariaDB spells differently.
        """
        if frame.empty:
            return 0
        q = self.quote
        target = self.table(table)
        stage = f"{q(self.schema)}.{q('_load_' + self.raw_table_name(table))}"
        cols = ", ".join(q(c) for c in table.column_names)
        cur.execute(f"DROP TEMPORARY TABLE IF EXISTS {stage}")
        cur.execute(f"CREATE TEMPORARY TABLE {stage} LIKE {target}")
        rows = self.rows(frame, table)
        marks = ", ".join("%s" for _ in table.column_names)
        for start in range(0, len(rows), STAGE_BATCH):
            cur.executemany(
                f"INSERT INTO {stage} ({cols}) VALUES ({marks})", rows[start : start + STAGE_BATCH]
            )
        on = " AND ".join(f"t.{q(k)} = s.{q(k)}" for k in table.key)
        sets = ", ".join(f"t.{q(c)} = s.{q(c)}" for c in table.column_names if c not in table.key)
        old = ", ".join(f"t.{q(c)}" for c in table.value_columns)
        new = ", ".join(f"s.{q(c)}" for c in table.value_columns)
        cur.execute(f"UPDATE {target} t JOIN {stage} s ON {on} SET {sets} WHERE NOT (({old}) <=> ({new}))")
        changed = max(int(cur.rowcount or 0), 0)
        picked = ", ".join(f"s.{q(c)}" for c in table.column_names)
        cur.execute(
            f"INSERT INTO {target} ({cols}) SELECT {picked} FROM {stage} s LEFT JOIN {target} t ON {on} "
            f"WHERE t.{q(table.key[0])} IS NULL"
        )
        changed += max(int(cur.rowcount or 0), 0)
        cur.execute(f"DROP TEMPORARY TABLE {stage}")
        return changed

    def refresh_statistics(self, cur: Any, table: Table, changed: int) -> bool:
        """Not here: ANALYZE TABLE commits implicitly (it would end the load's transaction); InnoDB
        recalculates persistent statistics itself once ~10 % of a table's rows changed."""
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
        """Sorted by group and value, then one streaming pass (`measures.sorted_group_stats`): MariaDB's
        PERCENTILE_CONT is a window function only, and rounds to a DECIMAL(…, 10)."""
        cur.execute(f"SELECT * FROM ({values_sql}) v ORDER BY {', '.join(key)}, value", params)
        return sorted_group_stats(cur.fetchall(), len(key), percentiles)

    def tune_for_aggregation(self, cur: Any) -> None:
        """Nothing to tune per transaction: the server's sort and temporary-table sizes apply."""

    def runs_from(self, cur: Any, runs: str, since: date, column: str) -> str:
        """The plain predicate: InnoDB's optimizer estimates the range from the index itself."""
        return f"{column} >= {self.date_param()}"

    # transactions, locks, errors
    def begin(self, cur: Any) -> None:
        """Per-transaction limits (innodb_lock_wait_timeout, max_statement_time), then START TRANSACTION."""
        cur.execute(f"SET SESSION innodb_lock_wait_timeout = {max(int(self.lock_timeout_s), 1)}")
        cur.execute(f"SET SESSION max_statement_time = {float(self.statement_timeout_s)!r}")
        cur.execute("START TRANSACTION")

    def end_read(self, conn: Any) -> None:
        conn.rollback()  # end the read's snapshot; nothing was written

    def serialise(self, cur: Any, key: int) -> None:
        """GET_LOCK on a name derived from `key`, waiting up to the lock timeout; released at commit or
        rollback by `MariaConnection` (a GET_LOCK outlives transactions otherwise)."""
        cur.execute("SELECT GET_LOCK(%s, %s)", (f"cekura:{key}", max(self.lock_timeout_s, 0.001)))
        (got,) = cur.fetchone()
        if got != 1:
            raise WarehouseLockTimeoutError(
                f"GET_LOCK('cekura:{key}') on database {self.schema!r} was not granted within "
                f"lock_timeout={self.lock_timeout_s:g} s: another load or trends pass holds it. Let it finish "
                f"and retry, or raise the connection extra '{LOCK_TIMEOUT_FIELD}' (seconds)."
            )

    def explain_failure(self, conn: Any, exc: BaseException, conn_id: str) -> BaseException | None:
        code = exc.args[0] if getattr(exc, "args", None) else None
        if code not in {LOCK_WAIT_TIMEOUT, STATEMENT_TIMEOUT}:
            return None
        what = "a lock wait exceeded" if code == LOCK_WAIT_TIMEOUT else "a statement exceeded"
        field, limit = (
            (LOCK_TIMEOUT_FIELD, self.lock_timeout_s)
            if code == LOCK_WAIT_TIMEOUT
            else (STATEMENT_TIMEOUT_FIELD, self.statement_timeout_s)
        )
        return WarehouseLockTimeoutError(
            f"warehouse connection {conn_id!r}: {what} {field}={limit:g} s (database {self.schema!r}); nothing "
            f"was written. {self.blockers(conn)} Fix: end that session (KILL <id>) or let it finish and retry; "
            f"raise the connection extra '{field}' (seconds) to wait longer."
        )

    def blockers(self, conn: Any) -> str:
        """Other sessions with an open InnoDB transaction (who may hold the row or table locks)."""
        sql = (
            "SELECT p.id, p.user, p.command, p.time, LEFT(p.info, 120), t.trx_started "
            "FROM information_schema.innodb_trx t JOIN information_schema.processlist p "
            "ON p.id = t.trx_mysql_thread_id WHERE p.id <> CONNECTION_ID()"
        )
        try:
            cur = conn.cursor()
            cur.execute(sql)
            rows = cur.fetchall()
            cur.close()
        except Exception as exc:  # the diagnosis must not hide the timeout itself
            return f"(could not list the blocking sessions: {type(exc).__name__})"
        if not rows:
            return "No other session has an open transaction any more (the blocker finished)."
        return (
            "Open transactions: "
            + "; ".join(
                f"id={i} user={u!r} command={c!r} for {t} s since {s} (query: {info!r})"
                for i, u, c, t, info, s in rows
            )
            + "."
        )

    # connecting
    def connect(self, conn_id: str, connection: Any) -> Any:
        """Through the MySQL provider's hook (mysqlclient); UTC session time zone, READ COMMITTED."""
        from airflow.providers.mysql.hooks.mysql import MySqlHook

        extra = connection.extra_dejson
        self.lock_timeout_s = seconds_setting(extra, LOCK_TIMEOUT_FIELD, DEFAULT_LOCK_TIMEOUT_S, conn_id)
        self.statement_timeout_s = seconds_setting(
            extra, STATEMENT_TIMEOUT_FIELD, DEFAULT_STATEMENT_TIMEOUT_S, conn_id
        )
        raw: Any = MySqlHook(mysql_conn_id=conn_id).get_conn()
        raw.autocommit(False)
        cur = raw.cursor()
        try:
            cur.execute("SET SESSION time_zone = '+00:00'")
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        finally:
            cur.close()
        return MariaConnection(raw)

    def describe_target(self, connection: Any) -> str:
        return f"MariaDB/MySQL {connection.host or 'localhost'}:{connection.port or 3306}/{connection.schema or ''}"


def _literal(text: str) -> str:
    """Our own comment text as a SQL literal (backslashes are escapes in MariaDB strings)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"
