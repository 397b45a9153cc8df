"""The receiver against real PostgreSQL: 401/400/413 record nothing, duplicates are one row, it answers
fast, and the secret never reaches a log or a response. Served in-process through ASGI."""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from cekura_livekit.webhooks.app import create_app
from cekura_livekit.webhooks.channel import PgRecorder
from cekura_livekit.webhooks.config import ChannelConfig
from cekura_livekit.webhooks.secret import EndpointCache, WebhookEndpoint, endpoint_from_connection
from tests.webhooks.conftest import endpoints
from tests.webhooks.support import SECRET, body, rows

OK = {"X-CEKURA-SECRET": SECRET}


@pytest.fixture
async def client(channel: ChannelConfig) -> AsyncIterator[httpx.AsyncClient]:
    recorder = PgRecorder(channel)
    app = create_app(recorder, endpoints(), max_body=64 * 1024)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver") as c:
        yield c
    await recorder.aclose()


async def test_a_delivery_is_recorded_once_and_a_replay_is_a_duplicate(
    client: httpx.AsyncClient, channel: ChannelConfig
) -> None:
    first = await client.post("/", content=body(512), headers=OK)
    replay = await client.post("/", content=body(512), headers=OK)
    assert (first.status_code, first.json()["status"]) == (200, "recorded")
    assert (replay.status_code, replay.json()["status"]) == (200, "duplicate")
    assert [r[:5] for r in rows(channel)] == [
        ("result.completed:512", "result.completed", 512, "cekura_default", False)
    ]


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-CEKURA-SECRET": ""}, {"X-CEKURA-SECRET": SECRET + "x"}, {"X-CEKURA-SECRET": SECRET[:-1]}],
)
async def test_wrong_or_missing_secret_is_401_and_records_nothing(
    client: httpx.AsyncClient, channel: ChannelConfig, headers: dict[str, str]
) -> None:
    response = await client.post("/", content=body(512), headers=headers)
    assert response.status_code == 401
    assert rows(channel) == []


async def test_an_unknown_webhook_connection_looks_like_a_wrong_secret(
    client: httpx.AsyncClient, channel: ChannelConfig
) -> None:
    assert (await client.post("/someone_else", content=body(1), headers=OK)).status_code == 401
    assert (await client.post("/bad%20id", content=body(1), headers=OK)).status_code == 401
    assert rows(channel) == []


async def test_oversized_body_is_413_and_records_nothing(
    client: httpx.AsyncClient, channel: ChannelConfig
) -> None:
    big = body(512, padding="x" * 70_000)
    assert (await client.post("/", content=big, headers=OK)).status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the stream itself is capped
        for _ in range(80):
            yield b"x" * 1024

    assert (await client.post("/", content=chunks(), headers=OK)).status_code == 413
    assert rows(channel) == []


@pytest.mark.parametrize("raw", [b"{", b'{"event_type": "result.completed", "data": {}}', b'"x"'])
async def test_malformed_body_is_400_and_records_nothing(
    client: httpx.AsyncClient, channel: ChannelConfig, raw: bytes
) -> None:
    response = await client.post("/", content=raw, headers=OK)
    assert response.status_code == 400
    assert rows(channel) == []


async def test_other_event_types_are_acknowledged_and_not_recorded(
    client: httpx.AsyncClient, channel: ChannelConfig
) -> None:
    response = await client.post("/", content=body(3, event="pre_run.hook"), headers=OK)
    assert (response.status_code, response.json()["status"]) == (200, "ignored")
    assert rows(channel) == []


async def test_no_channel_is_503(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite metadata (the test suite's): nothing to record into, said honestly."""
    monkeypatch.delenv("CEKURA_WEBHOOK_DSN", raising=False)
    app = create_app(None, endpoints())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as c:
        response = await c.post("/", content=body(1), headers=OK)
    assert response.status_code == 503


async def test_database_down_is_503(monkeypatch: pytest.MonkeyPatch) -> None:
    down = ChannelConfig(dsn="host=127.0.0.1 port=1 user=postgres dbname=test connect_timeout=1")
    app = create_app(PgRecorder(down), endpoints())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as c:
        response = await c.post("/", content=body(1), headers=OK)
    assert response.status_code == 503


async def test_answers_within_100_ms(client: httpx.AsyncClient) -> None:
    await client.post("/", content=body(1), headers=OK)  # connect + create the table once
    timings = []
    for result_id in range(2, 62):
        start = time.perf_counter()
        response = await client.post("/", content=body(result_id), headers=OK)
        timings.append(time.perf_counter() - start)
        assert response.status_code == 200
    p95 = statistics.quantiles(timings, n=20)[18]
    assert p95 < 0.1, f"p95 {p95 * 1000:.1f} ms"


async def test_the_secret_never_reaches_a_log_or_a_response(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answers = [
        await client.post("/", content=body(5), headers=OK),
        await client.post("/", content=body(5), headers={"X-CEKURA-SECRET": SECRET + "-wrong"}),
        await client.post("/", content=b"{", headers=OK),
        await client.post("/other", content=body(5), headers=OK),
    ]
    assert SECRET not in caplog.text
    for answer in answers:
        assert SECRET not in answer.text
    assert SECRET not in repr(WebhookEndpoint(SECRET))


def test_the_secret_comes_from_an_airflow_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_CEKURA_WEBHOOK_ACME",
        json.dumps({"conn_type": "cekura_webhook", "password": SECRET, "extra": {"cekura_conn_id": "acme"}}),
    )
    endpoint = endpoint_from_connection("cekura_webhook_acme")
    assert endpoint is not None
    assert endpoint.accepts(SECRET)
    assert endpoint.cekura_conn_id == "acme"
    assert not endpoint.accepts(None)
    assert not endpoint.accepts("")
    assert endpoint_from_connection("cekura_webhook_missing") is None
    assert not WebhookEndpoint("").accepts("")  # an empty configured secret accepts nothing


def test_lookups_are_cached_briefly() -> None:
    calls: list[str] = []
    now = [0.0]

    def lookup(conn_id: str) -> WebhookEndpoint | None:
        calls.append(conn_id)
        return WebhookEndpoint(SECRET)

    cache = EndpointCache(lookup, ttl=60, clock=lambda: now[0])
    cache.get("a"), cache.get("a")
    now[0] = 61
    cache.get("a")
    assert calls == ["a", "a"]
