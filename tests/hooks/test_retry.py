"""RetryPolicy and Retry-After parsing, without a network: the arithmetic the hook's waits rely on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from cekura_livekit.hooks.errors import CekuraAuthError, CekuraRateLimitError, CekuraServerError
from cekura_livekit.hooks.retry import RetryPolicy, parse_retry_after

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        ("3", 3.0),
        (" 1.5 ", 1.5),
        ("-4", 0.0),
        ("soon", None),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def test_a_naive_http_date_is_taken_as_utc() -> None:
    assert parse_retry_after("Tue, 01 Dec 2026 12:00:10 -0000", now=NOW) == 10.0


def test_only_retryable_errors_are_retried_up_to_the_limit() -> None:
    policy = RetryPolicy(limit=2)
    server = CekuraServerError("5xx", endpoint="GET /x/")
    assert policy.should_retry(server, 1)
    assert policy.should_retry(server, 2)
    assert not policy.should_retry(server, 3)
    assert not policy.should_retry(CekuraAuthError("401", endpoint="GET /x/"), 1)


def test_retry_after_is_obeyed_up_to_its_cap() -> None:
    policy = RetryPolicy(max_retry_after=60)
    assert policy.delay(CekuraRateLimitError("429", endpoint="e", retry_after=7), 1) == 7
    assert policy.delay(CekuraRateLimitError("429", endpoint="e", retry_after=600), 1) == 60


@pytest.mark.parametrize("attempt", [1, 2, 3, 6, 10])
def test_backoff_is_capped_exponential_with_equal_jitter(attempt: int) -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    backoff = min(8.0, 2.0 ** (attempt - 1))
    waits = [policy.delay(CekuraServerError("5xx", endpoint="e"), attempt) for _ in range(200)]
    assert all(backoff / 2 <= w <= backoff for w in waits)
    assert len(set(waits)) > 1, "no jitter: concurrent clients would retry in lockstep"


@pytest.mark.parametrize("field", ["limit", "base_delay", "max_delay", "max_retry_after"])
def test_negative_settings_are_refused(field: str) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        RetryPolicy(**{field: -1})
