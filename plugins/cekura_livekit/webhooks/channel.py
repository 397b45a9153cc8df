"""The receiver's side of the channel: one statement per delivery — INSERT … ON CONFLICT DO NOTHING, and
`pg_notify` for the inserted row only — so a duplicate delivery records nothing and wakes nobody, and a
notification is only ever sent for a committed row.

Why PostgreSQL LISTEN/NOTIFY on the metadata database rather than Redis or a polled table: it is already
there in every multi-component deployment, reachable from the api-server and the triggerer with the
credentials they hold; NOTIFY is transactional with the row (no "told but not stored"); one LISTEN
connection per triggerer serves every wait in it (`listener`), so 500 waits cost one connection and no
queries between webhooks. Measured against the alternatives side by side (BENCHMARKS.md section 11,
docs/webhooks.md "Why this channel (measured)"): a polled table costs ~30,000 statements a minute at 500
waits polling every second and wakes half an interval late; Redis pub/sub and streams are as fast and as
quiet, but are a second service to run and secure (a stream keeps a delivery across a disconnect, which the
safety poll covers here), and the table would still be needed for idempotency and the feed. The table
keeps deliveries for the feed (`fed_at`) and for idempotency; rows older than `RETENTION_DAYS` are pruned by
the receiver.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Protocol

from cekura_livekit.webhooks.config import ChannelConfig
from cekura_livekit.webhooks.delivery import Delivery

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

RETENTION_DAYS = 30
_PRUNE_EVERY = 1000


class ChannelUnavailable(RuntimeError):
    """The channel cannot record now (database down): the receiver answers 503, Cekura's delivery is lost
    and the waits' safety poll covers it."""


class Recorder(Protocol):
    async def record(self, delivery: Delivery, cekura_conn_id: str) -> bool: ...

    async def aclose(self) -> None: ...


def ddl(config: ChannelConfig) -> list[str]:
    """The channel's table (created by whichever side touches it first; idempotent)."""
    return [
        f'CREATE SCHEMA IF NOT EXISTS "{config.schema}"',
        f"""CREATE TABLE IF NOT EXISTS {config.table} (
            id bigserial PRIMARY KEY,
            delivery_key text NOT NULL UNIQUE,
            event_type text NOT NULL,
            result_id bigint,
            cekura_conn_id text NOT NULL,
            airflow_submitted boolean NOT NULL DEFAULT false,
            received_at timestamptz NOT NULL DEFAULT now(),
            fed_at timestamptz
        )""",
        f"""CREATE INDEX IF NOT EXISTS {config.schema}_cekura_webhook_unfed
            ON {config.table} (id) WHERE fed_at IS NULL""",
    ]


async def ensure_table(conn: psycopg.AsyncConnection[object], config: ChannelConfig) -> None:
    for statement in ddl(config):
        try:
            await conn.execute(statement)
        except Exception as exc:  # two processes creating it at once: the other one won
            import psycopg

            if not isinstance(exc, psycopg.errors.UniqueViolation | psycopg.errors.DuplicateObject):
                raise


class PgRecorder:
    """A few autocommit connections (lazily opened, reopened after a failure) shared by the receiver's
    requests in this process's event loop."""

    def __init__(self, config: ChannelConfig, pool_size: int = 4, connect_timeout: float = 3.0) -> None:
        self.config = config
        self._size = pool_size
        self._timeout = connect_timeout
        self._idle: asyncio.LifoQueue[psycopg.AsyncConnection[object] | None] | None = None
        self._table_ready = False
        self._inserted = 0
        self._sql = f"""
            WITH ins AS (
                INSERT INTO {config.table}
                    (delivery_key, event_type, result_id, cekura_conn_id, airflow_submitted)
                VALUES (%s, %s, %s, %s, %s)
                ON CONFLICT (delivery_key) DO NOTHING
                RETURNING id, event_type, result_id, cekura_conn_id, airflow_submitted
            )
            SELECT pg_notify(%s, json_build_object(
                'id', id, 'event', event_type, 'result_id', result_id,
                'conn', cekura_conn_id, 'airflow', airflow_submitted)::text)
            FROM ins"""

    def _slots(self) -> asyncio.LifoQueue[psycopg.AsyncConnection[object] | None]:
        if self._idle is None:
            self._idle = asyncio.LifoQueue()
            for _ in range(self._size):
                self._idle.put_nowait(None)  # a slot without a connection yet
        return self._idle

    async def _connect(self) -> psycopg.AsyncConnection[object]:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(
            self.config.dsn, autocommit=True, connect_timeout=max(1, int(self._timeout))
        )
        # A delivery lost to a database crash costs one safety poll at most: no fsync wait per webhook.
        await conn.execute("SET synchronous_commit = off")
        if not self._table_ready:
            await ensure_table(conn, self.config)
            self._table_ready = True
        return conn

    async def record(self, delivery: Delivery, cekura_conn_id: str) -> bool:
        """True when this delivery is new (recorded and announced), False for a duplicate."""
        import psycopg

        slots = self._slots()
        conn = await slots.get()
        try:
            if conn is None or conn.closed:
                conn = await self._connect()
            cur = await conn.execute(
                self._sql,
                (
                    delivery.key,
                    delivery.event_type,
                    delivery.result_id,
                    cekura_conn_id,
                    delivery.airflow_submitted,
                    self.config.channel,
                ),
            )
            inserted = bool(await cur.fetchall())
            if inserted:
                self._inserted += 1
                if self._inserted % _PRUNE_EVERY == 0:
                    await self._prune(conn)
            return inserted
        except (psycopg.OperationalError, psycopg.InterfaceError, OSError) as exc:
            if conn is not None:
                await conn.close()
            conn = None
            raise ChannelUnavailable(
                f"the webhook channel's database is unreachable ({type(exc).__name__})"
            ) from None
        finally:
            slots.put_nowait(conn)

    async def _prune(self, conn: psycopg.AsyncConnection[object]) -> None:
        await conn.execute(
            f"DELETE FROM {self.config.table} WHERE received_at < now() - make_interval(days => %s)",
            (RETENTION_DAYS,),
        )

    async def aclose(self) -> None:
        if self._idle is None:
            return
        while not self._idle.empty():
            conn = self._idle.get_nowait()
            if conn is not None:
                await conn.close()
        self._idle = None
