"""A simulated clock: tests and demos compress hours of Cekura run time into seconds of real time."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class SimClock:
    """Simulated now = anchor + (real elapsed since anchor) × speed; `set()` moves the anchor."""

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed={speed!r} must be > 0 (1.0 = real time, 600 = a minute every 0.1 s)")
        self.speed = float(speed)
        self._lock = threading.Lock()
        self._sim_anchor = _utc(start) if start is not None else datetime.now(UTC)
        self._real_anchor = time.monotonic()

    def now(self) -> datetime:
        with self._lock:
            elapsed = (time.monotonic() - self._real_anchor) * self.speed
            return self._sim_anchor + timedelta(seconds=elapsed)

    def set(self, now: datetime) -> None:
        """Jump the simulated clock (forward or back); it keeps advancing at `speed` from there."""
        with self._lock:
            self._sim_anchor = _utc(now)
            self._real_anchor = time.monotonic()

    def sim_seconds(self, real_seconds: float) -> float:
        return real_seconds * self.speed


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"datetime {value.isoformat()} has no timezone; pass a tz-aware UTC datetime")
    return value.astimezone(UTC)


def iso(value: datetime) -> str:
    """ISO 8601 with a `Z` suffix and microseconds, the way Django REST framework renders datetimes."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
