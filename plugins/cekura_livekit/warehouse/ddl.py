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

from cekura_livekit.models import SUBMISSION_MODES, UNKNOWN_ROOMS
from cekura_livekit.warehouse.engines.base import Dialect
from cekura_livekit.warehouse.locks import DDL, serialise
from cekura_livekit.warehouse.tables import ALL_TABLES, RESULTS, RUNS, UNKNOWN_ID, Table
from cekura_livekit.warehouse.views import comment_tables, create_views, drop_views, missing_views

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
    """Create the schema and tables if missing, add any column a newer version declares, re-key tables whose
    key grew, and (re)create the analyst views and PostgreSQL comments.

    Runs in the caller's transaction (DDL is transactional in both engines, so a failed load leaves no
    half-made tables). Returns the columns added to tables that already existed (``table.column``).
    """
    if (
        not missing_columns(dialect, cur)
        and not _views_missing(dialect, cur)
        and not missing_indexes(dialect, cur)
    ):
        return []
    serialise(dialect, cur, DDL)
    missing = missing_columns(dialect, cur)  # another transaction may have created them while we waited
    if not missing and not _views_missing(dialect, cur) and not missing_indexes(dialect, cur):
        return []
    dialect.ensure_schema(cur)
    drop_views(dialect, cur)  # a re-keyed table cannot be swapped under a view that reads it
    added = _apply(dialect, cur, missing)
    if added:
        log.info("Added columns to existing warehouse tables: %s", ", ".join(added))
    if RUNS in missing and "mode" in missing[RUNS] and len(missing[RUNS]) < len(RUNS.column_names):
        backfill_run_grain(dialect, cur)
    for name, (table, columns) in missing_indexes(dialect, cur).items():
        cur.execute(dialect.create_index_statement(name, table, columns))
    create_views(dialect, cur)
    comment_tables(dialect, cur)
    return added


def index_name(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> str:
    """The adapter's index name (unique even where index names are global to the database)."""
    return dialect.index_name(table, columns)


def missing_indexes(
    dialect: Dialect, cur: Any, tables: tuple[Table, ...] = ALL_TABLES
) -> dict[str, tuple[Table, tuple[str, ...]]]:
    """Declared secondary indexes the database lacks (existing warehouses get them on their next load)."""
    wanted = {index_name(dialect, t, cols): (t, cols) for t in tables for cols in t.indexes}
    if not wanted:
        return {}
    present = dialect.existing_indexes(cur)
    return {name: spec for name, spec in wanted.items() if name not in present}


def _views_missing(dialect: Dialect, cur: Any) -> bool:
    return bool(missing_views(dialect, cur))


def _apply(dialect: Dialect, cur: Any, missing: dict[Table, list[str]]) -> list[str]:
    added: list[str] = []
    for table, lacking in missing.items():
        existed = len(lacking) < len(table.column_names)
        if existed and set(lacking) & set(table.key):
            added.extend(rekey_table(dialect, cur, table, lacking))
            continue
        for statement in dialect.create_statements(table):
            cur.execute(statement)
        if not existed:
            continue
        for column in lacking:
            cur.execute(dialect.add_column_statement(table, column))
            added.append(f"{dialect.raw_table_name(table)}.{column}")
    return added


_KEY_DEFAULTS = {"text": "''", "int": str(UNKNOWN_ID)}


def rekey_table(dialect: Dialect, cur: Any, table: Table, lacking: list[str]) -> list[str]:
    """A table whose primary key gained columns: create-new / copy / swap (under the caller's DDL lock).

    Rows keep their values; a new key column gets its 'unknown' value ('' or -1), other new columns NULL.
    Idempotent: the next check finds every column and does nothing. Used when the grain (mode, suite) was
    added to the trend tables; trend rows the next refresh rebuilds are replaced with their real grain.
    """
    q = dialect.quote
    old = Table(f"{table.name}_pre_rekey", table.columns, table.key)
    cur.execute(f"ALTER TABLE {dialect.table(table)} RENAME TO {q(dialect.raw_table_name(old))}")
    for statement in dialect.create_statements(table):
        cur.execute(statement)
    kept = [c for c in table.column_names if c not in lacking]
    filled = [c for c in lacking if c in table.key]
    values = [q(c) for c in kept] + [_KEY_DEFAULTS[table.types[c]] for c in filled]
    cur.execute(
        f"INSERT INTO {dialect.table(table)} ({', '.join(q(c) for c in [*kept, *filled])}) "
        f"SELECT {', '.join(values)} FROM {dialect.table(old)}"
    )
    cur.execute(f"DROP TABLE {dialect.table(old)}")
    log.info("Re-keyed %s on %s (new key columns: %s)", dialect.raw_table_name(table), table.key, filled)
    return [f"{dialect.raw_table_name(table)}.{c}" for c in lacking]


def backfill_run_grain(dialect: Dialect, cur: Any) -> None:
    """Runs loaded before the grain existed: mode from their result's submission mode and `run_as_text`,
    suite from the regression DAG id (`cekura_regression_<suite>`), the same rules as `grain_mode`."""
    q = dialect.quote
    runs, results = dialect.table(RUNS), dialect.table(RESULTS)
    sub = f"(SELECT r.{q('mode')} FROM {results} r WHERE r.{q('result_id')} = {runs}.{q('result_id')})"
    as_text = (
        f"COALESCE({q('run_as_text')}, (SELECT r.{q('run_as_text')} FROM {results} r "
        f"WHERE r.{q('result_id')} = {runs}.{q('result_id')}))"
    )
    channel = f"CASE WHEN {as_text} = TRUE OR {sub} IN ({_text_modes()}) THEN 'chat' ELSE 'voice' END"
    rooms = _rooms_case(sub)
    prefix = "cekura_regression_"
    suite = (
        f"CASE WHEN {q('dag_id')} LIKE '{prefix}%' THEN SUBSTR({q('dag_id')}, {len(prefix) + 1}) ELSE '' END"
    )
    grain = dialect.concat(channel, "'/'", rooms)
    cur.execute(f"UPDATE {runs} SET {q('mode')} = {grain}, {q('suite')} = {suite} WHERE {q('mode')} IS NULL")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _rooms_case(submission_mode: str) -> str:
    """CASE mapping a submission mode to its rooms grain, from `models.SUBMISSION_MODES` (each mode's
    `rooms`), so a new mode backfills without an edit here."""
    whens = " ".join(f"WHEN {_literal(m.name)} THEN {_literal(m.rooms)}" for m in SUBMISSION_MODES.values())
    return f"CASE {submission_mode} {whens} ELSE {_literal(UNKNOWN_ROOMS)} END"


def _text_modes() -> str:
    """The submission modes that run as text, as a SQL list (`SubmissionMode.text`)."""
    return ", ".join(_literal(m.name) for m in SUBMISSION_MODES.values() if m.text) or "NULL"
