"""`open_warehouse` and `Warehouse` on every engine: a transaction commits or rolls back as a whole, a read
writes nothing and leaves no transaction open, and a bad schema or connection fails before connecting."""

from __future__ import annotations

import json

import pytest

from cekura_livekit.warehouse.connection import Warehouse, connection_of, open_warehouse
from cekura_livekit.warehouse.ddl import ensure_tables
from cekura_livekit.warehouse.tables import SYNC_STATE
from tests.support.warehouse import WarehouseTarget


def _prepare(wh: Warehouse) -> str:
    """The sync-state table (the smallest one), created the way a load creates it: engine-neutral SQL below."""
    with wh.transaction() as cur:
        ensure_tables(wh.dialect, cur)
    return wh.dialect.table(SYNC_STATE)


def test_the_adapter_follows_the_connection_type(warehouse: WarehouseTarget) -> None:
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        assert isinstance(wh, Warehouse)
        assert wh.conn_id == warehouse.conn_id
        assert wh.dialect.schema == warehouse.schema
        assert warehouse.dialect in type(wh.dialect).conn_types


def test_a_transaction_commits_when_the_block_ends(warehouse: WarehouseTarget) -> None:
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        table = _prepare(wh)
        with wh.transaction() as cur:
            cur.execute(f"INSERT INTO {table} (sync_id) VALUES ('one')")
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        assert wh.query(f"SELECT sync_id FROM {table}") == (["sync_id"], [("one",)])


def test_an_error_rolls_the_whole_transaction_back(warehouse: WarehouseTarget) -> None:
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        table = _prepare(wh)

        def half_way() -> None:
            with wh.transaction() as cur:
                cur.execute(f"INSERT INTO {table} (sync_id) VALUES ('one')")
                raise RuntimeError("half-way")

        with pytest.raises(RuntimeError, match="half-way"):
            half_way()
        assert wh.query(f"SELECT COUNT(*) AS n FROM {table}") == (["n"], [(0,)])
        with wh.transaction() as cur:  # the connection is usable afterwards
            cur.execute(f"INSERT INTO {table} (sync_id) VALUES ('two')")
        assert wh.query(f"SELECT sync_id FROM {table} WHERE sync_id = {wh.dialect.param}", ["two"])[1] == [
            ("two",)
        ]


def test_a_read_leaves_no_transaction_open(warehouse: WarehouseTarget) -> None:
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        wh.query("SELECT 1 AS one")
        assert not getattr(wh.conn, "in_transaction", False)
        info = getattr(wh.conn, "info", None)
        if info is not None and hasattr(info, "transaction_status"):
            import psycopg

            assert info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_the_connection_is_closed_after_the_block(warehouse: WarehouseTarget) -> None:
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        conn = wh.conn
    with pytest.raises(Exception, match=r"(?i)closed|2006"):  # MySQLdb: (2006, '') "server has gone away"
        conn.cursor().execute("SELECT 1")


@pytest.mark.parametrize("schema", ["bad-name", "x;drop", "1abc", "cekura\n", ""])
def test_a_bad_schema_is_refused_before_anything_connects(schema: str) -> None:
    with (
        pytest.raises(ValueError, match=r"schema=.* is not a plain SQL identifier.*e\.g\. 'cekura'"),
        open_warehouse("never_looked_up", schema),
    ):
        pass  # pragma: no cover


def test_an_undefined_connection_is_airflows_not_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_WH", raising=False)
    with pytest.raises(Exception, match="no_such_wh"):
        connection_of("no_such_wh")


def test_connection_of_returns_the_airflow_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WH_X", json.dumps({"conn_type": "sqlite", "host": "/tmp/x.db"}))
    conn = connection_of("wh_x")
    assert (conn.conn_type, conn.host) == ("sqlite", "/tmp/x.db")
