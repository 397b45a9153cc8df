"""The sync watermark in the warehouse: a read creates nothing, a save replaces the scope's row, and what is
read back is what was saved (UTC datetimes, sorted distinct pending ids) on every engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from cekura_livekit.warehouse import sync_state
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.sync_state import SyncState, read_state, save_state
from cekura_livekit.warehouse.tables import SYNC_STATE
from tests.support.warehouse import WarehouseTarget


def _table_exists(target: WarehouseTarget) -> bool:
    with open_warehouse(target.conn_id, target.schema) as wh:
        cur = wh.conn.cursor()
        try:
            return bool(wh.dialect.table_exists(cur, SYNC_STATE))
        finally:
            cur.close()
            wh.dialect.end_read(wh.conn)


def test_reading_an_empty_warehouse_is_a_fresh_state_and_creates_nothing(warehouse: WarehouseTarget) -> None:
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        assert read_state(wh, "agent:1") == SyncState("agent:1")
    assert not _table_exists(warehouse)


def test_save_then_read_round_trips_and_a_second_save_replaces(warehouse: WarehouseTarget) -> None:
    mark = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
    synced = datetime(2024, 3, 1, 13, 0, tzinfo=UTC)
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        save_state(wh, SyncState("agent:1", mark, [7, 3, 7], synced), {"loaded": 2})
        save_state(wh, SyncState("agent:2", None, []), {})
        assert read_state(wh, "agent:1") == SyncState("agent:1", mark, [3, 7], synced)
        later = mark + timedelta(hours=1)
        save_state(wh, SyncState("agent:1", later, [], synced), {"loaded": 0})
        assert read_state(wh, "agent:1") == SyncState("agent:1", later, [], synced)
        other = read_state(wh, "agent:2")
        assert other.watermark is None
        assert other.synced_at is not None  # stamped at save time when not given
        assert read_state(wh, "project:9") == SyncState("project:9")
        _, rows = wh.query(f"SELECT COUNT(*) FROM {wh.dialect.table(SYNC_STATE)}")
    assert rows == [(2,)]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        ("2024-03-01T12:00:00Z", datetime(2024, 3, 1, 12, tzinfo=UTC)),
        ("2024-03-01 12:00:00", datetime(2024, 3, 1, 12, tzinfo=UTC)),  # naive text is UTC
        (datetime(2024, 3, 1, 12), datetime(2024, 3, 1, 12, tzinfo=UTC)),
        (
            datetime(2024, 3, 1, 14, tzinfo=timezone(timedelta(hours=2))),
            datetime(2024, 3, 1, 12, tzinfo=UTC),
        ),
    ],
)
def test_stored_timestamps_read_back_as_aware_datetimes(raw: object, expected: datetime | None) -> None:
    parsed = sync_state._as_datetime(raw)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is not None


@pytest.mark.parametrize(
    ("raw", "ids"),
    [(None, []), ("", []), ("[3, 1, 3]", [1, 3]), ('["5", 2, "x", -1]', [2, 5]), ("not json", [])],
)
def test_pending_ids_read_back_sorted_distinct_and_only_ids(raw: str | None, ids: list[int]) -> None:
    assert sync_state._ids(raw) == ids
