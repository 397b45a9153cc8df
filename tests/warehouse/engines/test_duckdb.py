"""The DuckDB adapter (issue 23): a file, not a server; concurrent loads queue on the file's writer lock; its
own SQL (quoting, upsert, exact percentiles)."""

from __future__ import annotations

import json
import threading

import pytest

from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.engines.base import WarehouseSettingError
from cekura_livekit.warehouse.engines.duckdb import DuckDBDialect
from cekura_livekit.warehouse.read import read_daily
from cekura_livekit.warehouse.tables import RUNS
from cekura_livekit.warehouse.writer import load_extract
from tests.support.warehouse import WarehouseTarget
from tests.warehouse.engines.probe import (
    assert_percentiles_match_numpy,
    assert_upsert_touches_only_changed_rows,
)
from tests.warehouse.engines.probe import (
    one_batch as _batch,
)


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


# --- its own SQL ----------------------------------------------------------------------------------------------


def test_duckdb_tables_are_schema_qualified_and_quoted() -> None:
    dialect = DuckDBDialect("cekura_x")
    assert dialect.table(RUNS) == '"cekura_x"."cekura_runs"'
    assert dialect.quote('we"ird') == '"we""ird"'


def test_a_quoted_odd_name_round_trips_on_duckdb(duckdb_warehouse: WarehouseTarget) -> None:
    with open_warehouse(duckdb_warehouse.conn_id, duckdb_warehouse.schema) as wh:
        odd = 'Odd "Name'
        names, rows = wh.query(f"SELECT 1 AS {wh.dialect.quote(odd)}")
    assert names == ['Odd "Name']
    assert rows == [(1,)]


def test_the_duckdb_upsert_touches_only_changed_rows(duckdb_warehouse: WarehouseTarget) -> None:
    assert_upsert_touches_only_changed_rows(duckdb_warehouse)


def test_duckdb_percentiles_match_numpy(duckdb_warehouse: WarehouseTarget) -> None:
    assert_percentiles_match_numpy(duckdb_warehouse)
