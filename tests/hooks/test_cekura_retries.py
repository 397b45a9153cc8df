"""The retry matrix over real HTTP on 127.0.0.1, with the waits measured rather than assumed."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from cekura_livekit.hooks.cekura import CekuraHook
from cekura_livekit.hooks.errors import CekuraRateLimitError, CekuraValidationError
from cekura_livekit.hooks.retry import RetryPolicy, parse_retry_after
from tests.support.scripted_server import Reply, ScriptedServer

KEY = "sk-retry-test-0b6d1e2f3a4c5d6e7f80"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    with ScriptedServer() as srv:
        monkeypatch.setenv(
            "AIRFLOW_CONN_CEKURA_SCRIPTED",
            json.dumps({"conn_type": "cekura", "host": srv.url, "password": KEY, "extra": {"timeout": 2}}),
        )
        yield srv


def hook(**kw: float) -> CekuraHook:
    return CekuraHook("cekura_scripted", retry_delay=0.05, retry_max_delay=0.2, **kw)  # type: ignore[arg-type]


def test_429_retry_after_seconds_is_honoured(server: ScriptedServer) -> None:
    server.queue(Reply(429, {"detail": "slow down"}, {"Retry-After": "1"}), Reply(200, {"id": 8, "runs": {}}))
    started = time.monotonic()
    assert hook().get_result(8)["id"] == 8
    waited = server.seen[1].at - server.seen[0].at
    assert waited >= 0.95, f"retried after {waited:.2f}s, before Retry-After: 1"
    assert time.monotonic() - started < 5


def test_429_retry_after_http_date_is_honoured(server: ScriptedServer) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    server.queue(Reply(429, {}, {"Retry-After": when}), Reply(200, {"id": 8, "runs": {}}))
    hook().get_result(8)
    # HTTP dates have one-second resolution: the wait is between 1 and 2 s.
    assert server.seen[1].at - server.seen[0].at >= 0.9


def test_500_then_200(server: ScriptedServer) -> None:
    server.queue(Reply(500, {"detail": "oops"}), Reply(200, {"id": 2, "runs": {}}))
    assert hook().get_result(2)["id"] == 2
    assert len(server.seen) == 2


def test_dropped_connection_then_200(server: ScriptedServer) -> None:
    server.queue(Reply(drop=True), Reply(200, {"id": 2, "runs": {}}))
    assert hook().get_result(2)["id"] == 2
    assert len(server.seen) == 2


def test_400_is_not_retried(server: ScriptedServer) -> None:
    server.queue(Reply(400, ["run_ids must be comma-separated integers"]))
    with pytest.raises(CekuraValidationError, match="comma-separated"):
        hook().get_runs_bulk([1])
    assert len(server.seen) == 1


def test_submit_is_not_retried_even_on_429(server: ScriptedServer) -> None:
    server.queue(Reply(429, {}, {"Retry-After": "0"}), Reply(200, {"id": 1}))
    with pytest.raises(CekuraRateLimitError):
        hook().submit_managed({"scenarios": [{"scenario": 1}]})
    assert [s.method for s in server.seen] == ["POST"]


def test_rate_limit_storm_gives_up_at_the_limit(server: ScriptedServer) -> None:
    server.default = Reply(429, {}, {"Retry-After": "0"})
    with pytest.raises(CekuraRateLimitError, match="429"):
        CekuraHook("cekura_scripted", retry_limit=3).get_result(1)
    assert len(server.seen) == 4


async def test_async_path_honours_retry_after(server: ScriptedServer) -> None:
    server.queue(Reply(429, {}, {"Retry-After": "1"}), Reply(200, {"id": 5, "runs": {}}))
    async with hook() as h:
        assert (await h.aget_result(5))["id"] == 5
    assert server.seen[1].at - server.seen[0].at >= 0.95


def test_backoff_is_capped_and_jittered() -> None:
    policy = RetryPolicy(limit=10, base_delay=1, max_delay=8)
    err = CekuraRateLimitError("x", endpoint="GET /", retry_after=None)
    delays = [policy.delay(err, attempt) for attempt in range(1, 10)]
    assert all(0.5 <= d <= 8 for d in delays)
    assert max(delays) > 4  # grows
    assert policy.delay(CekuraRateLimitError("x", endpoint="GET /", retry_after=500), 1) == 300


@pytest.mark.parametrize(
    ("value", "expected"), [("3", 3.0), ("0", 0.0), ("junk", None), (None, None), ("-2", 0.0)]
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_negative_retry_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="retry_limit=-1"):
        CekuraHook("cekura_scripted", retry_limit=-1)
