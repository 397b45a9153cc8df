"""The Snowflake adapter (issue 23), EMULATED with fakesnow (not a Snowflake account): upper-case names,
MERGE upsert, exact percentiles."""

from __future__ import annotations

from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.engines.snowflake import SnowflakeDialect
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


def test_snowflake_quotes_upper_case() -> None:
    dialect = SnowflakeDialect("cekura_x")
    assert dialect.quote("run_date") == '"RUN_DATE"'
    assert dialect.quote('we"ird') == '"WE""IRD"'
    assert dialect.table(RUNS) == '"CEKURA_X"."CEKURA_RUNS"'


def test_the_snowflake_merge_touches_only_changed_rows(snowflake_warehouse: WarehouseTarget) -> None:
    """EMULATED: the MERGE's change test, on fakesnow."""
    assert_upsert_touches_only_changed_rows(snowflake_warehouse)


def test_snowflake_percentiles_match_numpy(snowflake_warehouse: WarehouseTarget) -> None:
    """EMULATED: fakesnow runs the SQL on DuckDB, so this checks the SQL's shape, not Snowflake's engine."""
    assert_percentiles_match_numpy(snowflake_warehouse)
