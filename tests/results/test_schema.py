"""The frame schemas: the warehouse tables derive from them, so their names and dtypes are a contract."""

from __future__ import annotations

import pandas as pd

from cekura_livekit.results import schema
from cekura_livekit.results.frames import empty_frame

DTYPES = {schema.INT, schema.FLOAT, schema.BOOL, schema.STR, schema.TS, schema.DAY}


def test_every_column_has_a_known_dtype_and_the_keys_come_first() -> None:
    for columns, key in (
        (schema.RUN_COLUMNS, "run_id"),
        (schema.METRIC_COLUMNS, "run_id"),
        (schema.RESULT_COLUMNS, "result_id"),
    ):
        assert set(columns.values()) <= DTYPES
        assert next(iter(columns)) == key
        assert columns[key] == schema.INT


def test_the_grain_and_metric_kind_columns_exist() -> None:
    for name in ("suite", "mode", "dashboard_url", "quarantined", "dag_id", "dag_run_id", "run_date"):
        assert name in schema.RUN_COLUMNS
    for name in ("metric_kind", "passed", "value_num", "unit", "value_enum", "rating"):
        assert name in schema.METRIC_COLUMNS
    assert schema.METRIC_COLUMNS["passed"] == schema.BOOL


def test_empty_frames_carry_the_declared_dtypes() -> None:
    for columns in (schema.RUN_COLUMNS, schema.METRIC_COLUMNS, schema.RESULT_COLUMNS):
        frame = empty_frame(columns)
        assert list(frame.columns) == list(columns)
        assert {c: str(t) for c, t in frame.dtypes.items()} == columns
        assert isinstance(frame, pd.DataFrame)


def test_schema_does_not_import_pandas() -> None:
    """DAG files import the schema; pandas costs ~0.3 s a parse."""
    source = schema.__file__
    assert source is not None
    with open(source, encoding="utf-8") as handle:
        assert "import pandas" not in handle.read()


def test_the_text_dtype_is_this_pandas_own_and_keeps_missing_values_missing() -> None:
    """pandas 2's `astype("str")` writes None as 'None': the schema's text dtype must never do that."""
    expected = "str" if int(pd.__version__.split(".")[0]) >= 3 else "object"
    assert expected == schema.STR
    text = pd.Series(["a", None, float("nan"), ""], dtype=object).astype(schema.STR)
    assert str(text.dtype) == schema.STR
    assert text.isna().tolist() == [False, True, True, False]
    assert text[[0, 3]].tolist() == ["a", ""]
