"""Where the webhook channel lives: the Airflow metadata database when it is PostgreSQL, otherwise nowhere.

The channel is PostgreSQL itself — a small table (`cekura_webhook_delivery`: idempotency, durability for
the asset feed) and LISTEN/NOTIFY (the wake-up, committed with the row). Every Airflow deployment that can
run more than one component already has it, both the api-server (receiver) and the triggerer (waits)
reach it, and it needs no new service or credential. Without it — SQLite metadata, a standalone dev
setup, `CEKURA_WEBHOOKS=off` — `ChannelConfig.resolve()` is None and every wait polls exactly as before.

Overrides (all optional): `CEKURA_WEBHOOK_DSN` (a libpq DSN or URL, e.g. for the standalone receiver),
`CEKURA_WEBHOOK_SCHEMA` (default: Airflow's `[database] sql_alchemy_schema`, else `public`),
`CEKURA_WEBHOOK_CHANNEL` (the NOTIFY channel name, default `cekura_webhook`).
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass, field

DEFAULT_CHANNEL = "cekura_webhook"
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
        """The channel of this deployment, or None (then waits poll, the receiver answers 503)."""
        if os.environ.get("CEKURA_WEBHOOKS", "").strip().lower() in {"off", "false", "0", "no"}:
            return None
        candidates = [os.environ.get("CEKURA_WEBHOOK_DSN"), _metadata_url(), _metadata_url_from_env()]
        libpq = next((d for c in candidates if c and (d := postgres_dsn(c))), None)
        if libpq is None or importlib.util.find_spec("psycopg") is None:  # the `postgres` extra brings it
            return None
        schema = os.environ.get("CEKURA_WEBHOOK_SCHEMA") or _metadata_schema() or "public"
        channel = os.environ.get("CEKURA_WEBHOOK_CHANNEL") or DEFAULT_CHANNEL
        return cls(dsn=libpq, schema=schema, channel=channel)


def postgres_dsn(url: str) -> str | None:
    """A libpq DSN for psycopg from a SQLAlchemy URL (`postgresql+psycopg2://…`) or a DSN; None if not PG."""
    url = url.strip()
    if "://" not in url:
        return url if "=" in url else None  # key=value libpq form
    scheme, rest = url.split("://", 1)
    if scheme.split("+", 1)[0] not in {"postgresql", "postgres"}:
        return None
    return f"postgresql://{rest}"


def _metadata_url() -> str | None:
    try:
        from airflow.configuration import conf

        return conf.get("database", "sql_alchemy_conn", fallback=None)
    except Exception:  # no Airflow configuration in this process
        return None


def _metadata_url_from_env() -> str | None:
    """Triggers run where Airflow blanks `[database] sql_alchemy_conn` to keep DAG and trigger code off its
    ORM (`block_orm_access`); the channel is not the ORM — one LISTEN connection of its own — so it reads
    the deployment's setting from the environment. Teams that want triggers off the metadata database
    entirely set `CEKURA_WEBHOOK_DSN` to another database or a role that can only LISTEN (docs/webhooks.md)."""
    return os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")


def _metadata_schema() -> str | None:
    try:
        from airflow.configuration import conf

        return conf.get("database", "sql_alchemy_schema", fallback=None) or None
    except Exception:
        return None
