"""Lock keys: stable, distinct per (schema, purpose), inside PostgreSQL's signed 64-bit range; `serialise`
hands the adapter the key of its schema."""

from __future__ import annotations

import zlib
from typing import Any

import pytest

from cekura_livekit.warehouse import locks
from cekura_livekit.warehouse.engines import engine_for


def test_the_key_is_stable_across_processes_and_versions() -> None:
    # crc32 of the purpose (high 32 bits) and of the schema (low 32 bits): a value pinned here would change
    # only if the derivation did, which would let an old and a new worker hold "the same" lock at once.
    high = zlib.crc32(b"cekura-warehouse:ddl")
    low = zlib.crc32(b"cekura")
    unsigned = (high << 32) | low
    assert locks.lock_key("cekura", locks.DDL) == (unsigned - (1 << 64) if unsigned >= 1 << 63 else unsigned)
    assert locks.lock_key("cekura", locks.DDL) == locks.lock_key("cekura", "ddl")


@pytest.mark.parametrize("schema", ["cekura", "other", "a" * 63, ""])
def test_keys_fit_a_signed_bigint_and_differ_by_schema_and_purpose(schema: str) -> None:
    ddl, trends = locks.lock_key(schema, locks.DDL), locks.lock_key(schema, locks.TRENDS)
    for key in (ddl, trends):
        assert -(1 << 63) <= key < 1 << 63
    assert ddl != trends
    assert locks.lock_key(schema, locks.DDL) != locks.lock_key(schema + "x", locks.DDL)


def test_both_signs_occur_so_the_wraparound_is_exercised() -> None:
    keys = [locks.lock_key("cekura", f"purpose-{i}") for i in range(50)]
    assert any(k < 0 for k in keys)
    assert any(k >= 0 for k in keys)


@pytest.mark.parametrize("conn_type", ["postgres", "sqlite"])
def test_serialise_passes_the_schemas_key_to_the_adapter(
    conn_type: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialect = engine_for(conn_type, "wh")("cekura_x")
    seen: list[tuple[Any, int]] = []
    monkeypatch.setattr(dialect, "serialise", lambda cur, key: seen.append((cur, key)))
    locks.serialise(dialect, "cursor", locks.TRENDS)
    assert seen == [("cursor", locks.lock_key("cekura_x", locks.TRENDS))]
