"""The receiver: a small FastAPI app the api-server serves (plugin) or `service` runs on its own.

`POST /{webhook_conn_id}` (and `POST /` for `cekura_webhook_default`): the body is read up to `MAX_BODY`
(413 beyond), the `X-CEKURA-SECRET` header is compared in constant time with the connection's password
(401 — wrong, missing, or an unknown connection, indistinguishably), the JSON is checked (400), and the
delivery is recorded with one INSERT + NOTIFY (200 `recorded` / `duplicate`; 503 when the channel is
down or absent). Nothing else happens inline: no Cekura call, no warehouse work, and neither the secret
nor the body is ever logged. Unknown event types are acknowledged (200 `ignored`) and not recorded.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from cekura_livekit.webhooks.channel import ChannelUnavailable, PgRecorder, Recorder
from cekura_livekit.webhooks.config import ChannelConfig
from cekura_livekit.webhooks.delivery import (
    CALL_LOG_COMPLETED,
    RESULT_COMPLETED,
    MalformedDelivery,
    parse_delivery,
)
from cekura_livekit.webhooks.secret import DEFAULT_WEBHOOK_CONN_ID, HEADER, EndpointCache

log = logging.getLogger(__name__)

#: Cekura's result.completed carries the result with its runs; 1 MiB holds hundreds of runs.
MAX_BODY = 1024 * 1024
RECORDED_EVENTS = frozenset({RESULT_COMPLETED, CALL_LOG_COMPLETED})
_CONN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,250}$")


def _answer(status: int, outcome: str, detail: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"status": outcome}
    if detail:
        body["detail"] = detail
    return JSONResponse(body, status_code=status)


async def _read_capped(request: Request, limit: int) -> bytes | None:
    """The body, or None once it passes `limit` bytes (declared or streamed): never buffered past it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    recorder: Recorder | None = None,
    endpoints: EndpointCache | None = None,
    *,
    config: ChannelConfig | None = None,
    max_body: int = MAX_BODY,
) -> FastAPI:
    """The receiver app. Without a `recorder` it records through the resolved channel (`config`, else
    `ChannelConfig.resolve()` at first use); with none available it answers 503."""
    endpoints = endpoints or EndpointCache()
    state: dict[str, Recorder | None] = {"recorder": recorder}
    resolved = {"done": recorder is not None}

    async def current_recorder() -> Recorder | None:
        if not resolved["done"]:
            cfg = config or await anyio.to_thread.run_sync(ChannelConfig.resolve)
            state["recorder"] = PgRecorder(cfg) if cfg is not None else None
            resolved["done"] = True
            if cfg is None:
                log.warning("No webhook channel (docs/webhooks.md): answering 503.")
        return state["recorder"]

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        rec = state["recorder"]
        if rec is not None:
            await rec.aclose()

    app = FastAPI(
        title="Cekura webhook receiver",
        description="Receives Cekura's result.completed webhooks and wakes the Airflow waits on them.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    async def endpoint_of(conn_id: str) -> Any:
        fresh, endpoint = endpoints.peek(conn_id)
        if fresh:
            return endpoint
        return await anyio.to_thread.run_sync(endpoints.get, conn_id)

    async def receive(request: Request, webhook_conn_id: str) -> JSONResponse:
        endpoint = await endpoint_of(webhook_conn_id) if _CONN_ID.match(webhook_conn_id) else None
        if endpoint is None or not endpoint.accepts(request.headers.get(HEADER)):
            log.warning("Rejected a webhook for %r: wrong or missing %s.", webhook_conn_id[:80], HEADER)
            return _answer(401, "rejected", f"wrong or missing {HEADER}")
        body = await _read_capped(request, max_body)  # unauthenticated bodies are never read
        if body is None:
            return _answer(413, "rejected", f"the body exceeds {max_body} bytes")
        try:
            delivery = parse_delivery(body)
        except MalformedDelivery as exc:
            return _answer(400, "rejected", str(exc))
        if delivery.event_type not in RECORDED_EVENTS:
            return _answer(200, "ignored")
        rec = await current_recorder()
        if rec is None:
            return _answer(503, "unavailable", "no webhook channel is configured (docs/webhooks.md)")
        try:
            new = await rec.record(delivery, endpoint.cekura_conn_id)
        except ChannelUnavailable as exc:
            log.warning("Could not record a %s webhook: %s", delivery.event_type, exc)
            return _answer(503, "unavailable", "the webhook channel is unavailable; retry later")
        return _answer(200, "recorded" if new else "duplicate")

    @app.post("/")
    async def receive_default(request: Request) -> JSONResponse:
        return await receive(request, DEFAULT_WEBHOOK_CONN_ID)

    @app.post("/{webhook_conn_id}")
    async def receive_named(request: Request, webhook_conn_id: str) -> JSONResponse:
        return await receive(request, webhook_conn_id)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
