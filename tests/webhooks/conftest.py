"""Fixtures of the webhook tests: a fresh channel (own schema, own NOTIFY name) and a real receiver."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from cekura_livekit.webhooks.app import create_app
from cekura_livekit.webhooks.channel import PgRecorder
from cekura_livekit.webhooks.config import ChannelConfig
from cekura_livekit.webhooks.secret import DEFAULT_WEBHOOK_CONN_ID, EndpointCache, WebhookEndpoint
from tests.webhooks.support import SECRET, drop_channel, fresh_channel


@pytest.fixture
def channel() -> Iterator[ChannelConfig]:
    config = fresh_channel()
    yield config
    drop_channel(config)


@pytest.fixture
def channel_env(channel: ChannelConfig, monkeypatch: pytest.MonkeyPatch) -> ChannelConfig:
    """The channel as a deployment configures it (the triggerer reads it from the environment)."""
    monkeypatch.setenv("CEKURA_WEBHOOK_DSN", channel.dsn)
    monkeypatch.setenv("CEKURA_WEBHOOK_SCHEMA", channel.schema)
    monkeypatch.setenv("CEKURA_WEBHOOK_CHANNEL", channel.channel)
    return channel


def endpoints() -> EndpointCache:
    known = {DEFAULT_WEBHOOK_CONN_ID: WebhookEndpoint(SECRET)}
    return EndpointCache(lookup=known.get)


class Receiver:
    """The receiver app served by uvicorn on 127.0.0.1 in a thread with its own loop (as in production)."""

    def __init__(self, config: ChannelConfig) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._sock = sock
        app = create_app(PgRecorder(config), endpoints())
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="critical", access_log=False))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve([sock])), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def __enter__(self) -> Receiver:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self._sock.close()


@pytest.fixture
def receiver(channel: ChannelConfig) -> Iterator[Receiver]:
    with Receiver(channel) as running:
        yield running
