"""Results no Airflow task submitted become asset events: the AssetWatcher's trigger claims each once,
leaves Airflow's own batches to their DAG, and a burst becomes one event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from airflow.sdk import AssetWatcher
from airflow.triggers.base import TriggerEvent

from cekura_livekit.webhooks.channel import PgRecorder
from cekura_livekit.webhooks.config import ChannelConfig
from cekura_livekit.webhooks.delivery import parse_delivery
from cekura_livekit.webhooks.feed import (
    CekuraResultsFeedTrigger,
    results_asset,
    watched_results_asset,
)
from tests.webhooks.support import body, rows


async def _record(config: ChannelConfig, *deliveries: bytes, conn: str = "cekura_default") -> None:
    recorder = PgRecorder(config)
    try:
        for raw in deliveries:
            await recorder.record(parse_delivery(raw), conn)
    finally:
        await recorder.aclose()


async def _next(events: AsyncIterator[TriggerEvent], seconds: float = 5.0) -> dict:
    return (await asyncio.wait_for(anext(events), seconds)).payload


def test_the_asset_the_sync_dag_schedules_on() -> None:
    asset = results_asset("cekura_default")
    assert asset.uri == "cekura://cekura_default/results"
    assert asset.name == "cekura_cekura_default_results"
    watched = watched_results_asset("cekura_default")
    assert watched.uri == asset.uri
    (watcher,) = watched.watchers
    assert isinstance(watcher, AssetWatcher)
    assert isinstance(watcher.trigger, CekuraResultsFeedTrigger)
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath == "cekura_livekit.webhooks.feed.CekuraResultsFeedTrigger"
    assert kwargs == {"cekura_conn_id": "cekura_default", "sweep_interval": 30.0}


async def test_outside_results_are_fed_once_and_airflow_batches_are_not(channel_env: ChannelConfig) -> None:
    await _record(
        channel_env,
        body(701, name="nightly cron"),
        body(702, name="Smoke · airflow nightly.run_suite @ scheduled__2026-01-01"),
        body(703, name="from the dashboard"),
        body(703, name="from the dashboard"),  # a duplicate delivery
        body(704, event="call_log.completed"),
    )
    await _record(channel_env, body(705), conn="other_org")
    trigger = CekuraResultsFeedTrigger(cekura_conn_id="cekura_default", sweep_interval=0.2)
    events = trigger.run()
    try:
        assert await _next(events) == {"result_ids": [701, 703], "cekura_conn_id": "cekura_default"}
        await _record(channel_env, body(706))  # woken by NOTIFY, well before the sweep would come
        assert (await _next(events, 2.0))["result_ids"] == [706]
    finally:
        await events.aclose()
    fed = {r[2]: r[5] is not None for r in rows(channel_env) if r[1] == "result.completed"}
    assert fed == {701: True, 702: False, 703: True, 705: False, 706: True}
    # a restarted triggerer does not feed them again
    again = CekuraResultsFeedTrigger(cekura_conn_id="cekura_default", sweep_interval=0.2).run()
    try:
        with pytest.raises(TimeoutError):
            await _next(again, 1.0)
    finally:
        await again.aclose()
