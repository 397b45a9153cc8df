"""`check_loadable` directly (the pre-flight's own tests go through `batch.preflight`): it passes for a warehouse
a load could write, leaves it unchanged, and otherwise names the connection, what failed and the fix."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from cekura_livekit.warehouse.loadable import WarehouseNotLoadableError, _first_line, check_loadable
from tests.support.warehouse import PG_DSN, pg_connection_json, require_postgres


def _sqlite(monkeypatch: pytest.MonkeyPatch, path: Path) -> str:
    monkeypatch.setenv("AIRFLOW_CONN_WH_LOADABLE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return "wh_loadable"


def test_a_writable_sqlite_file_passes_and_gets_no_tables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import sqlite3

    path = tmp_path / "w.db"
    check_loadable(_sqlite(monkeypatch, path), "cekura")
    if path.exists():
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == []


def test_an_unreachable_sqlite_path_names_the_connection_the_target_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(WarehouseNotLoadableError) as caught:
        check_loadable(_sqlite(monkeypatch, tmp_path / "missing-dir" / "w.db"))
    message = str(caught.value)
    for part in (
        "warehouse_conn_id='wh_loadable'",
        "missing-dir",
        "cannot be reached",
        "Fix the",
        "Nothing was submitted",
    ):
        assert part in message, part
    assert caught.value.__cause__ is None  # `from None`: the driver's traceback stays out of the task log


def test_a_bad_schema_is_refused_before_connecting() -> None:
    with pytest.raises(ValueError, match=r"schema='no-dashes' is not a plain SQL identifier"):
        check_loadable("never_looked_up", "no-dashes")


@pytest.fixture
def schema() -> Iterator[str]:
    require_postgres()
    name = f"cekura_ld_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.mark.postgres
def test_postgres_passes_and_the_schema_it_created_is_rolled_back(
    monkeypatch: pytest.MonkeyPatch, schema: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WH_LOADABLE_PG", pg_connection_json())
    check_loadable("wh_loadable_pg", schema)
    with psycopg.connect(PG_DSN) as conn:
        assert conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() is None


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (OSError("disk full\nmore detail"), "OSError: disk full"),
        (RuntimeError(""), "RuntimeError"),
        (ValueError("  padded  "), "ValueError: padded"),
    ],
)
def test_errors_are_told_in_one_line_with_their_type(exc: BaseException, line: str) -> None:
    assert _first_line(exc) == line
