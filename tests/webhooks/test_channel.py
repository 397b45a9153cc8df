"""The receiver's side of the channel against real PostgreSQL: one row and one NOTIFY per new delivery,
nothing for a duplicate, the table created idempotently, and an unreachable database a `ChannelUnavailable`."""

from __future__ import annotations

import asyncio
import json

import psycopg
import pytest

from cekura_livekit.webhooks.channel import ChannelUnavailable, PgRecorder, ddl, ensure_table
from cekura_livekit.webhooks.config import ChannelConfig
from cekura_livekit.webhooks.delivery import Delivery
from tests.support.warehouse import PG_DSN
from tests.webhooks.support import rows

pytestmark = pytest.mark.postgres

DONE = Delivery("result.completed", 42, 42, airflow_submitted=True)


def test_ddl_lives_in_the_configured_schema() -> None:
    statements = ddl(ChannelConfig(dsn="host=h", schema="hooks"))
    assert statements[0] == 'CREATE SCHEMA IF NOT EXISTS "hooks"'
    assert all('"hooks".cekura_webhook_delivery' in s for s in statements[1:])
    assert "delivery_key text NOT NULL UNIQUE" in statements[1]  # what makes a duplicate one row


async def test_ensure_table_twice_is_harmless(channel: ChannelConfig) -> None:
    async with await psycopg.AsyncConnection.connect(channel.dsn, autocommit=True) as conn:
        await ensure_table(conn, channel)
        await ensure_table(conn, channel)
    assert rows(channel) == []


async def test_a_new_delivery_is_one_row_and_one_notify_and_a_duplicate_neither(
    channel: ChannelConfig,
) -> None:
    async with await psycopg.AsyncConnection.connect(PG_DSN, autocommit=True) as listener:
        recorder = PgRecorder(channel)
        try:
            assert await recorder.record(DONE, "cekura_default") is True  # also creates the table
            await listener.execute(f"LISTEN {channel.channel}")
            assert await recorder.record(DONE, "cekura_default") is False
            other = Delivery("result.completed", 43, 43, airflow_submitted=False)
            assert await recorder.record(other, "cekura_other") is True
        finally:
            await recorder.aclose()
        notes = []
        async with asyncio.timeout(5):
            async for note in listener.notifies():
                notes.append(json.loads(note.payload))
                break
    (note,) = notes  # the duplicate announced nothing; the next new row did
    assert note.pop("id") > 0
    assert note == {"event": "result.completed", "result_id": 43, "conn": "cekura_other", "airflow": False}
    recorded = rows(channel)
    assert [r[:5] for r in recorded] == [
        ("result.completed:42", "result.completed", 42, "cekura_default", True),
        ("result.completed:43", "result.completed", 43, "cekura_other", False),
    ]
    assert all(r[5] is None for r in recorded)  # not fed yet


async def test_an_unreachable_database_is_channel_unavailable_without_the_dsn() -> None:
    config = ChannelConfig(dsn="host=127.0.0.1 port=5439 user=postgres password=chan-secret dbname=test")
    recorder = PgRecorder(config, connect_timeout=1)
    with pytest.raises(ChannelUnavailable, match="unreachable") as caught:
        await recorder.record(DONE, "cekura_default")
    assert "chan-secret" not in str(caught.value)
    await recorder.aclose()
