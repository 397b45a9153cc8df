"""What every engine shares: the registry (conn_type → adapter and its refusal), ANSI quoting, the seconds
settings of a connection extra, and the `Dialect` defaults the adapters inherit."""

from __future__ import annotations

import pandas as pd
import pytest

from cekura_livekit.warehouse.engines import REGISTRY, SUPPORTED, UnsupportedDialectError, engine_for
from cekura_livekit.warehouse.engines.base import (
    WarehouseSettingError,
    quote_identifier,
    seconds_setting,
)
from cekura_livekit.warehouse.engines.postgres import PostgresDialect
from tests.warehouse.engines.probe import PROBE, probe_frame

# --- the registry ---------------------------------------------------------------------------------------------


def test_the_registry_maps_every_claimed_conn_type_to_its_adapter() -> None:
    assert sorted(REGISTRY) == SUPPORTED
    for conn_type, engine in REGISTRY.items():
        assert engine_for(conn_type.upper()) is engine
        assert conn_type in engine.conn_types


def test_an_unknown_conn_type_is_refused_naming_the_connection() -> None:
    with pytest.raises(UnsupportedDialectError, match=r"warehouse_conn_id='wh_x' has conn_type='oracle'"):
        engine_for("oracle", "wh_x")


# --- what the adapters inherit ----------------------------------------------------------------------------------


def test_ansi_quoting_doubles_embedded_quotes() -> None:
    assert quote_identifier("run_date") == '"run_date"'
    assert quote_identifier('we"ird') == '"we""ird"'
    assert quote_identifier("") == '""'


def test_seconds_settings_default_when_absent_and_accept_zero() -> None:
    assert seconds_setting({}, "lock_timeout", 300, "wh") == 300.0
    assert seconds_setting({"lock_timeout": "2.5"}, "lock_timeout", 300, "wh") == 2.5
    assert seconds_setting({"lock_timeout": 0}, "lock_timeout", 300, "wh") == 0.0  # 0 disables it


@pytest.mark.parametrize("value", ["soon", -1, True, float("nan"), float("inf"), None])
def test_a_bad_seconds_setting_names_the_connection_the_field_and_the_fix(value: object) -> None:
    with pytest.raises(WarehouseSettingError) as caught:
        seconds_setting({"busy_timeout": value}, "busy_timeout", 30, "wh_file")
    message = str(caught.value)
    assert "'wh_file'" in message
    assert f"busy_timeout={value!r}" in message
    assert "e.g. 30" in message


def test_the_shared_upsert_compares_values_but_not_the_key_or_the_load_stamp() -> None:
    """Issue 24: a reload of unchanged rows must write nothing, so `loaded_at` is outside the change test."""
    sql = PostgresDialect("s").upsert_sql('"t"', PROBE, "SELECT 1")
    assert 'ON CONFLICT ("k") DO UPDATE SET' in sql
    assert '"loaded_at" = excluded."loaded_at"' in sql  # a changed row takes the new stamp …
    condition = sql.split(" WHERE ", 1)[1]
    assert condition == '("t"."label", "t"."score") IS DISTINCT FROM (excluded."label", excluded."score")'


def test_rows_leave_pandas_missing_values_as_none_in_column_order() -> None:
    frame = probe_frame(["a", "b"], [1.0, 2.0])
    frame.loc[1, "score"] = pd.NA
    rows = PostgresDialect("s").rows(frame[["loaded_at", "score", "label", "k"]], PROBE)
    assert [r[:3] for r in rows] == [(1, "a", 1.0), (2, "b", None)]
