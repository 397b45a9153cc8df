"""Shared bits of the webhook tests: a scripted hook that also answers the light count, the channel of a
unique schema on the test PostgreSQL, and Cekura-shaped bodies."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg

from cekura_livekit.webhooks.config import ChannelConfig
from tests.support.scripted_hook import ScriptedHook
from tests.support.warehouse import PG_DSN, require_postgres

SECRET = "whsec-test-0123456789"


class CountingHook(ScriptedHook):
    """ScriptedHook plus the light "how many runs are unfinished?" read."""

    def count_unfinished_runs(self, result_id: int) -> Any:
        return self._answer("count_unfinished_runs", (result_id,))

    async def acount_unfinished_runs(self, result_id: int) -> Any:
        return self.count_unfinished_runs(result_id)


def body(result_id: int, name: str = "nightly cron", event: str = "result.completed", **extra: Any) -> bytes:
    """A delivery as Cekura posts it: the event type and the result object (trimmed)."""
    data = {"id": result_id, "name": name, "status": "completed", "is_cronjob": True, "runs": {}, **extra}
    return json.dumps({"event_type": event, "data": data}).encode()


def fresh_channel() -> ChannelConfig:
    """A channel in its own schema with its own NOTIFY name, so tests beside each other never cross."""
    require_postgres()
    tag = uuid.uuid4().hex[:10]
    return ChannelConfig(dsn=PG_DSN, schema=f"wh_{tag}", channel=f"cekura_webhook_{tag}")


def drop_channel(config: ChannelConfig) -> None:
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{config.schema}" CASCADE')


def rows(config: ChannelConfig) -> list[tuple[Any, ...]]:
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        try:
            cur = conn.execute(
                f"SELECT delivery_key, event_type, result_id, cekura_conn_id, airflow_submitted, fed_at "
                f"FROM {config.table} ORDER BY id"
            )
        except psycopg.errors.UndefinedTable:
            return []
        return cur.fetchall()
