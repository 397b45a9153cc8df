"""Alert-once memory (`warehouse.alert_memory.claim_episodes`) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from typing import Any

from cekura_livekit.warehouse.alert_memory import claim_episodes
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.tables import ALERTS
from tests.support.warehouse import WarehouseTarget


def _episode(start: str, **extra: Any) -> dict[str, Any]:
    return {
        "agent_id": 1,
        "scenario_id": 2,
        "mode": "voice/managed",
        "suite": "s",
        "started_on": start,
        **extra,
    }


def test_each_open_episode_is_claimed_once_and_its_last_day_remembered(warehouse: WarehouseTarget) -> None:
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        first = claim_episodes(wh, [_episode("2024-05-02"), _episode("2024-05-01", scenario_id=3)])
        assert [e["scenario_id"] for e in first] == [3, 2]  # oldest start first
        again = claim_episodes(wh, [_episode("2024-05-02", last_seen=date(2024, 5, 6))])
        assert again == []
        assert claim_episodes(wh, [_episode("2024-04-01", state="resolved")]) == []
        _, rows = wh.query(
            f"SELECT scenario_id, last_seen FROM {wh.dialect.table(ALERTS)} ORDER BY scenario_id"
        )
    assert [(r[0], str(r[1])[:10]) for r in rows] == [(2, "2024-05-06"), (3, "2024-05-01")]
