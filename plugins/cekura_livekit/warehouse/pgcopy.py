"""PostgreSQL binary COPY data for a typed pandas frame, built column at a time (issue 14, benchmark 3).

Why: handing psycopg one Python tuple per row makes the client, not the server, the slow side of a load
(about half its time went into building tuples and dumping values one by one). Here every fixed-width
column (int8, float8, bool, date, timestamptz) is converted to big-endian bytes by numpy in one call, text
columns are encoded in one `str.join` + `str.encode` per chunk, and the rows are assembled by a single
`str.join` over latin-1 strings (one character per byte, so joining them is joining the bytes; CPython joins
`str` far faster than `bytes`). No per-value Python work remains except that join.

The format (PostgreSQL docs, "COPY … BINARY"): a signature, then per row an int16 field count and per field
an int32 byte length (-1 for NULL) followed by the value in network byte order; an int16 -1 ends the data.
The fields go in the order of the COPY column list, so text columns come first and the fixed-width columns
last: each row then ends with one fixed-width block that numpy lays out as a packed record.

Exactness rules, the same as the row path (`Dialect.rows` + psycopg's binary dumpers): a value is NULL where
`Series.isna()` says so, and nothing else is (an empty string stays ''; a NaN in a float column that pandas
does not count as missing stays NaN); timestamps go as UTC microseconds (finer units are floored, as
`to_pydatetime` does); a date column holds midnight timestamps and goes as its calendar day. A column this
module cannot encode exactly (an object column of dates, naive timestamps for a timestamptz column, values
out of Python's datetime range…) makes `encoder` return None, and the caller uses the row path, which then
behaves, and fails, exactly as before.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = b"\xff\xff"
#: 2000-01-01, PostgreSQL's epoch, in Unix microseconds and days.
PG_EPOCH_US = 946_684_800_000_000
PG_EPOCH_DAYS = 10_957
_DAY_US = 86_400_000_000
#: Python's datetime range (years 1–9999): the row path cannot convert values outside it, so neither do we.
_MIN_US = -62_135_596_800_000_000
_MAX_US = 253_402_300_799_999_999
#: Rows encoded per `copy.write` (about 1 MB of COPY data for the runs table): the server starts on the first
#: chunk at once and works through the socket's buffer while the next is encoded; chunks this small also stay
#: in the CPU caches and reuse the allocator's memory (measured: 4,096 rows took 20% less CPU than 16,384).
CHUNK_ROWS = 4096

_NULL_HEADER = "\xff\xff\xff\xff"
#: The "format" of a column whose field is the same on every row (NULL everywhere, or one text value, as
#: mode, suite and DAG run are within one load): its bytes are encoded once, into the fixed-width part.
_CONST = "const"
#: Field headers (int32 big-endian byte length, as latin-1) for the common lengths, shared by every row.
_HEADERS = np.array([struct.pack(">i", n).decode("latin-1") for n in range(1024)] + [""], dtype=object)
_LONG = len(_HEADERS) - 1

#: Logical warehouse type → (big-endian numpy format of the value, PostgreSQL type name).
_FIXED_FORMATS = {
    "int": ">i8",
    "float": ">f8",
    "bool": "u1",
    "date": ">i4",
    "timestamp": ">i8",
}


@dataclass(frozen=True)
class _Column:
    """One column ready to encode: `values` in native order (object array of str for text)."""

    name: str
    fmt: str  # numpy format of the encoded value; "" for text
    values: np.ndarray
    missing: np.ndarray | None  # None when no value is missing


class NulInTextError(ValueError):
    """A text value contains NUL, which PostgreSQL text cannot store (the row path fails on it too)."""

    def __init__(self, column: str) -> None:
        super().__init__(
            f"column {column!r} has a value containing NUL (\\x00), which PostgreSQL text cannot store; "
            "nothing was loaded. Fix: strip NUL characters from that field before loading (e.g. "
            "frame[column] = frame[column].str.replace('\\x00', ''))."
        )


def _missing(series: pd.Series) -> np.ndarray | None:
    missing = series.isna().to_numpy(dtype=bool)
    return missing if missing.any() else None


def _integers(series: pd.Series) -> np.ndarray | None:
    dtype = series.dtype
    if dtype.kind not in "iu" or (dtype.kind == "u" and dtype.itemsize >= 8):
        if not (dtype.kind == "u" and dtype.itemsize >= 8):
            return None
        # uint64: exact only while every value fits an int8 column; otherwise the row path reports it.
        values = series.to_numpy(dtype="uint64", na_value=0)
        return values.astype("int64") if not len(values) or values.max() <= np.iinfo("int64").max else None
    return series.to_numpy(dtype="int64", na_value=0)


def _floats(series: pd.Series) -> np.ndarray | None:
    if series.dtype.kind not in "iuf":
        return None
    return series.to_numpy(dtype="float64", na_value=np.nan)


def _bools(series: pd.Series) -> np.ndarray | None:
    if series.dtype.kind != "b":
        return None
    return series.to_numpy(dtype="uint8", na_value=0)


def _microseconds(series: pd.Series, missing: np.ndarray | None) -> np.ndarray | None:
    """Unix microseconds of a datetime64 column (floored, like `to_pydatetime`), None if out of range."""
    if not pd.api.types.is_datetime64_any_dtype(series.dtype):
        return None
    array = series.array
    raw = array.asi8 if missing is None else np.where(missing, 0, array.asi8)
    unit = array.unit
    if unit in {"s", "ms"}:
        factor = 1_000_000 if unit == "s" else 1_000
        if len(raw) and (raw.max() > _MAX_US // factor or raw.min() < _MIN_US // factor):
            return None
        us = raw * factor
    else:
        us = raw // 1_000 if unit == "ns" else raw
    if len(us) and (us.max() > _MAX_US or us.min() < _MIN_US):
        return None
    return us


def _timestamps(series: pd.Series, missing: np.ndarray | None) -> np.ndarray | None:
    """timestamptz: microseconds since 2000-01-01 UTC; naive timestamps are refused (the row path fails)."""
    if getattr(series.dtype, "tz", None) is None:
        return None
    us = _microseconds(series, missing)
    return None if us is None else us - PG_EPOCH_US


def _dates(series: pd.Series, missing: np.ndarray | None) -> np.ndarray | None:
    """date: days since 2000-01-01 of the (wall-clock) calendar day, as `datetime.date()` gives it."""
    if getattr(series.dtype, "tz", None) is not None:
        series = series.dt.tz_localize(None)
    us = _microseconds(series, missing)
    return None if us is None else (us // _DAY_US - PG_EPOCH_DAYS).astype("int32")


def _texts(series: pd.Series) -> np.ndarray | None:
    if isinstance(series.dtype, pd.StringDtype):
        return series.to_numpy(dtype=object)
    if series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) in {"string", "empty"}:
        return series.to_numpy(dtype=object)
    return None


def _column(name: str, logical: str, series: pd.Series) -> _Column | None:
    missing = _missing(series)
    values: np.ndarray | None
    if logical == "text":
        return None if (values := _texts(series)) is None else _Column(name, "", values, missing)
    if logical == "int":
        values = _integers(series)
    elif logical == "float":
        values = _floats(series)
    elif logical == "bool":
        values = _bools(series)
    elif logical == "timestamp":
        values = _timestamps(series, missing)
    elif logical == "date":
        values = _dates(series, missing)
    else:
        return None
    return None if values is None else _Column(name, _FIXED_FORMATS[logical], values, missing)


class FrameEncoder:
    """Binary COPY data of a frame: `columns` is the COPY column list, `chunks()` the bytes to write."""

    def __init__(self, texts: list[_Column], fixed: list[_Column], rows: int) -> None:
        self.texts = texts
        self.fixed = fixed
        self.rows = rows
        self.columns = [c.name for c in texts] + [c.name for c in fixed]
        self._field_count = struct.pack(">h", len(self.columns))
        # One packed record per row: every fixed field's length and value, then the next row's field count
        # (so the record ends where the next row's text begins; the last one is replaced by the trailer).
        names, formats, offsets, at = [], [], [], 0
        for i, col in enumerate(fixed):
            if col.fmt == _CONST:  # the whole field, length included, the same on every row
                names.append(f"k{i}")
                formats.append(f"V{len(col.values)}")
                offsets.append(at)
                at += len(col.values)
                continue
            names += [f"h{i}", f"v{i}"]
            formats += [">i4", col.fmt]
            offsets += [at, at + 4]
            at += 4 + np.dtype(col.fmt).itemsize
        names.append("count")
        formats.append(">i2")
        offsets.append(at)
        self._record = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": at + 2})
        self._offsets = dict(zip(names, offsets, strict=True))

    def chunks(self, chunk_rows: int = CHUNK_ROWS) -> Iterator[bytes]:
        """The whole COPY data, signature to trailer, in pieces of `chunk_rows` rows."""
        if self.rows == 0:
            yield SIGNATURE + TRAILER
            return
        yield SIGNATURE + self._field_count
        for start in range(0, self.rows, chunk_rows):
            stop = min(start + chunk_rows, self.rows)
            data = self._encode(start, stop)
            if stop == self.rows:
                yield data[:-2]
                yield TRAILER
            else:
                yield data

    def _encode(self, start: int, stop: int) -> bytes:
        width = 2 * len(self.texts) + 1
        pieces: list[str | None] = [None] * ((stop - start) * width)
        for i, col in enumerate(self.texts):
            pieces[2 * i :: width], pieces[2 * i + 1 :: width] = _text_fields(col, start, stop)
        pieces[width - 1 :: width] = self._blocks(start, stop)
        return "".join(pieces).encode("latin-1")  # type: ignore[arg-type]  # every slot is filled

    def _blocks(self, start: int, stop: int) -> list[str]:
        """Each row's fixed-width fields and the next row's field count, as one latin-1 string a row.

        numpy lays the rows out as packed records; a NULL field keeps its -1 length and loses its value
        bytes (the rest of the row moves left over them, zeros fill the end). Widening the bytes to UCS-4
        and reading them back as a fixed-width unicode array gives the per-row strings in one `tolist`,
        which drops the zero padding: a row never ends in a zero byte, since its last byte is the low byte
        of the field count (`encoder` refuses a multiple of 256 columns).
        """
        n = stop - start
        record = np.empty(n, dtype=self._record)
        width = self._record.itemsize
        gaps: list[tuple[int, int, np.ndarray]] = []
        constants: list[tuple[int, np.ndarray]] = []
        for i, col in enumerate(self.fixed):
            if col.fmt == _CONST:
                constants.append((self._offsets[f"k{i}"], col.values))
                continue
            record[f"v{i}"] = col.values[start:stop]
            size = np.dtype(col.fmt).itemsize
            header = record[f"h{i}"]
            header[...] = size
            missing = None if col.missing is None else np.flatnonzero(col.missing[start:stop])
            if missing is not None and len(missing):
                header[missing] = -1
                gaps.append((self._offsets[f"v{i}"], size, missing))
        record["count"] = len(self.columns)
        raw = record.view(np.uint8).reshape(n, width)
        for at, field in constants:
            raw[:, at : at + len(field)] = field
        for at, size, rows in reversed(gaps):  # right to left: the offsets still to use do not move
            raw[rows, at : width - size] = raw[rows, at + size :]
            raw[rows, width - size :] = 0
        wide: list[str] = raw.astype(np.uint32).view(f"U{width}").ravel().tolist()
        return wide


def _text_fields(col: _Column, start: int, stop: int) -> tuple[np.ndarray, Sequence[str]]:
    """Per row: the field header (byte length or NULL) and the value's bytes as a latin-1 string."""
    values = col.values[start:stop]
    missing = None if col.missing is None else col.missing[start:stop]
    if missing is not None and missing.any():
        values = values.copy()
        values[missing] = ""
    else:
        missing = None
    strings: list[str] = values.tolist()
    joined = "\x00".join(strings)
    payload: Sequence[str]
    if joined.isascii():
        raw = joined.encode("ascii")
        payload = strings
    else:
        raw = joined.encode("utf-8")
        payload = raw.decode("latin-1").split("\x00")
    nul = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == 0)
    if len(nul) != len(strings) - 1:
        raise NulInTextError(col.name)
    lengths = np.diff(nul, prepend=-1, append=len(raw)) - 1
    headers = _HEADERS[np.minimum(lengths, _LONG)]
    for i in np.flatnonzero(lengths >= _LONG):
        headers[i] = struct.pack(">i", int(lengths[i])).decode("latin-1")
    if missing is not None:
        headers[missing] = _NULL_HEADER
    return headers, payload


def _constant_field(col: _Column) -> bytes | None:
    """The field (length and bytes) of a column NULL on every row or holding one text value, else None.

    `list.count` compares by identity first, so the check costs a few nanoseconds a row; a glance at a few
    rows turns most varying columns away before it.
    """
    n = len(col.values)
    if col.missing is not None:
        return _NULL_HEADER.encode("latin-1") if col.missing.all() else None
    if col.fmt != "" or n == 0:
        return None
    first = col.values[0]
    if any(v != first for v in col.values[:: max(n // 16, 1)]) or col.values.tolist().count(first) != n:
        return None
    data = first.encode("utf-8")
    if b"\x00" in data:
        raise NulInTextError(col.name)
    return struct.pack(">i", len(data)) + data


def encoder(frame: pd.DataFrame, columns: Sequence[tuple[str, str]]) -> FrameEncoder | None:
    """An encoder for `frame`'s `columns` (name, logical type), or None if one cannot be encoded exactly."""
    if len(columns) % 256 == 0:
        return None  # the last byte of each fixed-width block would be zero (see `FrameEncoder._blocks`)
    texts: list[_Column] = []
    fixed: list[_Column] = []
    for name, logical in columns:
        col = _column(name, logical, frame[name])
        if col is None:
            return None
        field = _constant_field(col)
        if field is not None:
            fixed.append(_Column(name, _CONST, np.frombuffer(field, dtype=np.uint8), None))
        else:
            (texts if logical == "text" else fixed).append(col)
    return FrameEncoder(texts, fixed, len(frame))


def copy_frame(cur: Any, target: str, encoded: FrameEncoder, quote: Any) -> None:
    """`COPY target FROM STDIN (FORMAT BINARY)` of the encoded frame, chunk by chunk."""
    cols = ", ".join(quote(c) for c in encoded.columns)
    with cur.copy(f"COPY {target} ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
        for data in encoded.chunks():
            copy.write(data)
