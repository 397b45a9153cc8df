"""The webhook secret: kept in an Airflow connection, compared in constant time, never logged.

Connection type `cekura_webhook`: the password is the secret Cekura sends in `X-CEKURA-SECRET`; the extra
may name the Cekura API connection whose results it announces (`{"cekura_conn_id": "cekura_default"}`,
the default), which names the asset the sync DAG listens to. Lookups are cached briefly so a burst of
deliveries does not hit the secrets backend once per request.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_WEBHOOK_CONN_ID = "cekura_webhook_default"
DEFAULT_CEKURA_CONN_ID = "cekura_default"
CONN_TYPE = "cekura_webhook"
HEADER = "X-CEKURA-SECRET"


@dataclass(frozen=True)
class WebhookEndpoint:
    """One registered webhook URL: its secret and the Cekura connection whose results it announces."""

    secret: str = field(repr=False)
    cekura_conn_id: str = DEFAULT_CEKURA_CONN_ID

    def accepts(self, presented: str | None) -> bool:
        """Constant-time comparison; a missing header or an empty configured secret never matches."""
        if not presented or not self.secret:
            return False
        return hmac.compare_digest(presented.encode("utf-8"), self.secret.encode("utf-8"))


def _airflow_connection(conn_id: str) -> Any:
    """The connection through whatever Airflow offers in this process (api-server, standalone service)."""
    try:
        from airflow.models.connection import Connection

        return Connection.get_connection_from_secrets(conn_id)
    except ImportError:  # pragma: no cover - a task-SDK-only install
        from airflow.sdk import BaseHook

        return BaseHook.get_connection(conn_id)


def endpoint_from_connection(conn_id: str) -> WebhookEndpoint | None:
    """The endpoint of a `cekura_webhook` connection, or None when it is not defined (answered 401)."""
    try:
        conn = _airflow_connection(conn_id)
    except Exception:  # AirflowNotFoundException and friends: an unknown URL looks like a wrong secret
        return None
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
    return WebhookEndpoint(
        secret=conn.password or "",
        cekura_conn_id=str(extra.get("cekura_conn_id") or DEFAULT_CEKURA_CONN_ID),
    )


class EndpointCache:
    """Connection lookups, remembered for `ttl` seconds (a rotated secret is live within a minute)."""

    def __init__(
        self,
        lookup: Callable[[str], WebhookEndpoint | None] = endpoint_from_connection,
        ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, WebhookEndpoint | None]] = {}

    def peek(self, conn_id: str) -> tuple[bool, WebhookEndpoint | None]:
        """(fresh, endpoint) without any I/O: the receiver's fast path."""
        cached = self._entries.get(conn_id)
        if cached is None:
            return False, None
        ttl = self._ttl if cached[1] is not None else min(self._ttl, 5.0)  # a new connection shows up fast
        return self._clock() - cached[0] < ttl, cached[1]

    def get(self, conn_id: str) -> WebhookEndpoint | None:
        """Blocking (the secrets backend may be the metadata DB): the receiver calls it in a thread."""
        fresh, endpoint = self.peek(conn_id)
        if fresh:
            return endpoint
        endpoint = self._lookup(conn_id)
        self._entries[conn_id] = (self._clock(), endpoint)
        return endpoint
