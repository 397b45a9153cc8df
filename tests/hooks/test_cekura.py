"""CekuraHook request shapes (paths, queries, bodies, headers) and error mapping, via httpx.MockTransport."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from cekura_livekit import USER_AGENT
from cekura_livekit.hooks.cekura import CekuraHook
from cekura_livekit.hooks.errors import (
    CekuraAuthError,
    CekuraNotFoundError,
    CekuraRateLimitError,
    CekuraServerError,
    CekuraSubmitUncertainError,
    CekuraTransportError,
    CekuraValidationError,
)

API_KEY = "sk-unit-test-4f1c9a77b2e04d2f8e3b"
BASE = "http://cekura.test"


@pytest.fixture(autouse=True)
def cekura_conn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_CEKURA_UNIT",
        json.dumps({"conn_type": "cekura", "host": BASE, "password": API_KEY, "extra": {"chunk_size": 2}}),
    )


Handler = Callable[[httpx.Request], httpx.Response]


def make_hook(handler: Handler, **kwargs: Any) -> tuple[CekuraHook, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    hook = CekuraHook(
        "cekura_unit",
        transport=httpx.MockTransport(record),
        async_transport=httpx.MockTransport(record),
        sleep=lambda s: None,
        **kwargs,
    )
    return hook, seen


def ok(body: Any) -> Handler:
    return lambda request: httpx.Response(200, json=body)


def test_headers_auth_and_user_agent() -> None:
    hook, seen = make_hook(ok({"id": 5, "runs": {}}))
    hook.get_result(5)
    req = seen[0]
    assert req.headers["X-CEKURA-API-KEY"] == API_KEY
    assert req.headers["User-Agent"].startswith(USER_AGENT)
    assert "Authorization" not in req.headers
    assert str(req.url) == f"{BASE}/test_framework/v2/results/5/"


@pytest.mark.parametrize(
    ("method_name", "path"),
    [
        ("submit_managed", "/test_framework/v1/scenarios-external/run_scenarios_livekit_v2/"),
        ("submit_byo_rooms", "/test_framework/v1/scenarios-external/run_scenarios_livekit/"),
        ("submit_chat", "/test_framework/v1/scenarios-external/run_scenarios_livekit_chat/"),
    ],
)
def test_submits_post_the_body_to_the_trailing_slash_path(method_name: str, path: str) -> None:
    hook, seen = make_hook(ok({"id": 9, "runs": []}))
    payload = {"scenarios": [{"scenario": 3}], "agent": 7, "name": "batch-1"}
    assert getattr(hook, method_name)(payload)["id"] == 9
    assert seen[0].method == "POST"
    assert seen[0].url.path == path
    assert json.loads(seen[0].content) == payload
    assert seen[0].headers["Content-Type"] == "application/json"


def test_runs_bulk_is_chunked_with_run_ids_param() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        ids = request.url.params["run_ids"].split(",")
        return httpx.Response(200, json=[{"id": int(i)} for i in ids])

    hook, seen = make_hook(handler)
    runs = hook.get_runs_bulk([1, 2, 3, 4, 5])
    assert [r["id"] for r in runs] == [1, 2, 3, 4, 5]
    assert [r.url.params["run_ids"] for r in seen] == ["1,2", "3,4", "5"]
    assert all(r.url.path == "/test_framework/v2/runs/bulk/" for r in seen)
    assert "ids" not in seen[0].url.params


def test_iter_runs_follows_pagination_with_filters() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        nxt = "x" if page < 3 else None
        return httpx.Response(
            200, json={"count": 5, "next": nxt, "previous": None, "results": [{"id": page}]}
        )

    hook, seen = make_hook(handler)
    assert [r["id"] for r in hook.iter_runs(result_id=42, status_in=["completed", "failed"])] == [1, 2, 3]
    params = seen[0].url.params
    assert params["result_id"] == "42"
    assert params["status__in"] == "completed,failed"
    assert seen[0].url.path == "/test_framework/v2/runs/"


def test_find_results_by_name_filters_exact_names() -> None:
    body = {"count": 2, "next": None, "results": [{"id": 1, "name": "abc"}, {"id": 2, "name": "abc-retry"}]}
    hook, seen = make_hook(ok(body))
    assert [r["id"] for r in hook.find_results_by_name("abc", agent_id=3)] == [1]
    assert seen[0].url.params["search"] == "abc"
    assert seen[0].url.params["agent_id"] == "3"


def test_end_calls_end_call_agent_project_and_share_link() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "aiagents" in request.url.path:
            return httpx.Response(200, json={"id": 7, "project": 31})
        if "shareable" in request.url.path:
            return httpx.Response(200, json={"token": "t", "shareable_link": "https://share/x"})
        return httpx.Response(200, json={})

    hook, seen = make_hook(handler)
    hook.end_calls(12)
    hook.end_call(99)
    assert hook.get_agent_project_id(7) == 31
    assert hook.create_shareable_link(12) == "https://share/x"
    assert [(r.method, r.url.path) for r in seen] == [
        ("POST", "/test_framework/v1/results/12/end_calls/"),
        ("POST", "/test_framework/v1/runs/99/end_call/"),
        ("GET", "/test_framework/v2/aiagents/7/"),
        ("POST", "/test_framework/v1/results/12/create_shareable_link_token/"),
    ]
    assert hook.dashboard_url(12, 31) == "https://dashboard.cekura.ai/31/results/12"


@pytest.mark.parametrize("bad", [None, "abc", -1, 1.5, True])
def test_bad_ids_fail_before_any_request(bad: object) -> None:
    hook, seen = make_hook(ok({}))
    with pytest.raises(ValueError, match="result_id"):
        hook.get_result(bad)  # type: ignore[arg-type]
    assert seen == []


def test_empty_submit_fails_before_any_request() -> None:
    hook, seen = make_hook(ok({}))
    with pytest.raises(ValueError, match="scenarios"):
        hook.submit_managed({"scenarios": []})
    assert seen == []


@pytest.mark.parametrize(
    ("status", "body", "error", "fragment"),
    [
        (
            401,
            {"detail": "Invalid API key"},
            CekuraAuthError,
            "API key of connection 'cekura_unit' was rejected",
        ),
        (403, {"detail": "forbidden"}, CekuraAuthError, "403"),
        (404, {"detail": "Not found."}, CekuraNotFoundError, "Not found."),
        (
            400,
            {"frequency": ["Ensure this value is less than or equal to 100."]},
            CekuraValidationError,
            "frequency",
        ),
        (400, ["run_ids must be comma-separated integers"], CekuraValidationError, "comma-separated"),
    ],
)
def test_error_mapping_names_endpoint_and_status(status: int, body: Any, error: type, fragment: str) -> None:
    hook, seen = make_hook(lambda r: httpx.Response(status, json=body))
    with pytest.raises(error) as info:
        hook.get_result(1)
    message = str(info.value)
    assert "GET /test_framework/v2/results/1/" in message
    assert str(status) in message
    assert fragment in message
    assert len(seen) == 1  # 4xx other than 408/429 is never retried


def test_validation_error_keeps_field_messages() -> None:
    body = {"scenarios": ["Unknown scenario id 999."], "frequency": ["too big"]}
    hook, _ = make_hook(lambda r: httpx.Response(400, json=body))
    with pytest.raises(CekuraValidationError) as info:
        hook.submit_managed({"scenarios": [{"scenario": 999}]})
    assert info.value.field_errors == body


def test_api_key_never_in_messages_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    # A hostile server echoes the key back in every error body.
    def handler(request: httpx.Request) -> httpx.Response:
        echoed = request.headers["X-CEKURA-API-KEY"]
        if request.url.path.endswith("/1/"):
            return httpx.Response(500, text=f"boom {echoed}")
        return httpx.Response(400, json={"api_key": [f"bad key {echoed}"]})

    hook, _ = make_hook(handler, retry_limit=2)
    messages = []
    with caplog.at_level(logging.DEBUG):
        for call in (lambda: hook.get_result(1), lambda: hook.get_result(2)):
            with pytest.raises(Exception) as info:
                call()
            messages.append(str(info.value))
    assert "***" in messages[0]
    assert "***" in messages[1]
    everything = "\n".join(messages + [r.getMessage() for r in caplog.records])
    assert API_KEY not in everything


def test_reads_retry_500_then_succeed_and_log_the_retry(caplog: pytest.LogCaptureFixture) -> None:
    replies = iter([httpx.Response(502, text="bad gateway"), httpx.Response(200, json={"id": 3, "runs": {}})])
    hook, seen = make_hook(lambda r: next(replies))
    with caplog.at_level(logging.WARNING):
        assert hook.get_result(3)["id"] == 3
    assert len(seen) == 2
    assert any("retrying in" in r.getMessage() for r in caplog.records)


def test_reads_give_up_after_the_limit() -> None:
    hook, seen = make_hook(lambda r: httpx.Response(503, text="down"), retry_limit=3)
    with pytest.raises(CekuraServerError, match="503"):
        hook.get_result(3)
    assert len(seen) == 4


@pytest.mark.parametrize("status", [429, 500, 503])
def test_submit_is_never_retried(status: int) -> None:
    hook, seen = make_hook(lambda r: httpx.Response(status, headers={"Retry-After": "0"}, text="x"))
    with pytest.raises((CekuraRateLimitError, CekuraServerError)):
        hook.submit_managed({"scenarios": [{"scenario": 1}]})
    assert len(seen) == 1


def test_submit_without_answer_is_reported_as_uncertain_not_retried() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    hook, seen = make_hook(handler)
    with pytest.raises(CekuraSubmitUncertainError, match="may or may not exist"):
        hook.submit_byo_rooms({"scenarios": [{"scenario": 1}]})
    assert len(seen) == 1


def test_transport_errors_on_reads_are_retried() -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] < 3:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"id": 1, "runs": {}})

    hook, _ = make_hook(handler)
    assert hook.get_result(1)["id"] == 1
    assert calls["n"] == 3


def test_malformed_json_is_a_transport_error_and_retried() -> None:
    replies = iter([httpx.Response(200, text="<html>oops"), httpx.Response(200, json={"id": 1, "runs": {}})])
    hook, seen = make_hook(lambda r: next(replies))
    assert hook.get_result(1)["id"] == 1
    assert len(seen) == 2
    hook2, _ = make_hook(lambda r: httpx.Response(200, text="<html>"), retry_limit=0)
    with pytest.raises(CekuraTransportError, match="not JSON"):
        hook2.get_result(1)


def test_missing_api_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CEKURA_NOKEY", json.dumps({"conn_type": "cekura", "host": BASE}))
    with pytest.raises(ValueError, match="password field"):
        CekuraHook("cekura_nokey").get_result(1)


def test_chunk_size_above_100_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_CEKURA_BIG",
        json.dumps({"conn_type": "cekura", "host": BASE, "password": "k", "extra": {"chunk_size": 500}}),
    )
    with pytest.raises(ValueError, match="chunk_size=500"):
        CekuraHook("cekura_big").get_runs_bulk([1])


def test_default_base_url_when_host_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CEKURA_DEF", json.dumps({"conn_type": "cekura", "password": "k"}))
    assert CekuraHook("cekura_def").settings.base_url == "https://api.cekura.ai"


def test_test_connection_reports_both_ways() -> None:
    good, _ = make_hook(ok({"count": 0, "next": None, "results": []}))
    assert good.test_connection()[0] is True
    bad, _ = make_hook(lambda r: httpx.Response(401, json={"detail": "no"}))
    status, message = bad.test_connection()
    assert status is False
    assert "401" in message
    assert API_KEY not in message


async def test_async_client_reuses_one_pool_and_retries() -> None:
    replies = iter(
        [
            httpx.Response(429, headers={"Retry-After": "0"}),
            httpx.Response(200, json={"id": 4, "runs": {}}),
            httpx.Response(200, json=[{"id": 1}, {"id": 2}]),
            httpx.Response(200, json=[{"id": 3}]),
            httpx.Response(200, json={}),
        ]
    )
    hook, seen = make_hook(lambda r: next(replies))
    async with hook:
        client = hook._aclient
        assert (await hook.aget_result(4))["id"] == 4
        assert [r["id"] for r in await hook.aget_runs_bulk([1, 2, 3])] == [1, 2, 3]
        await hook.aend_calls(4)
        assert hook._aclient is client
    assert hook._aclient is None
    assert [r.url.path for r in seen][-1] == "/test_framework/v1/results/4/end_calls/"
    assert len(seen) == 5
