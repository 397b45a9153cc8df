"""The triggerer's side: one LISTEN connection serves every wait, a delivery wakes only its result's
waits, a lost connection wakes everyone (they re-read the API), and no channel means None (poll)."""

from __future__ import annotations

import asyncio
import time

import psycopg

from cekura_livekit.webhooks import listener as listener_module
from cekura_livekit.webhooks.channel import PgRecorder
from cekura_livekit.webhooks.config import ChannelConfig
from cekura_livekit.webhooks.delivery import parse_delivery
from cekura_livekit.webhooks.listener import active_listeners, subscribe
from tests.support.warehouse import PG_DSN
from tests.webhooks.support import body


async def test_a_delivery_wakes_its_result_within_two_seconds_and_no_other(channel: ChannelConfig) -> None:
    recorder = PgRecorder(channel)
    try:
        async with subscribe(channel, 512) as mine, subscribe(channel, 513) as other:
            assert mine is not None
            assert other is not None
            assert active_listeners() == 1  # two waits, one LISTEN connection
            start = time.monotonic()
            await recorder.record(parse_delivery(body(512)), "cekura_default")
            assert await mine.wait(2.0)
            assert time.monotonic() - start < 2.0
            assert not await other.wait(0.2)
            # a duplicate delivery notifies nobody
            await recorder.record(parse_delivery(body(512)), "cekura_default")
            assert not await mine.wait(0.3)
        assert active_listeners() == 0  # the last wait out closes the connection
    finally:
        await recorder.aclose()


async def test_500_waits_share_one_connection(channel: ChannelConfig) -> None:
    recorder = PgRecorder(channel)
    try:
        subs = [subscribe(channel, 1000 + i) for i in range(500)]
        waits = [await s.__aenter__() for s in subs]
        assert active_listeners() == 1
        for rid in (1000, 1499):
            await recorder.record(parse_delivery(body(rid)), "cekura_default")
        woken = await asyncio.gather(*(w.wait(1.0) for w in waits if w is not None))
        assert sum(woken) == 2
        for s in subs:
            await s.__aexit__(None, None, None)
        assert active_listeners() == 0
    finally:
        await recorder.aclose()


async def test_after_a_lost_connection_every_wait_is_woken_once_it_listens_again(
    channel: ChannelConfig,
) -> None:
    recorder = PgRecorder(channel)
    try:
        async with subscribe(channel, 7) as wait:
            assert wait is not None
            (listener,) = listener_module._listeners.values()
            assert listener._conn is not None
            pid = listener._conn.info.backend_pid
            with psycopg.connect(PG_DSN, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            # a completion while the listener is deaf: NOTIFY reaches nobody ...
            await recorder.record(parse_delivery(body(7)), "cekura_default")
            # ... but once it listens again every wait is woken and reads the API
            assert await wait.wait(10.0)
            assert listener._conn is not None
            assert listener._conn.info.backend_pid not in (0, pid)
            await recorder.record(parse_delivery(body(8, event="result.completed")), "cekura_default")
            assert not await wait.wait(0.3)  # another result's webhook
            await recorder.record(parse_delivery(body(7, event="call_log.completed")), "cekura_default")
            assert not await wait.wait(0.3)
            async with subscribe(channel, 9) as later:  # the new connection delivers
                assert later is not None
                await recorder.record(parse_delivery(body(9)), "cekura_default")
                assert await later.wait(3.0)
    finally:
        await recorder.aclose()


async def test_no_channel_or_an_unreachable_one_yields_none() -> None:
    async with subscribe(None, 1) as wait:
        assert wait is None
    down = ChannelConfig(
        dsn="host=127.0.0.1 port=1 user=postgres dbname=test connect_timeout=1", channel="down_test"
    )
    listener_module._failed_until.clear()
    async with subscribe(down, 1) as wait:
        assert wait is None
    start = time.monotonic()
    async with subscribe(down, 1) as wait:  # remembered: later waits do not retry the connect each time
        assert wait is None
    assert time.monotonic() - start < 0.1
    listener_module._failed_until.clear()


def test_resolve_falls_back_to_polling_without_postgres(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("CEKURA_WEBHOOK_DSN", raising=False)
    assert ChannelConfig.resolve() is None  # the test suite's metadata database is SQLite
    monkeypatch.setenv("CEKURA_WEBHOOK_DSN", "postgresql+psycopg2://u:p@db:5432/airflow")
    config = ChannelConfig.resolve()
    assert config is not None
    assert config.dsn == "postgresql://u:p@db:5432/airflow"
    assert "p@db" not in repr(config)
    monkeypatch.setenv("CEKURA_WEBHOOKS", "off")
    assert ChannelConfig.resolve() is None


async def test_triggers_find_the_channel_through_its_connection_since_airflow_blanks_their_database(
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    """In the trigger runner Airflow sets `[database] sql_alchemy_conn` (and its variable) to
    `airflow-db-not-allowed:///`: the e2e run showed waits polling for that reason. Triggers find the
    channel through the `cekura_webhook_channel` connection, read the triggerer's async way."""
    import json

    from cekura_livekit.webhooks import config as config_module

    monkeypatch.delenv("CEKURA_WEBHOOK_DSN", raising=False)
    monkeypatch.setattr(config_module, "_metadata_url", lambda: "airflow-db-not-allowed:///")
    assert await ChannelConfig.aresolve() is None  # nothing configured: poll
    monkeypatch.setenv(
        "AIRFLOW_CONN_CEKURA_WEBHOOK_CHANNEL",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": "127.0.0.1",
                "port": 5432,
                "login": "postgres",
                "password": "pw",
                "schema": "meta",
                "extra": {"channel_schema": "cekura_webhooks"},
            }
        ),
    )
    config = await ChannelConfig.aresolve()
    assert config is not None
    assert "dbname=meta" in config.dsn
    assert "host=127.0.0.1" in config.dsn
    assert config.schema == "cekura_webhooks"
    assert "pw" not in repr(config)
    sync = ChannelConfig.resolve()
    assert sync is not None
    assert sync.dsn == config.dsn
