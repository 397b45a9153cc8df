"""Retry policy for Cekura reads: exponential backoff with jitter, capped, and `Retry-After` honoured."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from cekura_livekit.hooks.errors import CekuraError, CekuraRateLimitError


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date; None if absent or junk."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long to wait between attempts of an idempotent request.

    `limit` counts retries after the first attempt. A server's `Retry-After` is obeyed as given (never
    shortened) up to `max_retry_after`, so a rate limit is respected rather than hammered.
    """

    limit: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_retry_after: float = 300.0

    def __post_init__(self) -> None:
        for field, value in (
            ("retry_limit", self.limit),
            ("retry_delay", self.base_delay),
            ("retry_max_delay", self.max_delay),
            ("max_retry_after", self.max_retry_after),
        ):
            if value < 0:
                raise ValueError(f"{field}={value!r} must be >= 0")

    def should_retry(self, error: CekuraError, attempt: int) -> bool:
        """`attempt` is the number of attempts made so far (1 after the first)."""
        return error.retryable and attempt <= self.limit

    def delay(self, error: CekuraError, attempt: int) -> float:
        """Wait before the next attempt: the server's Retry-After, else capped exponential backoff with jitter."""
        if isinstance(error, CekuraRateLimitError) and error.retry_after is not None:
            return min(error.retry_after, self.max_retry_after)
        backoff = min(self.max_delay, self.base_delay * 2 ** max(attempt - 1, 0))
        # "Equal jitter": at least half the backoff, so concurrent clients spread without collapsing to zero.
        return backoff / 2 + random.uniform(0, backoff / 2)
