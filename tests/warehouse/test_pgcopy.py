"""The column-wise binary COPY encoder (`warehouse.pgcopy`) against the row path it replaces, on real PostgreSQL.

The row path (`Dialect.rows` + psycopg's binary dumpers, one tuple a row) stays in the code as the fallback and
is the reference here: for frames with every column type of the fact tables and the awkward values (NULLs,
empty strings, non-ASCII text, timezones, dates before 1970, extreme ints and floats) the encoder must produce
the very same COPY bytes, and a load through it must leave the very same rows.
"""

from __future__ import annotations

import io
import itertools
import math
import uuid
import warnings
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cekura_livekit.results.schema import METRIC_COLUMNS, RESULT_COLUMNS, RUN_COLUMNS, TS
from cekura_livekit.warehouse import pgcopy
from cekura_livekit.warehouse.ddl import ensure_tables
from cekura_livekit.warehouse.engines.base import quote_identifier as q
from cekura_livekit.warehouse.engines.postgres import PostgresDialect
from cekura_livekit.warehouse.tables import RESULTS, RUN_METRICS, RUNS, Table
from tests.support.warehouse import PG_DSN, require_postgres

pytestmark = pytest.mark.postgres

DTYPES = {"results": RESULT_COLUMNS, "runs": RUN_COLUMNS, "run_metrics": METRIC_COLUMNS}

AWKWARD: dict[str, list[Any]] = {
    "int": [0, -1, 1, 2**63 - 1, -(2**63), None, 123_456_789_012, 255, 256, -256],
    "float": [0.0, -0.0, 1.5, 5e-324, 1.7976931348623157e308, math.inf, -math.inf, None, math.nan, -1 / 3],
    "text": [
        "",
        "plain",
        None,
        "é à ü ß",
        "中文字符",
        "emoji 😀 and 𝄞",
        "quote ' \" \\ tab\t newline\n cr\r",
        "x" * 1023,
        "y" * 1024,
        "ÿ" * 3000,
        " leading and trailing ",
        "\x01\x7f control",
    ],
    "bool": [True, False, None],
    "timestamp": [
        "2000-01-01T00:00:00Z",
        "1999-12-31T23:59:59.999999Z",
        "1969-07-20T20:17:40.123456Z",
        None,
        "2038-01-19T03:14:08Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z",
        "2024-02-29T12:00:00.5Z",
    ],
    "date": [
        "2000-01-01",
        "1999-12-31",
        "1970-01-01",
        None,
        "1900-03-01",
        "0001-01-01",
        "9999-12-31",
        "2024-02-29",
    ],
}


def _column(logical: str, dtype: str, rows: int, shift: int) -> pd.Series:
    """`rows` values of `logical` type cycling through its awkward values, in the frames' own dtype."""
    pool = AWKWARD[logical]
    values = [pool[(i + shift) % len(pool)] for i in range(rows)]
    if logical in {"timestamp", "date"}:
        # Parsed by Python, not `pd.to_datetime`: pandas 2 parses into nanoseconds, which cannot hold years 1
        # and 9999; the frames' microsecond dtype holds them on pandas 2 and 3.
        return pd.Series([None if v is None else datetime.fromisoformat(v) for v in values], dtype=dtype)
    if logical == "float":
        return pd.Series(values, dtype="float64").astype(dtype)  # NaN and None both become NA
    return pd.Series(values, dtype=dtype)


def awkward_frame(table: Table, rows: int = 37) -> pd.DataFrame:
    """Every column of `table`, awkward values everywhere, keys unique (`run_id` × `metric_id` distinct)."""
    dtypes = {**DTYPES[table.name], "loaded_at": TS}
    data: dict[str, pd.Series] = {}
    for shift, (name, logical) in enumerate(table.columns):
        if name in table.key:
            data[name] = pd.Series(np.arange(rows) * 7 - 100, dtype="Int64")
        else:
            data[name] = _column(logical, dtypes[name], rows, shift)
    return pd.DataFrame(data)


def reference_bytes(cur: Any, frame: pd.DataFrame, table: Table, columns: list[str]) -> bytes:
    """What the row path sends for `frame`, with the columns in the order `columns`."""
    from psycopg.copy import Copy, FileWriter

    dialect = PostgresDialect("x")
    order = [table.column_names.index(c) for c in columns]
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Discarding nonzero nanoseconds": the same floor
        rows = dialect.rows(frame, table)
    with Copy(cur, binary=True, writer=FileWriter(out)) as copy:
        copy.set_types([dialect.copy_types[table.types[c]] for c in columns])
        for row in rows:
            copy.write_row([row[i] for i in order])
    return out.getvalue()


def encoded_bytes(
    frame: pd.DataFrame, table: Table, chunk_rows: int = pgcopy.CHUNK_ROWS
) -> tuple[bytes, list[str]]:
    encoder = pgcopy.encoder(frame, table.columns)
    assert encoder is not None
    return b"".join(encoder.chunks(chunk_rows)), encoder.columns


@pytest.fixture
def pg() -> Iterator[Any]:
    require_postgres()
    import psycopg

    with psycopg.connect(PG_DSN) as conn:
        yield conn


@pytest.fixture
def schemas(pg: Any) -> Iterator[tuple[str, str]]:
    """Two fresh schemas (the encoder's and the row path's), dropped afterwards."""
    names = (f"cekura_t_{uuid.uuid4().hex[:10]}", f"cekura_t_{uuid.uuid4().hex[:10]}")
    try:
        yield names
    finally:
        pg.rollback()
        for name in names:
            pg.execute(f"DROP SCHEMA IF EXISTS {q(name)} CASCADE")
        pg.commit()


@pytest.mark.parametrize("table", [RUNS, RESULTS, RUN_METRICS], ids=lambda t: t.name)
@pytest.mark.parametrize("chunk_rows", [1, 3, pgcopy.CHUNK_ROWS])
def test_same_bytes_as_the_row_path(pg: Any, table: Table, chunk_rows: int) -> None:
    frame = awkward_frame(table)
    ours, columns = encoded_bytes(frame, table, chunk_rows)
    assert ours == reference_bytes(pg.cursor(), frame, table, columns)


def test_text_columns_come_first_and_all_null_ones_join_the_fixed_width_part(pg: Any) -> None:
    frame = awkward_frame(RUNS, rows=5)
    frame["dag_id"] = pd.Series([None] * 5, dtype="str")
    frame["duration_s"] = pd.Series([None] * 5, dtype="Float64")
    ours, columns = encoded_bytes(frame, RUNS)
    texts = [c for c, t in RUNS.columns if t == "text" and c != "dag_id"]
    assert columns[: len(texts)] == texts
    assert sorted(columns) == sorted(RUNS.column_names)
    assert ours == reference_bytes(pg.cursor(), frame, RUNS, columns)


@pytest.mark.parametrize("value", ["", "voice/managed", "ünïcödé 😀", "z" * 2000])
def test_a_column_with_one_value_is_encoded_once_and_the_same(pg: Any, value: str) -> None:
    frame = awkward_frame(RUNS, rows=40)
    frame["mode"] = pd.Series([value] * 40, dtype="str")
    frame["suite"] = pd.Series([value] * 39 + ["other"], dtype="str")  # differs on the last row only
    frame["dag_id"] = pd.Series([value] * 20 + [None] + [value] * 19, dtype="str")  # one NULL
    ours, columns = encoded_bytes(frame, RUNS, chunk_rows=16)
    texts = [c for c, t in RUNS.columns if t == "text" and c != "mode"]
    assert columns[: len(texts)] == texts  # `mode` went to the fixed-width part, the others did not
    assert ours == reference_bytes(pg.cursor(), frame, RUNS, columns)
    one = frame.head(1)
    ours, columns = encoded_bytes(one, RUNS)
    assert ours == reference_bytes(pg.cursor(), one, RUNS, columns)


def test_nul_in_a_one_value_column_fails_before_copying() -> None:
    frame = awkward_frame(RUNS, rows=3)
    frame["mode"] = pd.Series(["a\x00b"] * 3, dtype="str")
    with pytest.raises(pgcopy.NulInTextError, match="mode"):
        pgcopy.encoder(frame, RUNS.columns)


def test_other_dtypes_and_units_encode_like_the_row_path(pg: Any) -> None:
    """numpy dtypes, object text, nanosecond/second units, a non-UTC zone, dates with a time of day."""
    paris = pd.Series(
        pd.to_datetime(
            ["2024-06-01T00:30:00", "1960-01-01T23:59:59.999999999", None, "2024-10-27T02:30:00"],
            format="ISO8601",
        )
    ).dt.tz_localize("Europe/Paris", ambiguous=True)
    frame = pd.DataFrame(
        {
            "run_id": np.array([1, -2, 3, 4], dtype="int32"),
            "metric_id": np.array([0, 1, 2**31 - 1, 5], dtype="uint32"),
            "metric_name": pd.Series(["a", None, "é", ""], dtype=object),
            "metric_type": pd.Series(["x", "y", "z", "w"], dtype="string"),
            "score": np.array([1.5, np.nan, -np.inf, 2.0], dtype="float32"),
            "value": pd.Series([None, None, "", "v"], dtype="string[python]"),
            "passed": np.array([True, False, True, False]),
            "explanation": pd.Series(["[]", "", None, "ok"], dtype="str"),
            "metric_kind": pd.Series([None] * 4, dtype=object),
            "value_num": np.array([1, -(2**53) - 1, 0, 7], dtype="int64"),
            "unit": pd.Series(["ms", "s", "", None], dtype="str"),
            "value_enum": pd.Series(["a", "b", "c", "d"], dtype="str"),
            "rating": pd.array([0.5, None, 100.0, -0.0], dtype="Float32"),
            "loaded_at": paris.dt.as_unit("ns"),
        }
    )
    ours, columns = encoded_bytes(frame, RUN_METRICS)
    assert ours == reference_bytes(pg.cursor(), frame, RUN_METRICS, columns)
    runs = awkward_frame(RUNS, rows=4)
    runs["run_date"] = pd.Series(
        pd.to_datetime(["2024-01-01T23:59:59", "1969-12-31T12:00:00", None, "2000-01-01"], format="ISO8601")
    )
    runs["started_at"] = paris.dt.as_unit("s")
    ours, columns = encoded_bytes(runs, RUNS)
    assert ours == reference_bytes(pg.cursor(), runs, RUNS, columns)
    runs["run_date"] = paris  # an aware date column: its wall-clock calendar day, as `datetime.date()` gives
    ours, columns = encoded_bytes(runs, RUNS)
    assert ours == reference_bytes(pg.cursor(), runs, RUNS, columns)


@pytest.mark.parametrize(
    ("column", "values"),
    [
        ("run_date", pd.Series(["2024-01-01", "2024-01-02", None], dtype=object)),  # object column of dates
        # naive timestamps for a timestamptz column: the row path fails on them
        ("started_at", pd.Series(pd.to_datetime(["2024-01-01", "2024-01-02", None]))),
        ("run_id", pd.Series([1.0, 2.0, 3.0])),  # floats for an int8 column
        ("agent_name", pd.Series(["a", 1, None], dtype=object)),  # not all text
        ("success", pd.Series([1, 0, 1])),  # ints for a boolean column
        ("run_id", pd.Series([1, 2, 2**64 - 1], dtype="uint64")),  # beyond int8
        (
            "started_at",
            pd.Series(np.array(["2024-01-01", "12000-01-01", "NaT"], "M8[us]")).dt.tz_localize("UTC"),
        ),
    ],
)
def test_columns_it_cannot_encode_exactly_leave_the_frame_to_the_row_path(
    column: str, values: pd.Series
) -> None:
    frame = awkward_frame(RUNS, rows=3)
    frame[column] = values
    assert pgcopy.encoder(frame, RUNS.columns) is None


def test_a_multiple_of_256_columns_leaves_the_frame_to_the_row_path() -> None:
    columns = tuple((f"c{i}", "int") for i in range(256))
    frame = pd.DataFrame({name: pd.Series([1, None], dtype="Int64") for name, _ in columns})
    assert pgcopy.encoder(frame, columns) is None
    assert pgcopy.encoder(frame, columns[:255]) is not None


def test_empty_frame_is_signature_and_trailer() -> None:
    encoder = pgcopy.encoder(awkward_frame(RUNS).head(0), RUNS.columns)
    assert encoder is not None
    assert b"".join(encoder.chunks()) == pgcopy.SIGNATURE + pgcopy.TRAILER


def _rows_as_text(conn: Any, schema: str, table: Table) -> list[tuple[Any, ...]]:
    """Every row, every column as PostgreSQL prints it (NaN, -0, infinity and NULL all distinguishable)."""
    dialect = PostgresDialect(schema)
    cols = ", ".join(f"{q(c)}::text" for c in table.column_names)
    key = ", ".join(q(k) for k in table.key)
    rows = conn.execute(f"SELECT {cols} FROM {dialect.table(table)} ORDER BY {key}").fetchall()
    conn.rollback()
    return [tuple(r) for r in rows]


def _upserts(conn: Any, schema: str, table: Table, frames: list[pd.DataFrame]) -> list[int]:
    dialect = PostgresDialect(schema)
    changed = []
    for frame in frames:
        with conn.transaction():
            cur = conn.cursor()
            ensure_tables(dialect, cur)
            changed.append(dialect.upsert(cur, table, frame))
    return changed


def _changed_later(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    """The same keys with every value column rotated by one row (most rows change), plus new rows."""
    later = frame.copy()
    for name in table.value_columns:
        later[name] = frame[name].iloc[np.roll(np.arange(len(frame)), 1)].reset_index(drop=True)
    extra = frame.head(5).copy()
    for k in table.key:
        extra[k] = extra[k] + 10_000
    return pd.concat([later, extra], ignore_index=True)


@pytest.mark.parametrize("table", [RUNS, RESULTS, RUN_METRICS], ids=lambda t: t.name)
def test_loads_read_back_the_same_as_the_row_path(
    pg: Any, schemas: tuple[str, str], table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    """First load (COPY into the empty table), then an upsert through the temporary table, then a reload."""
    first = awkward_frame(table)
    frames = [first, _changed_later(first, table), first]
    ours = _upserts(pg, schemas[0], table, frames)
    with monkeypatch.context() as patch:
        patch.setattr(pgcopy, "encoder", lambda frame, columns: None)  # the row path, as before
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            reference = _upserts(pg, schemas[1], table, frames)
    assert ours == reference
    assert ours[0] == len(first)
    assert 0 < ours[1] <= len(frames[1])
    assert _rows_as_text(pg, schemas[0], table) == _rows_as_text(pg, schemas[1], table)


def test_awkward_values_arrive_as_written(pg: Any, schemas: tuple[str, str]) -> None:
    """Spot checks against PostgreSQL's own reading, not only against the row path."""
    frame = awkward_frame(RUNS, rows=len(AWKWARD["text"]))
    frame["agent_name"] = pd.Series(AWKWARD["text"], dtype="str")
    frame["duration_s"] = pd.Series([math.inf, -0.0, None] + [1.0] * (len(frame) - 3), dtype="Float64")
    _upserts(pg, schemas[0], RUNS, [frame])
    target = PostgresDialect(schemas[0]).table(RUNS)
    got = pg.execute(
        f"SELECT agent_name, agent_name IS NULL, octet_length(agent_name), duration_s::text FROM {target} "
        "ORDER BY run_id"
    ).fetchall()
    pg.rollback()
    assert [r[0] for r in got] == AWKWARD["text"]
    assert [r[1] for r in got] == [v is None for v in AWKWARD["text"]]
    assert [r[2] for r in got] == [None if v is None else len(v.encode()) for v in AWKWARD["text"]]
    assert [r[3] for r in got[:3]] == ["Infinity", "-0", None]
    stamps = pg.execute(
        f"SELECT started_at AT TIME ZONE 'UTC', run_date FROM {target} ORDER BY run_id LIMIT 3"
    ).fetchall()
    pg.rollback()
    expected = frame[["started_at", "run_date"]].head(3)
    for (stamp, day), (_, row) in zip(stamps, expected.iterrows(), strict=True):
        assert (stamp is None) == pd.isna(row["started_at"])
        if stamp is not None:
            assert pd.Timestamp(stamp, tz="UTC") == row["started_at"]
        assert (day is None) == pd.isna(row["run_date"])
        if day is not None:
            assert pd.Timestamp(day) == row["run_date"]


def test_nul_in_text_fails_and_leaves_the_table_as_it_was(pg: Any, schemas: tuple[str, str]) -> None:
    frame = awkward_frame(RUNS, rows=20)
    _upserts(pg, schemas[0], RUNS, [frame.head(10)])
    bad = frame.copy()
    bad.loc[15, "scenario_name"] = "nul \x00 inside"
    with pytest.raises(pgcopy.NulInTextError, match="scenario_name"):
        _upserts(pg, schemas[0], RUNS, [bad])
    assert len(_rows_as_text(pg, schemas[0], RUNS)) == 10


def test_chunks_split_anywhere_give_the_same_stream() -> None:
    frame = awkward_frame(RUN_METRICS, rows=50)
    whole, _ = encoded_bytes(frame, RUN_METRICS, chunk_rows=10_000)
    for size in (1, 2, 7, 49, 50):
        assert encoded_bytes(frame, RUN_METRICS, chunk_rows=size)[0] == whole
    encoder = pgcopy.encoder(frame, RUN_METRICS.columns)
    assert encoder is not None
    pieces = list(encoder.chunks(7))
    assert pieces[0].startswith(pgcopy.SIGNATURE)
    assert pieces[-1] == pgcopy.TRAILER
    assert len(pieces) == 1 + math.ceil(50 / 7) + 1
    assert list(itertools.accumulate(map(len, pieces)))[-1] == len(whole)
