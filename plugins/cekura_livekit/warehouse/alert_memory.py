"""Alert-once memory: which episodes and monitor alerts were already alerted (`cekura_regression_alerts`).

A drop stays visible pass after pass and `cekura_regression_episodes` is rebuilt on every trends pass, so
"alert each episode once" needs a memory that outlives the rebuild. It lives in the same warehouse as the
episodes and is claimed in one transaction (the row is inserted, or its `last_seen` advanced; the primary key
stops a second insert), so two concurrent trends passes cannot both alert one episode.

Matched on `kind` and `episode_id` (`detection.identity`: the id survives late data that moves the start, so
one drop is alerted once). A drop row without an id (written by an older version, or a hand-made episode) is
matched on agent × scenario × mode × suite × its start (`first_detected`) and kind '' (the table's key), and is
given the id the first time it is seen with one. Kinds: '' success-rate drop, `metric:<id>` metric-shift episode,
`freshness` / `volume` / `infra` data-quality alerts (`claim_monitor_rows`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cekura_livekit.warehouse.connection import Warehouse
from cekura_livekit.warehouse.dates import as_date
from cekura_livekit.warehouse.ddl import ensure_tables
from cekura_livekit.warehouse.engines.base import Dialect
from cekura_livekit.warehouse.tables import ALERTS, METRIC_EPISODES, QUALITY_ALERTS

#: The `kind` of a success-rate drop episode (rows from before the column existed read as this).
DROP = ""


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
            if row.get("state", "open") == "open" and _claim(wh.dialect, cur, row, DROP):
                claimed.append(row)
    return claimed


def _key(dialect: Dialect, row: Mapping[str, Any], kind: str) -> tuple[Any, ...]:
    return (
        int(row["agent_id"]),
        int(row["scenario_id"]),
        str(row.get("mode") or ""),
        str(row.get("suite") or ""),
        dialect.db_value("date", as_date(row["started_on"])),
        kind,
    )


def _claim(dialect: Dialect, cur: Any, row: Mapping[str, Any], kind: str) -> bool:
    """Insert the row's alert memory unless it exists (by kind and id, else by key); True when inserted."""
    table, p, q = dialect.table(ALERTS), dialect.param, dialect.quote
    key = _key(dialect, row, kind)
    episode_id = row.get("episode_id") or None
    last_seen = dialect.db_value("date", as_date(row.get("last_seen") or row["started_on"]))
    if episode_id is not None:
        by_id = f"{q('kind')} = {p} AND {q('episode_id')} = {p}"
        cur.execute(f"SELECT 1 FROM {table} WHERE {by_id}", (kind, episode_id))
        if cur.fetchone() is not None:
            cur.execute(
                f"UPDATE {table} SET {q('last_seen')} = {p} WHERE {by_id}", (last_seen, kind, episode_id)
            )
            return False
    by_key = " AND ".join(f"{q(c)} = {p}" for c in ALERTS.key)
    cur.execute(f"SELECT 1 FROM {table} WHERE {by_key}", key)
    if cur.fetchone() is not None:
        cur.execute(
            f"UPDATE {table} SET {q('last_seen')} = {p}, {q('episode_id')} = COALESCE({q('episode_id')}, {p}) "
            f"WHERE {by_key}",
            (last_seen, episode_id, *key),
        )
        return False
    values = {
        **dict(zip(ALERTS.key, key, strict=True)),
        "last_seen": last_seen,
        "severity": str(row.get("severity") or "minor"),
        "alerted_at": dialect.db_value("timestamp", datetime.now(UTC)),
        "episode_id": episode_id,
    }
    cols = ALERTS.column_names
    cur.execute(
        f"INSERT INTO {table} ({', '.join(q(c) for c in cols)}) VALUES ({', '.join([p] * len(cols))})",
        tuple(values[c] for c in cols),
    )
    return True


def _rows(cur: Any, sql: str) -> list[dict[str, Any]]:
    cur.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def claim_monitor_rows(wh: Warehouse) -> list[tuple[str, dict[str, Any]]]:
    """The open metric episodes and current data-quality alerts never alerted before, as (kind, row), after
    claiming them (one transaction); quarantined keys are left out (shown, never alerted, like their drops)."""
    from cekura_livekit.warehouse.episodes import latest_batches_in
    from cekura_livekit.warehouse.quality import alert_id

    claimed: list[tuple[str, dict[str, Any]]] = []
    with wh.transaction() as cur:
        ensure_tables(wh.dialect, cur)
        metric = _rows(cur, f"SELECT * FROM {wh.dialect.table(METRIC_EPISODES)} WHERE state = 'open'")
        quality = _rows(cur, f"SELECT * FROM {wh.dialect.table(QUALITY_ALERTS)}")
        if not metric and not quality:
            return []
        # Only these rows' keys: read from the newest batches back, not a pass over every run.
        keys = {
            (int(r["agent_id"]), int(r["scenario_id"]), r["mode"] or "", r["suite"] or "")
            for r in [*metric, *quality]
        }
        quarantined, links = latest_batches_in(wh.dialect, cur, keys)
        for row in [*metric, *quality]:
            key = (int(row["agent_id"]), int(row["scenario_id"]), row["mode"] or "", row["suite"] or "")
            if key in quarantined:
                continue
            row["dashboard_url"] = links.get(key)
            if "episode_id" in row:  # one memory kind per metric: two metrics may shift on one day
                kind, memory_kind = "metric", f"metric:{row['metric_id']}"
                memory = {**row, "severity": "metric"}
            else:
                row["day"] = as_date(row["day"])
                kind = memory_kind = str(row["kind"])
                memory = {**row, "started_on": row["day"], "episode_id": alert_id(row), "severity": kind}
            if _claim(wh.dialect, cur, memory, memory_kind):
                claimed.append((kind, row))
    return claimed
