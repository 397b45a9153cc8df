"""The MariaDB/MySQL adapter (issue 23): binary collation, GET_LOCK that ends with the transaction, backtick
quoting, ON DUPLICATE KEY upsert, exact percentiles, connection refusals."""

from __future__ import annotations

import json
import os

import pytest

from cekura_livekit.results.frames import extract
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.engines.base import WarehouseLockTimeoutError, WarehouseSettingError
from cekura_livekit.warehouse.engines.mysql import MySqlDialect
from cekura_livekit.warehouse.read import read_daily
from cekura_livekit.warehouse.tables import RUNS
from cekura_livekit.warehouse.writer import load_extract
from tests.support.warehouse import WarehouseTarget, make_result, make_run
from tests.warehouse.engines.probe import (
    assert_percentiles_match_numpy,
    assert_upsert_touches_only_changed_rows,
)
from tests.warehouse.engines.probe import (
    one_batch as _batch,
)


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


# --- its own SQL ----------------------------------------------------------------------------------------------


def test_mariadb_quotes_with_backticks_and_concatenates_with_concat() -> None:
    """`||` is a logical OR on MariaDB, and double quotes delimit strings: both differ from the ANSI default."""
    dialect = MySqlDialect("cekura_x")
    assert dialect.quote("a`b") == "`a``b`"
    assert dialect.table(RUNS) == "`cekura_x`.`cekura_runs`"
    assert dialect.concat("a", "b") == "CONCAT(a, b)"
    assert "utf8mb4_bin" in dialect.column_type(RUNS, "suite")


def test_a_quoted_odd_name_round_trips_on_mariadb(mariadb_warehouse: WarehouseTarget) -> None:
    with open_warehouse(mariadb_warehouse.conn_id, mariadb_warehouse.schema) as wh:
        odd = "Odd `Name"
        names, rows = wh.query(f"SELECT 1 AS {wh.dialect.quote(odd)}")
    assert names == ["Odd `Name"]
    assert [tuple(int(v) for v in r) for r in rows] == [(1,)]


def test_the_mariadb_upsert_touches_only_changed_rows(mariadb_warehouse: WarehouseTarget) -> None:
    assert_upsert_touches_only_changed_rows(mariadb_warehouse)


def test_mariadb_percentiles_match_numpy(mariadb_warehouse: WarehouseTarget) -> None:
    assert_percentiles_match_numpy(mariadb_warehouse)


@pytest.mark.parametrize("field", ["lock_timeout", "statement_timeout"])
def test_a_bad_mariadb_timeout_extra_is_refused_naming_the_field(
    mariadb_warehouse: WarehouseTarget, monkeypatch: pytest.MonkeyPatch, field: str
) -> None:
    body = json.loads(os.environ["AIRFLOW_CONN_WH_MARIADB"])
    monkeypatch.setenv("AIRFLOW_CONN_WH_MARIADB_BAD", json.dumps({**body, "extra": {field: "soon"}}))
    with pytest.raises(WarehouseSettingError, match=rf"'wh_mariadb_bad' extra {field}='soon'"):
        load_extract("wh_mariadb_bad", _batch(), mariadb_warehouse.schema)
