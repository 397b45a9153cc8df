"""Results no Airflow task submitted (cron jobs, CI, the dashboard) as asset events, within seconds.

`results_asset(conn)` is `Asset("cekura://<conn>/results")`; `results_watcher(conn)` is the AssetWatcher a
sync DAG adds to that asset so that `schedule=[results_asset(conn)]` (or `… | <timetable>`) runs it when
such a result completes. The watcher's trigger claims unfed `result.completed` rows of the channel table
(`UPDATE … SET fed_at = now() … RETURNING`, SKIP LOCKED, so two triggerers never feed one twice), woken by
the channel's NOTIFY and sweeping every `sweep_interval` s anyway; one event per sweep carries every result
id it claimed, so a burst of 50 completions is one DAG run, not 50.

Why an AssetWatcher and not the REST asset-event endpoint: the receiver would need an Airflow API token
and an HTTP call inline on every delivery (slow, a second secret to keep, and lost when the api-server is
busy); the watcher runs in the triggerer next to the waits, on the same LISTEN connection, and the rows
it has not fed survive restarts. Results submitted by Airflow are recognised by their batch name
(`batch.submit.batch_name`) and left to their own DAG's load.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from airflow.sdk import Asset, AssetWatcher
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from cekura_livekit.webhooks.channel import ensure_table
from cekura_livekit.webhooks.config import ChannelConfig
from cekura_livekit.webhooks.listener import subscribe
from cekura_livekit.webhooks.secret import DEFAULT_CEKURA_CONN_ID

log = logging.getLogger(__name__)

MAX_PER_EVENT = 500


def results_asset(cekura_conn_id: str = DEFAULT_CEKURA_CONN_ID) -> Asset:
    """The asset "a result of this Cekura organisation completed outside Airflow"."""
    return Asset(uri=f"cekura://{cekura_conn_id}/results", name=f"cekura_{cekura_conn_id}_results")


def results_watcher(
    cekura_conn_id: str = DEFAULT_CEKURA_CONN_ID, sweep_interval: float = 30.0
) -> AssetWatcher:
    return AssetWatcher(
        name=f"cekura_{cekura_conn_id}_webhooks",
        trigger=CekuraResultsFeedTrigger(cekura_conn_id=cekura_conn_id, sweep_interval=sweep_interval),
    )


def watched_results_asset(
    cekura_conn_id: str = DEFAULT_CEKURA_CONN_ID, sweep_interval: float = 30.0
) -> Asset:
    """`results_asset` with its watcher attached: what the sync DAG puts in its schedule."""
    return Asset(
        uri=f"cekura://{cekura_conn_id}/results",
        name=f"cekura_{cekura_conn_id}_results",
        watchers=[results_watcher(cekura_conn_id, sweep_interval)],
    )


def claim_sql(config: ChannelConfig) -> str:
    return f"""
        UPDATE {config.table} SET fed_at = now()
        WHERE id IN (
            SELECT id FROM {config.table}
            WHERE fed_at IS NULL AND event_type = 'result.completed' AND NOT airflow_submitted
              AND cekura_conn_id = %s
            ORDER BY id LIMIT {MAX_PER_EVENT}
            FOR UPDATE SKIP LOCKED)
        RETURNING result_id"""


class CekuraResultsFeedTrigger(BaseEventTrigger):
    """Yields `{"result_ids": [...]}` whenever results completed outside Airflow were received."""

    def __init__(self, *, cekura_conn_id: str = DEFAULT_CEKURA_CONN_ID, sweep_interval: float = 30.0) -> None:
        super().__init__()
        self.cekura_conn_id = cekura_conn_id
        self.sweep_interval = float(sweep_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"cekura_conn_id": self.cekura_conn_id, "sweep_interval": self.sweep_interval},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        config = await ChannelConfig.aresolve()
        if config is None:
            log.warning(
                "No webhook channel: the Cekura results feed stays idle (the sync DAG's schedule runs)."
            )
            await asyncio.Event().wait()  # an event trigger yields forever or not at all
        assert config is not None
        import psycopg

        async with subscribe(config, None) as wake:
            while True:
                try:
                    async with await psycopg.AsyncConnection.connect(
                        config.dsn, autocommit=True, connect_timeout=3
                    ) as conn:
                        await ensure_table(conn, config)
                        while True:
                            cur = await conn.execute(claim_sql(config), (self.cekura_conn_id,))
                            ids = sorted({int(r[0]) for r in await cur.fetchall() if r[0] is not None})
                            if ids:
                                yield TriggerEvent({"result_ids": ids, "cekura_conn_id": self.cekura_conn_id})
                                continue
                            if wake is not None:
                                await wake.wait(self.sweep_interval)
                            else:
                                await asyncio.sleep(self.sweep_interval)
                except (psycopg.OperationalError, psycopg.InterfaceError, OSError) as exc:
                    log.warning("The Cekura results feed lost the database (%s); retrying.", exc)
                    await asyncio.sleep(min(self.sweep_interval, 10.0))
