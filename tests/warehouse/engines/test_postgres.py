"""The PostgreSQL adapter: lock and statement timeouts that name the blocking session (issue 24 item 6), the
connect timeout, table-specific column comments, and its own SQL (quoting, upsert, exact percentiles)."""

from __future__ import annotations

import json
import time

import pytest

from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.engines.base import WarehouseLockTimeoutError, WarehouseSettingError
from cekura_livekit.warehouse.engines.postgres import PostgresDialect
from cekura_livekit.warehouse.tables import RUNS
from cekura_livekit.warehouse.writer import load_extract
from tests.support.warehouse import PG_DSN, WarehouseTarget, require_postgres
from tests.warehouse.engines.probe import (
    assert_percentiles_match_numpy,
    assert_upsert_touches_only_changed_rows,
)
from tests.warehouse.engines.probe import (
    one_batch as _batch,
)

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


# --- its own SQL ----------------------------------------------------------------------------------------------


def test_postgres_tables_are_schema_qualified_and_quoted() -> None:
    dialect = PostgresDialect("cekura_x")
    assert dialect.table(RUNS) == '"cekura_x"."cekura_runs"'
    assert dialect.quote('we"ird') == '"we""ird"'
    assert dialect.param == "%s"


@pytest.mark.postgres
def test_a_quoted_odd_name_round_trips_on_postgres(pg_warehouse: WarehouseTarget) -> None:
    with open_warehouse(pg_warehouse.conn_id, pg_warehouse.schema) as wh:
        odd = 'Odd "Name'
        names, rows = wh.query(f"SELECT 1 AS {wh.dialect.quote(odd)}")
    assert names == ['Odd "Name']
    assert rows == [(1,)]


@pytest.mark.postgres
def test_the_postgres_upsert_touches_only_changed_rows(pg_warehouse: WarehouseTarget) -> None:
    assert_upsert_touches_only_changed_rows(pg_warehouse)


@pytest.mark.postgres
def test_postgres_percentiles_match_numpy(pg_warehouse: WarehouseTarget) -> None:
    assert_percentiles_match_numpy(pg_warehouse)


def test_an_unreachable_postgres_fails_within_the_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Port 9 (discard) refuses at once; the point is the message is the driver's, not a hang."""
    body = {"conn_type": "postgres", "host": "127.0.0.1", "port": 9, "login": "postgres", "schema": "test"}
    monkeypatch.setenv("AIRFLOW_CONN_WH_PG_NOWHERE", json.dumps({**body, "extra": {"connect_timeout": 2}}))
    started = time.monotonic()
    with pytest.raises(Exception, match="9"):
        load_extract("wh_pg_nowhere", _batch(), "cekura_nowhere")
    assert time.monotonic() - started < 10
