"""Engine adapters at the connection boundary: which file a SQLite connection means (issue 24 item 5), lock
and statement timeouts on loads that name the blocking session (issue 24 item 6), the registry's errors."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from cekura_livekit.results.frames import extract
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.engines import REGISTRY, SUPPORTED, UnsupportedDialectError, engine_for
from cekura_livekit.warehouse.engines.base import WarehouseLockTimeoutError, WarehouseSettingError
from cekura_livekit.warehouse.read import read_daily, read_runs_summary
from cekura_livekit.warehouse.tables import RUNS
from cekura_livekit.warehouse.writer import load_extract
from tests.support.warehouse import PG_DSN, WarehouseTarget, make_result, make_run, require_postgres


def _batch(result_id: int = 1) -> object:
    runs = [make_run(result_id * 10 + i, day="2024-03-01", result_id=result_id) for i in range(5)]
    return extract(make_result(result_id, runs), mode="managed", suite="nightly")


def _sqlite_conn(monkeypatch: pytest.MonkeyPatch, host: object, **extra: object) -> str:
    body: dict[str, object] = {"conn_type": "sqlite", "host": host}
    if extra:
        body["extra"] = extra
    monkeypatch.setenv("AIRFLOW_CONN_WH_FILE", json.dumps(body))
    return "wh_file"


# --- issue 24.5: a SQLite connection resolves to one file, or is refused -------------------------------------


@pytest.mark.parametrize("host", ["", None, "   ", ":memory:", "file::memory:?cache=shared"])
def test_a_sqlite_connection_without_a_file_is_refused_before_loading(
    monkeypatch: pytest.MonkeyPatch, host: object
) -> None:
    conn_id = _sqlite_conn(monkeypatch, host)
    with pytest.raises(WarehouseSettingError) as caught:
        load_extract(conn_id, _batch())
    message = str(caught.value)
    assert "'wh_file'" in message
    assert f"host={host!r}" in message
    assert "absolute path" in message  # the fix


def test_a_relative_sqlite_path_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    conn_id = _sqlite_conn(monkeypatch, "warehouse.db")
    with pytest.raises(WarehouseSettingError, match="relative path"):
        load_extract(conn_id, _batch())
    assert not (tmp_path / "warehouse.db").exists()  # refused before anything was written


def test_a_load_and_a_read_through_one_sqlite_connection_see_the_same_rows(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    conn_id = _sqlite_conn(monkeypatch, str(tmp_path / "wh.db"))
    summary = load_extract(conn_id, _batch(), recompute_trends=True)
    assert summary.runs == 5
    monkeypatch.chdir(tmp_path.parent)  # a reader elsewhere resolves the same file
    assert int(read_runs_summary(conn_id)["runs"].sum()) == 5
    assert len(read_daily(conn_id)) == 1


# --- issue 24.6: lock and statement timeouts ------------------------------------------------------------------


def _pg_conn(monkeypatch: pytest.MonkeyPatch, **extra: object) -> str:
    require_postgres()
    body = {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"}
    monkeypatch.setenv("AIRFLOW_CONN_WH_PG_TIMEOUTS", json.dumps({**body, "extra": extra}))
    return "wh_pg_timeouts"


@pytest.mark.postgres
def test_a_load_blocked_by_a_session_holding_the_runs_lock_times_out_naming_it(
    pg_warehouse: WarehouseTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    load_extract(pg_warehouse.conn_id, _batch(1), pg_warehouse.schema)  # the tables exist
    conn_id = _pg_conn(monkeypatch, lock_timeout=0.5)
    table = f'"{pg_warehouse.schema}"."cekura_{RUNS.name}"'
    with psycopg.connect(PG_DSN, application_name="stuck-analyst-session") as blocker:
        blocker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        blocker_pid = blocker.info.backend_pid
        started = time.monotonic()
        with pytest.raises(WarehouseLockTimeoutError) as caught:
            load_extract(conn_id, _batch(2), pg_warehouse.schema)
        waited = time.monotonic() - started
        blocker.rollback()
    message = str(caught.value)
    assert waited < 10
    assert f"pid={blocker_pid}" in message
    assert "application_name='stuck-analyst-session'" in message
    assert "state='idle in transaction'" in message
    assert "lock_timeout=0.5 s" in message
    assert "'wh_pg_timeouts'" in message
    assert "nothing was written" in message
    # and nothing was: the second batch's runs are absent, the first's intact
    with open_warehouse(pg_warehouse.conn_id, pg_warehouse.schema) as wh:
        assert wh.query(f"SELECT result_id, COUNT(*) FROM {wh.dialect.table(RUNS)} GROUP BY result_id")[
            1
        ] == [(1, 5)]


@pytest.mark.postgres
def test_load_transactions_carry_the_configured_timeouts(
    pg_warehouse: WarehouseTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = _pg_conn(monkeypatch, lock_timeout=7, statement_timeout="90")
    with open_warehouse(conn_id, pg_warehouse.schema) as wh, wh.transaction() as cur:
        assert cur.execute("SHOW lock_timeout").fetchone()[0] == "7s"
        assert cur.execute("SHOW statement_timeout").fetchone()[0] == "90s"
    with open_warehouse(pg_warehouse.conn_id, pg_warehouse.schema) as wh, wh.transaction() as cur:
        assert cur.execute("SHOW lock_timeout").fetchone()[0] == "5min"  # the defaults
        assert cur.execute("SHOW statement_timeout").fetchone()[0] == "1h"


@pytest.mark.postgres
@pytest.mark.parametrize("value", ["soon", -1, True, float("inf")])
def test_a_bad_timeout_extra_is_refused_naming_the_field(
    pg_warehouse: WarehouseTarget, monkeypatch: pytest.MonkeyPatch, value: object
) -> None:
    conn_id = _pg_conn(monkeypatch, statement_timeout=value)
    with pytest.raises(WarehouseSettingError, match=r"extra statement_timeout=.* is not a number of seconds"):
        load_extract(conn_id, _batch(), pg_warehouse.schema)


def test_a_sqlite_load_blocked_by_another_writer_times_out_naming_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "wh.db"
    conn_id = _sqlite_conn(monkeypatch, str(path), busy_timeout=0.3)
    load_extract(conn_id, _batch(1))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(WarehouseLockTimeoutError) as caught:
            load_extract(conn_id, _batch(2))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert str(path) in str(caught.value)
    assert "busy_timeout=0.3 s" in str(caught.value)


def test_a_sqlite_load_waits_for_a_short_writer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "wh.db"
    conn_id = _sqlite_conn(monkeypatch, str(path), busy_timeout=20)
    load_extract(conn_id, _batch(1))
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        assert load_extract(conn_id, _batch(2)).runs == 5
    finally:
        release.join()
        holder.close()


# --- the registry ---------------------------------------------------------------------------------------------


def test_the_registry_maps_every_claimed_conn_type_to_its_adapter() -> None:
    assert sorted(REGISTRY) == SUPPORTED
    for conn_type, engine in REGISTRY.items():
        assert engine_for(conn_type.upper()) is engine
        assert conn_type in engine.conn_types


def test_an_unknown_conn_type_is_refused_naming_the_connection() -> None:
    with pytest.raises(UnsupportedDialectError, match=r"warehouse_conn_id='wh_x' has conn_type='oracle'"):
        engine_for("oracle", "wh_x")


# --- issue 23: DuckDB, MariaDB, Snowflake (emulated) -------------------------------------------------------------


@pytest.mark.parametrize("host", ["", ":memory:", "md:analytics", "warehouse.duckdb"])
def test_a_duckdb_connection_must_name_an_absolute_file(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WH_DUCK", json.dumps({"conn_type": "duckdb", "host": host}))
    with pytest.raises(WarehouseSettingError, match=r"(?s)'wh_duck'.*absolute path"):
        load_extract("wh_duck", _batch())


def test_concurrent_duckdb_loads_queue_on_the_files_writer_lock(duckdb_warehouse: WarehouseTarget) -> None:
    """DuckDB resolves concurrent writers optimistically (the second commit fails); the adapter's writer
    lock makes them queue instead, so both loads and their trend rebuilds succeed."""
    errors: list[BaseException] = []

    def load(result_id: int) -> None:
        try:
            load_extract(
                duckdb_warehouse.conn_id, _batch(result_id), duckdb_warehouse.schema, recompute_trends=True
            )
        except BaseException as exc:  # collected: a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(i,)) for i in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    daily = read_daily(duckdb_warehouse.conn_id, schema=duckdb_warehouse.schema)
    assert int(daily["runs"].sum()) == 20  # four batches of five runs, none lost to a conflict


def test_mariadb_keys_are_case_sensitive_like_every_other_engine(mariadb_warehouse: WarehouseTarget) -> None:
    """MariaDB's default collation compares 'Nightly' = 'nightly'; the adapter's binary collation keeps two
    suites apart, as PostgreSQL, SQLite and DuckDB do."""
    runs = [make_run(1, day="2024-03-01"), make_run(2, day="2024-03-01", result_id=2)]
    load_extract(
        mariadb_warehouse.conn_id,
        extract(make_result(1, runs[:1]), mode="managed", suite="Nightly"),
        mariadb_warehouse.schema,
        recompute_trends=True,
    )
    load_extract(
        mariadb_warehouse.conn_id,
        extract(make_result(2, runs[1:]), mode="managed", suite="nightly"),
        mariadb_warehouse.schema,
        recompute_trends=True,
    )
    daily = read_daily(mariadb_warehouse.conn_id, schema=mariadb_warehouse.schema)
    assert sorted(daily["suite"]) == ["Nightly", "nightly"]


def test_a_mariadb_load_waiting_on_the_trends_lock_times_out_and_the_lock_ends_with_the_transaction(
    mariadb_warehouse: WarehouseTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    import MySQLdb

    from cekura_livekit.warehouse.locks import TRENDS, lock_key
    from tests.support.warehouse import MARIADB

    load_extract(mariadb_warehouse.conn_id, _batch(1), mariadb_warehouse.schema, recompute_trends=True)
    name = f"cekura:{lock_key(mariadb_warehouse.schema, TRENDS)}"
    probe = MySQLdb.connect(**MARIADB)
    try:
        cur = probe.cursor()
        cur.execute("SELECT IS_FREE_LOCK(%s)", (name,))
        assert cur.fetchone()[0] == 1  # the finished load released its GET_LOCK at commit
        cur.execute("SELECT GET_LOCK(%s, 0)", (name,))
        body = json.loads(os.environ["AIRFLOW_CONN_WH_MARIADB"])
        monkeypatch.setenv(
            "AIRFLOW_CONN_WH_MARIADB_SHORT", json.dumps({**body, "extra": {"lock_timeout": 0.5}})
        )
        with pytest.raises(WarehouseLockTimeoutError, match=r"lock_timeout=0.5"):
            load_extract("wh_mariadb_short", _batch(2), mariadb_warehouse.schema, recompute_trends=True)
    finally:
        probe.close()
    assert int(read_daily(mariadb_warehouse.conn_id, schema=mariadb_warehouse.schema)["runs"].sum()) == 5


def test_snowflake_names_are_upper_case_and_results_come_back_lower_case(
    snowflake_warehouse: WarehouseTarget,
) -> None:
    """EMULATED (fakesnow). Unquoted names are upper-case on Snowflake: the adapter quotes upper-case, so the
    shared SQL's unquoted `run_date` and the adapter's quoted one are one column; frames keep our names."""
    load_extract(snowflake_warehouse.conn_id, _batch(), snowflake_warehouse.schema, recompute_trends=True)
    with open_warehouse(snowflake_warehouse.conn_id, snowflake_warehouse.schema) as wh:
        assert wh.dialect.table(RUNS) == f'"{snowflake_warehouse.schema.upper()}"."CEKURA_RUNS"'
        names, rows = wh.query(f"SELECT run_id, {wh.dialect.quote('run_date')} FROM {wh.dialect.table(RUNS)}")
    assert names == ["run_id", "run_date"]
    assert len(rows) == 5
    assert list(read_daily(snowflake_warehouse.conn_id, schema=snowflake_warehouse.schema)["runs"]) == [5]


@pytest.mark.postgres
def test_a_load_waiting_on_the_schema_trends_lock_names_its_holder(
    pg_warehouse: WarehouseTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    from cekura_livekit.warehouse.locks import TRENDS, lock_key

    load_extract(pg_warehouse.conn_id, _batch(1), pg_warehouse.schema)
    conn_id = _pg_conn(monkeypatch, lock_timeout=0.5)
    with psycopg.connect(PG_DSN, application_name="long-trends-rebuild") as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(pg_warehouse.schema, TRENDS),))
        with pytest.raises(WarehouseLockTimeoutError, match="application_name='long-trends-rebuild'"):
            load_extract(conn_id, _batch(2), pg_warehouse.schema, recompute_trends=True)
        holder.rollback()


@pytest.mark.postgres
def test_the_timeouts_are_settings_not_libpq_options_and_a_connect_timeout_is_set(
    pg_warehouse: WarehouseTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = _pg_conn(monkeypatch, lock_timeout=3, statement_timeout=4)  # libpq would refuse these names
    with open_warehouse(conn_id, pg_warehouse.schema) as wh:
        assert wh.conn.info.get_parameters().get("connect_timeout") == "10"
    conn_id = _pg_conn(monkeypatch, connect_timeout=2)
    with open_warehouse(conn_id, pg_warehouse.schema) as wh:
        assert wh.conn.info.get_parameters().get("connect_timeout") == "2"


@pytest.mark.postgres
def test_columns_with_two_meanings_carry_table_specific_comments(pg_warehouse: WarehouseTarget) -> None:
    """`mode` and `passed` mean different things in different tables; the comment says which (issue 18)."""
    load_extract(pg_warehouse.conn_id, _batch(), pg_warehouse.schema)

    def comment(table: str, column: str) -> str:
        with open_warehouse(pg_warehouse.conn_id, pg_warehouse.schema) as wh:
            _, rows = wh.query(
                "SELECT col_description(c.oid, a.attnum) FROM pg_class c "
                "JOIN pg_attribute a ON a.attrelid = c.oid "
                "WHERE c.oid = to_regclass(%s) AND a.attname = %s",
                (f'"{pg_warehouse.schema}"."cekura_{table}"', column),
            )
        return str(rows[0][0])

    assert comment("results", "mode").startswith("SUBMISSION mode")
    assert comment("runs", "mode").startswith("voice/chat x managed/byo")
    assert comment("run_metrics", "passed").startswith("BOOLEAN")
    assert comment("success_rate_daily", "passed").startswith("COUNT")
