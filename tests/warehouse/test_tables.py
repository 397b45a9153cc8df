"""The table declarations: identifiers are checked before any side effect, keys and comments name real
columns, the fact tables follow the frames' columns, and `passed`/`mode` say which meaning each table has."""

from __future__ import annotations

import pytest

from cekura_livekit.results.schema import METRIC_COLUMNS, RESULT_COLUMNS, RUN_COLUMNS
from cekura_livekit.warehouse.tables import (
    ALL_TABLES,
    COLUMN_COMMENTS,
    FACT_TABLES,
    RESULTS,
    RUN_METRICS,
    RUNS,
    SYNC_STATE,
    TABLE_COLUMN_COMMENTS,
    TREND_TABLES,
    Table,
    check_identifier,
    column_comments,
)

LOGICAL_TYPES = {"int", "float", "text", "bool", "timestamp", "date"}


@pytest.mark.parametrize("name", ["cekura", "_x", "Cekura_2024", "a" * 41])
def test_plain_identifiers_pass_unchanged(name: str) -> None:
    assert check_identifier(name) == name


@pytest.mark.parametrize("name", ["cekura\n", "1abc", "a-b", "a b", 'x"; DROP', "", "a" * 42, None, 5])
def test_anything_else_is_refused_naming_the_field_the_value_and_the_fix(name: object) -> None:
    with pytest.raises(ValueError) as caught:
        check_identifier(name, "warehouse_schema")
    message = str(caught.value)
    assert message.startswith(f"warehouse_schema={name!r} is not a plain SQL identifier")
    assert "e.g. 'cekura'" in message


@pytest.mark.parametrize("table", ALL_TABLES, ids=lambda t: t.name)
def test_every_table_is_well_formed(table: Table) -> None:
    names = table.column_names
    assert len(names) == len(set(names)), "a column declared twice"
    assert set(table.key) <= set(names), "the key names a missing column"
    assert set(table.types.values()) <= LOGICAL_TYPES
    assert all(set(index) <= set(names) for index in table.indexes)
    assert not set(table.value_columns) & {*table.key, "loaded_at"}
    assert table.comment


def test_table_names_are_unique_and_grouped_once() -> None:
    assert len({t.name for t in ALL_TABLES}) == len(ALL_TABLES)
    assert set(FACT_TABLES) | set(TREND_TABLES) | {SYNC_STATE} <= set(ALL_TABLES)
    assert not set(FACT_TABLES) & set(TREND_TABLES)


@pytest.mark.parametrize(
    ("table", "frame"), [(RESULTS, RESULT_COLUMNS), (RUNS, RUN_COLUMNS), (RUN_METRICS, METRIC_COLUMNS)]
)
def test_the_fact_tables_hold_the_frames_columns_and_a_load_stamp(
    table: Table, frame: dict[str, str]
) -> None:
    assert table.column_names == [*frame, "loaded_at"]
    assert table.types["loaded_at"] == "timestamp"


def test_run_date_is_a_date_and_indexed_for_the_refreshes() -> None:
    assert RUNS.types["run_date"] == "date"
    assert ("run_date",) in RUNS.indexes


def test_value_columns_leave_out_the_key_and_the_stamp() -> None:
    assert RUN_METRICS.value_columns == [
        c for c in RUN_METRICS.column_names if c not in ("run_id", "metric_id", "loaded_at")
    ]


def test_passed_and_mode_say_which_meaning_each_table_has() -> None:
    assert column_comments(RUN_METRICS)["passed"].startswith("BOOLEAN")
    assert column_comments(RESULTS)["mode"].startswith("SUBMISSION mode")
    assert column_comments(RUNS)["mode"] == COLUMN_COMMENTS["mode"]  # the grain: the shared comment
    for table in ALL_TABLES:
        if "passed" in table.column_names and table is not RUN_METRICS:
            assert column_comments(table)["passed"].startswith("COUNT"), table.name


def test_comments_only_for_existing_columns() -> None:
    for table in ALL_TABLES:
        assert set(column_comments(table)) <= set(table.column_names)
    by_name = {t.name: t for t in ALL_TABLES}
    for table_name, column in TABLE_COLUMN_COMMENTS:
        assert column in by_name[table_name].column_names, (table_name, column)
