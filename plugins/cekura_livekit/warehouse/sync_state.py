"""Where a sync remembers how far it got: one `cekura_sync_state` row per scope, in the warehouse.

Why the warehouse, not an Airflow Variable or the task state store: the watermark describes the warehouse's
content, so it lives and dies with it (a fresh warehouse, or a restored backup, starts its own history
instead of trusting an Airflow that remembers loads it no longer holds); it survives Airflow metadata
resets and moves between deployments with the data; analysts can see it ("synced up to …"); and writing
it is a transaction on the same database as the loads.

Why a separate transaction after the loads (not inside them): each result is loaded in its own transaction
(`warehouse.writer.load_extract`), and the state is written only after every one of them committed. A crash
in between leaves the old watermark: the next sync reads the same window again, and because loads are
upserts keyed by result/run id, the second pass changes nothing and duplicates nothing. The watermark never
runs ahead of what is stored, so nothing is lost.

`pending_result_ids`: results loaded while some run was not finished; every sync re-fetches them until
they are terminal (a result can stay in progress longer than the overlap between windows).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cekura_livekit.warehouse.connection import Warehouse
from cekura_livekit.warehouse.ddl import ensure_tables
from cekura_livekit.warehouse.tables import SYNC_STATE


@dataclass
class SyncState:
    """One scope's progress. `watermark` None: never synced (the first sync looks back `initial_days`)."""

    sync_id: str
    watermark: datetime | None = None
    pending: list[int] = field(default_factory=list)
    synced_at: datetime | None = None


def _as_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _ids(raw: Any) -> list[int]:
    try:
        values = json.loads(raw) if raw else []
    except ValueError:
        return []
    return sorted({int(v) for v in values if str(v).isdigit()})


def read_state(wh: Warehouse, sync_id: str) -> SyncState:
    """The stored state of `sync_id`, or a fresh one. A read: creates nothing when the table is missing."""
    cur = wh.conn.cursor()
    try:
        exists = wh.dialect.table_exists(cur, SYNC_STATE)
    finally:
        cur.close()
        wh.dialect.end_read(wh.conn)
    if not exists:
        return SyncState(sync_id)
    p = wh.dialect.param
    _, rows = wh.query(
        f"SELECT watermark, pending_result_ids, synced_at FROM {wh.dialect.table(SYNC_STATE)} "
        f"WHERE sync_id = {p}",
        [sync_id],
    )
    if not rows:
        return SyncState(sync_id)
    watermark, pending, synced = rows[0]
    return SyncState(sync_id, _as_datetime(watermark), _ids(pending), _as_datetime(synced))


def save_state(wh: Warehouse, state: SyncState, summary: dict[str, Any]) -> None:
    """Replace `state`'s row in one transaction (call only after the loads it covers have committed)."""
    row = {
        "sync_id": state.sync_id,
        "watermark": state.watermark,
        "pending_result_ids": json.dumps(sorted(set(state.pending))),
        "synced_at": state.synced_at or datetime.now(UTC),
        "last_summary": json.dumps(summary, default=str, sort_keys=True),
    }
    with wh.transaction() as cur:
        ensure_tables(wh.dialect, cur)
        cur.execute(
            f"DELETE FROM {wh.dialect.table(SYNC_STATE)} WHERE sync_id = {wh.dialect.param}", (state.sync_id,)
        )
        wh.dialect.insert_rows(cur, SYNC_STATE, [row])
