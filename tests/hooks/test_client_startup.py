"""Client start-up (issue 14): one TLS context per process, one pooled AsyncClient per loop and API.

Building an SSL context costs ~35 ms, and every trigger start and sensor poke used to pay it; 500 triggers
each held their own pool. These tests count contexts and clients, and prove the shared pool still sends
each hook's own API key.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any

import pytest

from cekura_livekit.hooks.cekura import CekuraHook, shared_async_clients
from cekura_livekit.hooks.errors import CekuraAuthError


@pytest.fixture
def context_count(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    made = [0]
    real = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    return made


def test_many_sync_clients_and_async_hooks_build_at_most_one_ssl_context(
    cekura_sandbox_connections: dict[str, str], context_count: list[int]
) -> None:
    for _ in range(10):
        hook = CekuraHook()
        hook.get_conn()
        hook.close()

    async def enter_many() -> None:
        for _ in range(10):
            async with CekuraHook():
                pass

    asyncio.run(enter_many())
    assert context_count[0] <= 1, f"{context_count[0]} SSL contexts built for 20 clients"


def test_concurrent_triggers_share_one_pool_and_keep_their_own_api_key(
    cekura_sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in cekura_sandbox.connection_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(
        "AIRFLOW_CONN_CEKURA_WRONG_KEY",
        json.dumps(
            {
                "conn_type": "cekura",
                "host": cekura_sandbox.cekura_url,
                "password": "sk-not-the-sandbox-key-000",
            }
        ),
    )
    result_id = CekuraHook().submit_managed({"scenarios": [{"scenario": 2001}], "frequency": 2})["id"]

    async def wait_like_triggers() -> tuple[list[Any], int, int, int]:
        created = shared_async_clients.created
        entered = asyncio.Event()
        inside = [0]

        async def one(i: int) -> Any:
            async with CekuraHook("cekura_wrong_key" if i % 10 == 0 else "cekura_default") as hook:
                inside[0] += 1
                if inside[0] == 50:
                    entered.set()
                await entered.wait()  # all 50 hold the hook at once, like waiting triggers
                return await hook.aget_result(result_id)

        outcomes = await asyncio.gather(*(one(i) for i in range(50)), return_exceptions=True)
        return outcomes, shared_async_clients.created - created, shared_async_clients.users(), inside[0]

    outcomes, built, users_after, inside = asyncio.run(wait_like_triggers())
    assert inside == 50
    assert built == 1, f"{built} clients for 50 concurrent hooks on one loop"
    assert users_after == 0
    rejected = [o for i, o in enumerate(outcomes) if i % 10 == 0]
    accepted = [o for i, o in enumerate(outcomes) if i % 10]
    assert all(isinstance(o, CekuraAuthError) for o in rejected), rejected
    assert all(isinstance(o, dict) and o["id"] == result_id for o in accepted), accepted[:3]


def test_requests_in_flight_on_the_shared_pool_are_bounded(
    cekura_sandbox_connections: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hundreds of polls at once wait on a semaphore, not inside httpcore's pool (CPU per queued request)."""
    import httpx

    from cekura_livekit.hooks.cekura import SHARED_IN_FLIGHT

    result_id = CekuraHook().submit_managed({"scenarios": [{"scenario": 2001}], "frequency": 2})["id"]
    in_flight, peak = [0], [0]
    real_send = httpx.AsyncClient.send

    async def counting_send(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> httpx.Response:
        in_flight[0] += 1
        peak[0] = max(peak[0], in_flight[0])
        try:
            await asyncio.sleep(0.01)  # hold the slot long enough for the others to pile up
            return await real_send(self, *args, **kwargs)
        finally:
            in_flight[0] -= 1

    monkeypatch.setattr(httpx.AsyncClient, "send", counting_send)

    async def many() -> list[Any]:
        async def one() -> Any:
            async with CekuraHook() as hook:
                return await hook.aget_result(result_id)

        return await asyncio.gather(*(one() for _ in range(3 * SHARED_IN_FLIGHT)))

    answers = asyncio.run(many())
    assert all(a["id"] == result_id for a in answers)
    assert peak[0] == SHARED_IN_FLIGHT, f"{peak[0]} requests in flight at once"
