"""The pre-flight connects to the warehouse and checks what the load needs before any paid call (issue 20
item 3): a wrong port, a missing database, a role that may not create or write the tables each fail at once
with a permanent error naming the connection, what failed and the fix; a good warehouse is left unchanged."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cekura_livekit.batch.errors import is_permanent
from cekura_livekit.batch.preflight import check_warehouse_connection, preflight
from cekura_livekit.batch.spec import build_spec
from cekura_livekit.results.frames import extract
from cekura_livekit.warehouse.loadable import WarehouseNotLoadableError
from cekura_livekit.warehouse.writer import load_extract
from tests.support.warehouse import PG_DSN, WarehouseTarget, make_result, make_run, require_postgres

PG = {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"}


def _conn(monkeypatch: pytest.MonkeyPatch, body: dict[str, object], conn_id: str = "wh_pre") -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(body))
    return conn_id


def _schema_exists(schema: str) -> bool:
    import psycopg

    with psycopg.connect(PG_DSN) as conn:
        return conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() is not None


@pytest.fixture
def schema() -> Iterator[str]:
    require_postgres()
    import psycopg

    name = f"cekura_pre_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def reader_role() -> Iterator[str]:
    """A login role with no privileges of its own (trust auth: no password)."""
    require_postgres()
    import psycopg

    role = f"cekura_ro_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
    yield role
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP OWNED BY "{role}"')
        conn.execute(f'DROP ROLE "{role}"')


def _assert_clear(exc: BaseException, *parts: str) -> None:
    message = str(exc)
    assert isinstance(exc, ValueError)
    assert is_permanent(exc)
    for part in ("'wh_pre'", "Nothing was submitted", *parts):
        assert part in message, (part, message)


@pytest.mark.postgres
def test_a_wrong_port_fails_before_submitting(monkeypatch: pytest.MonkeyPatch) -> None:
    require_postgres()
    conn_id = _conn(monkeypatch, {**PG, "port": 5439, "password": "pre-flight-secret"})
    with pytest.raises(WarehouseNotLoadableError) as caught:
        check_warehouse_connection(conn_id)
    _assert_clear(caught.value, "127.0.0.1:5439/test", "cannot be reached", "port")
    assert "pre-flight-secret" not in str(caught.value)


@pytest.mark.postgres
def test_a_missing_database_fails_before_submitting(monkeypatch: pytest.MonkeyPatch) -> None:
    require_postgres()
    conn_id = _conn(monkeypatch, {**PG, "schema": "no_such_database_here"})
    with pytest.raises(WarehouseNotLoadableError) as caught:
        check_warehouse_connection(conn_id)
    _assert_clear(caught.value, "no_such_database_here", "cannot be reached")


@pytest.mark.postgres
def test_a_role_that_cannot_create_the_schema_fails(
    monkeypatch: pytest.MonkeyPatch, reader_role: str, schema: str
) -> None:
    conn_id = _conn(monkeypatch, {**PG, "login": reader_role})
    with pytest.raises(WarehouseNotLoadableError) as caught:
        check_warehouse_connection(conn_id, schema)
    _assert_clear(caught.value, "could not create or extend the schema", schema, "InsufficientPrivilege")
    assert not _schema_exists(schema)


@pytest.mark.postgres
def test_a_read_only_role_on_existing_tables_fails(
    monkeypatch: pytest.MonkeyPatch, reader_role: str, pg_warehouse: WarehouseTarget
) -> None:
    import psycopg

    runs = [make_run(i, day="2024-03-01") for i in range(1, 4)]
    load_extract(pg_warehouse.conn_id, extract(make_result(1, runs)), pg_warehouse.schema)
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'GRANT USAGE ON SCHEMA "{pg_warehouse.schema}" TO "{reader_role}"')
        conn.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{pg_warehouse.schema}" TO "{reader_role}"')
    conn_id = _conn(monkeypatch, {**PG, "login": reader_role})
    with pytest.raises(WarehouseNotLoadableError) as caught:
        check_warehouse_connection(conn_id, pg_warehouse.schema)
    _assert_clear(caught.value, "could not insert into and update", "cekura_results", "InsufficientPrivilege")


@pytest.mark.postgres
def test_a_good_warehouse_passes_and_is_left_unchanged(monkeypatch: pytest.MonkeyPatch, schema: str) -> None:
    conn_id = _conn(monkeypatch, PG)
    check_warehouse_connection(conn_id, schema)
    assert not _schema_exists(schema)  # created inside the check's transaction, rolled back


def test_an_unwritable_sqlite_path_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conn_id = _conn(monkeypatch, {"conn_type": "sqlite", "host": str(tmp_path / "no-such-dir" / "w.db")})
    with pytest.raises(WarehouseNotLoadableError) as caught:
        check_warehouse_connection(conn_id)
    _assert_clear(caught.value, "no-such-dir", "cannot be reached")


def test_a_sqlite_warehouse_passes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conn_id = _conn(monkeypatch, {"conn_type": "sqlite", "host": str(tmp_path / "w.db")})
    check_warehouse_connection(conn_id)


def test_preflight_runs_the_check_for_the_spec_warehouse(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    conn_id = _conn(monkeypatch, {"conn_type": "sqlite", "host": str(tmp_path / "missing" / "w.db")})
    spec = build_spec({"agent_id": 1, "scenarios": [1], "warehouse_conn_id": conn_id}, strict=True)
    with pytest.raises(WarehouseNotLoadableError, match="'wh_pre'"):
        preflight(spec)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, "is not a defined Airflow connection"),
        ({"conn_type": "oracle"}, "conn_type='oracle'"),
        ({"conn_type": "sqlite", "host": ""}, "absolute path"),
    ],
)
def test_settings_errors_still_name_the_connection(
    monkeypatch: pytest.MonkeyPatch, body: dict[str, object] | None, expected: str
) -> None:
    conn_id = "wh_pre" if body is None else _conn(monkeypatch, body)
    if body is None:
        monkeypatch.delenv("AIRFLOW_CONN_WH_PRE", raising=False)
    with pytest.raises(ValueError, match=expected) as caught:
        check_warehouse_connection(conn_id)
    assert "'wh_pre'" in str(caught.value)
