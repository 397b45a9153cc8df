"""Where the webhook channel lives: a PostgreSQL database — by default the Airflow metadata database.

The channel is PostgreSQL itself — a small table (`cekura_webhook_delivery`: idempotency, durability for
the asset feed) and LISTEN/NOTIFY (the wake-up, committed with the row). Every multi-component Airflow
deployment already runs one, and it needs no new service.

Where it is, first match wins: `CEKURA_WEBHOOK_DSN` (a libpq DSN or URL); the Airflow connection
`cekura_webhook_channel` (a postgres connection: host, port, login, password, schema = database);
Airflow's own `[database] sql_alchemy_conn` when it is PostgreSQL. Airflow 3 blanks that last setting in
the trigger runner (`block_orm_access`: trigger code stays off the metadata database), so **triggers are
woken only when the connection (or the variable) is set** — deliberately explicit: the team decides that
the triggerer may LISTEN there, ideally as a role that can only use the channel's schema. Without any —
SQLite metadata, standalone dev, `CEKURA_WEBHOOKS=off` — the result is None and every wait polls exactly
as before; the receiver answers 503.

Also: `CEKURA_WEBHOOK_SCHEMA` (default: the connection's extra `channel_schema`, Airflow's
`[database] sql_alchemy_schema`, else `public`), `CEKURA_WEBHOOK_CHANNEL` (NOTIFY name, `cekura_webhook`).
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass, field
from typing import Any

DEFAULT_CHANNEL = "cekura_webhook"
#: The connection that says where the channel is (needed by triggerers; see the module docstring).
CHANNEL_CONN_ID = "cekura_webhook_channel"
#: A PostgreSQL URL in any SQLAlchemy spelling (`postgres://`, `postgresql+psycopg2://`): the part after.
_PG_URL = re.compile(r"^postgres(?:ql)?(?:\+[\w.]+)?://(.*)$", re.S)
TABLE = "cekura_webhook_delivery"
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class ChannelConfig:
    dsn: str = field(repr=False)
    schema: str = "public"
    channel: str = DEFAULT_CHANNEL

    def __post_init__(self) -> None:
        for name in ("schema", "channel"):
            value = getattr(self, name)
            if not _IDENT.match(value):
                raise ValueError(
                    f"webhook {name} {value!r} must be a lower-case SQL identifier (letters, digits, _)"
                )

    @property
    def table(self) -> str:
        return f'"{self.schema}".{TABLE}'

    @classmethod
    def resolve(cls) -> ChannelConfig | None:
        """The channel of this deployment, or None (then waits poll, the receiver answers 503). Blocking:
        the connection lookup may hit a secrets backend (call it in a thread from a loop, or `aresolve`)."""
        if _off():
            return None
        return cls._build(_connection(CHANNEL_CONN_ID))

    @classmethod
    async def aresolve(cls) -> ChannelConfig | None:
        """`resolve` for triggers: the connection is read through the triggerer's async path."""
        if _off():
            return None
        conn = None
        if not os.environ.get("CEKURA_WEBHOOK_DSN"):
            try:
                from airflow.sdk import BaseHook

                conn = await BaseHook.aget_connection(CHANNEL_CONN_ID)
            except Exception:  # not defined: the metadata database (or nothing)
                conn = None
        return cls._build(conn)

    @classmethod
    def _build(cls, conn: Any) -> ChannelConfig | None:
        from_conn = _conninfo(conn) if conn is not None else None
        candidates = [os.environ.get("CEKURA_WEBHOOK_DSN"), from_conn, _metadata_url()]
        libpq = next((d for c in candidates if c and (d := postgres_dsn(c))), None)
        if libpq is None or importlib.util.find_spec("psycopg") is None:  # the `postgres` extra brings it
            return None
        extra = getattr(conn, "extra_dejson", None) or {}
        schema = (
            os.environ.get("CEKURA_WEBHOOK_SCHEMA")
            or (extra.get("channel_schema") if from_conn else None)
            or _metadata_schema()
            or "public"
        )
        channel = os.environ.get("CEKURA_WEBHOOK_CHANNEL") or DEFAULT_CHANNEL
        return cls(dsn=libpq, schema=str(schema), channel=channel)


def postgres_dsn(url: str) -> str | None:
    """A libpq DSN for psycopg from a SQLAlchemy URL (`postgresql+psycopg2://…`) or a DSN; None if not PG."""
    url = url.strip()
    if "://" not in url:
        return url if "=" in url else None  # key=value libpq form
    match = _PG_URL.match(url)
    return f"postgresql://{match.group(1)}" if match else None


def _off() -> bool:
    return os.environ.get("CEKURA_WEBHOOKS", "").strip().lower() in {"off", "false", "0", "no"}


def _connection(conn_id: str) -> Any:
    if os.environ.get("CEKURA_WEBHOOK_DSN"):
        return None
    try:
        from airflow.models.connection import Connection

        return Connection.get_connection_from_secrets(conn_id)
    except Exception:  # not defined (or no Airflow here)
        return None


def _conninfo(conn: Any) -> str | None:
    """A libpq DSN from an Airflow connection's fields (never logged: it holds the password)."""
    from psycopg.conninfo import make_conninfo

    if not conn.host:
        return None
    params = {"host": conn.host, "port": conn.port, "user": conn.login, "password": conn.password}
    params["dbname"] = conn.schema
    return make_conninfo(**{k: v for k, v in params.items() if v not in (None, "")})


def _metadata_url() -> str | None:
    try:
        from airflow.configuration import conf

        return conf.get("database", "sql_alchemy_conn", fallback=None)
    except Exception:  # no Airflow configuration in this process
        return None


def _metadata_schema() -> str | None:
    try:
        from airflow.configuration import conf

        return conf.get("database", "sql_alchemy_schema", fallback=None) or None
    except Exception:
        return None
