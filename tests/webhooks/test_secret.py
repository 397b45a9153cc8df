"""The webhook secret: compared in constant time, never in a repr, and looked up through a short cache."""

from __future__ import annotations

import json

import pytest

from cekura_livekit.webhooks.secret import (
    DEFAULT_CEKURA_CONN_ID,
    EndpointCache,
    WebhookEndpoint,
    endpoint_from_connection,
)


@pytest.mark.parametrize(
    ("configured", "presented", "accepted"),
    [
        ("s3cret", "s3cret", True),
        ("s3cret", "s3cre", False),
        ("s3cret", "S3CRET", False),
        ("s3cret", None, False),
        ("s3cret", "", False),
        ("", "", False),  # an empty configured secret never matches, not even an empty header
        ("", "anything", False),
        ("sécret", "sécret", True),  # non-ASCII secrets compare as UTF-8
    ],
)
def test_accepts(configured: str, presented: str | None, accepted: bool) -> None:
    assert WebhookEndpoint(configured).accepts(presented) is accepted


def test_the_secret_is_not_in_the_repr() -> None:
    assert "whsec-hidden" not in repr(WebhookEndpoint("whsec-hidden"))


def test_an_undefined_connection_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_WEBHOOK", raising=False)
    assert endpoint_from_connection("no_such_webhook") is None


def test_a_connection_without_extra_announces_the_default_cekura_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WH_PLAIN", json.dumps({"conn_type": "cekura_webhook", "password": "pw"}))
    assert endpoint_from_connection("wh_plain") == WebhookEndpoint("pw", DEFAULT_CEKURA_CONN_ID)
    monkeypatch.setenv("AIRFLOW_CONN_WH_NOPW", json.dumps({"conn_type": "cekura_webhook"}))
    endpoint = endpoint_from_connection("wh_nopw")
    assert endpoint is not None
    assert endpoint.secret == ""
    assert not endpoint.accepts("")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_cache_serves_a_known_endpoint_for_ttl_seconds() -> None:
    calls: list[str] = []
    clock = Clock()

    def lookup(conn_id: str) -> WebhookEndpoint | None:
        calls.append(conn_id)
        return WebhookEndpoint(f"secret-{len(calls)}")

    cache = EndpointCache(lookup, ttl=60, clock=clock)
    assert cache.peek("a") == (False, None)  # nothing yet, and peek never looks up
    assert calls == []
    assert cache.get("a") == WebhookEndpoint("secret-1")
    clock.now = 59.9
    assert cache.peek("a") == (True, WebhookEndpoint("secret-1"))
    assert cache.get("a") == WebhookEndpoint("secret-1")
    clock.now = 60.0
    assert cache.peek("a")[0] is False  # stale: a rotated secret is live within the ttl
    assert cache.get("a") == WebhookEndpoint("secret-2")
    assert calls == ["a", "a"]


def test_an_unknown_connection_is_remembered_for_at_most_five_seconds() -> None:
    known: dict[str, WebhookEndpoint] = {}
    clock = Clock()
    cache = EndpointCache(known.get, ttl=60, clock=clock)
    assert cache.get("new") is None
    known["new"] = WebhookEndpoint("pw")
    clock.now = 4.9
    assert cache.get("new") is None
    clock.now = 5.0
    assert cache.get("new") == WebhookEndpoint("pw")
