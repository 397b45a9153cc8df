"""The SQLite adapter: which file a connection means (issue 24 item 5), its busy timeout that names the file
(issue 24 item 6), and its own SQL (quoting, upsert, exact percentiles)."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.engines.base import WarehouseLockTimeoutError, WarehouseSettingError
from cekura_livekit.warehouse.engines.sqlite import SqliteDialect, warehouse_file
from cekura_livekit.warehouse.read import read_daily, read_runs_summary
from cekura_livekit.warehouse.tables import RUNS
from cekura_livekit.warehouse.writer import load_extract
from tests.support.warehouse import WarehouseTarget
from tests.warehouse.engines.probe import (
    PROBE,
    assert_percentiles_match_numpy,
    assert_upsert_touches_only_changed_rows,
)
from tests.warehouse.engines.probe import (
    one_batch as _batch,
)


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


# --- its own SQL ----------------------------------------------------------------------------------------------


def test_sqlite_tables_are_prefixed_not_schema_qualified() -> None:
    dialect = SqliteDialect("cekura")
    assert dialect.table(RUNS) == '"cekura_runs"'
    assert dialect.quote('we"ird') == '"we""ird"'
    # SQLite's null-safe "differs" is IS NOT (it has no IS DISTINCT FROM before 3.39)
    assert 'IS NOT (excluded."label"' in dialect.upsert_sql('"t"', PROBE, "SELECT 1")


def test_a_quoted_odd_name_round_trips_on_sqlite(sqlite_warehouse: WarehouseTarget) -> None:
    with open_warehouse(sqlite_warehouse.conn_id, sqlite_warehouse.schema) as wh:
        odd = 'odd "name'
        names, rows = wh.query(f"SELECT 1 AS {wh.dialect.quote(odd)}")
    assert names == ['odd "name']
    assert rows == [(1,)]


def test_the_sqlite_upsert_touches_only_changed_rows(sqlite_warehouse: WarehouseTarget) -> None:
    assert_upsert_touches_only_changed_rows(sqlite_warehouse)


def test_sqlite_percentiles_match_numpy(sqlite_warehouse: WarehouseTarget) -> None:
    assert_percentiles_match_numpy(sqlite_warehouse)


def test_the_sqlite_file_is_the_absolute_path_named_trimmed() -> None:
    assert warehouse_file("wh", "  /srv/warehouse.db ") == Path("/srv/warehouse.db")
    with pytest.raises(WarehouseSettingError, match=r"'wh' \(sqlite\) has host='file:x.db'"):
        warehouse_file("wh", "file:x.db")
