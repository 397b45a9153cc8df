"""Alert-once memory: which regression episodes were already alerted (`cekura_regression_alerts`).

A regression stays visible day after day while its window slides, and `cekura_regression_episodes` is
rebuilt on every trends pass, so "alert each episode once" needs a memory that outlives the rebuild. It lives
in the same warehouse as the episodes and is claimed in one transaction (the row is inserted, or its
`last_seen` advanced, under the same lock), so two concurrent trends passes cannot both alert one episode.
The key is agent × scenario × mode × suite × the episode's start (`first_detected`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cekura_livekit.warehouse.connection import Warehouse
from cekura_livekit.warehouse.dates import as_date
from cekura_livekit.warehouse.ddl import ensure_tables
from cekura_livekit.warehouse.engines.base import Dialect
from cekura_livekit.warehouse.tables import ALERTS


def claim_episodes(wh: Warehouse, episodes: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Remember the open episodes; return those this call claimed first (oldest start first).

    `episodes` are rows of `cekura_regression_episodes`; resolved ones are never claimed (a backfill that
    finds an old, finished drop shows it in the report instead of alerting it). Already-claimed episodes
    only get their `last_seen` advanced. One transaction of its own.
    """
    claimed: list[Mapping[str, Any]] = []
    with wh.transaction() as cur:
        ensure_tables(wh.dialect, cur)
        for row in sorted(episodes, key=lambda r: as_date(r["started_on"])):
            if row.get("state", "open") == "open" and _claim(wh.dialect, cur, row):
                claimed.append(row)
    return claimed


def _key(dialect: Dialect, row: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        int(row["agent_id"]),
        int(row["scenario_id"]),
        str(row.get("mode") or ""),
        str(row.get("suite") or ""),
        dialect.db_value("date", as_date(row["started_on"])),
    )


def _claim(dialect: Dialect, cur: Any, row: Mapping[str, Any]) -> bool:
    """Insert the episode's alert row unless it exists; True when this call inserted it."""
    table, p, q = dialect.table(ALERTS), dialect.param, dialect.quote
    key = _key(dialect, row)
    last_seen = dialect.db_value("date", as_date(row.get("last_seen") or row["started_on"]))
    where = " AND ".join(f"{q(c)} = {p}" for c in ALERTS.key)
    cur.execute(f"SELECT 1 FROM {table} WHERE {where}", key)
    if cur.fetchone() is not None:
        cur.execute(f"UPDATE {table} SET {q('last_seen')} = {p} WHERE {where}", (last_seen, *key))
        return False
    values = {
        **dict(zip(ALERTS.key, key, strict=True)),
        "last_seen": last_seen,
        "severity": str(row.get("severity") or "minor"),
        "alerted_at": dialect.db_value("timestamp", datetime.now(UTC)),
    }
    cols = ALERTS.column_names
    cur.execute(
        f"INSERT INTO {table} ({', '.join(q(c) for c in cols)}) VALUES ({', '.join([p] * len(cols))})",
        tuple(values[c] for c in cols),
    )
    return True
