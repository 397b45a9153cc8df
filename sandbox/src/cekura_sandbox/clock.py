"""A simulated clock: tests and demos compress hours of Cekura run time into seconds of real time.

The simulated now never passes the wall clock: runs dated in the future make reports lie ("Nov 23" on
Nov 22). Without an explicit start, a fast clock starts far enough in the past that it reaches the wall
clock only after `CATCH_UP_REAL_SECONDS` of real time; from then on it follows the wall clock (real time).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

#: Real seconds a fast clock without an explicit start runs at full speed before it meets the wall clock.
CATCH_UP_REAL_SECONDS = 4 * 3600.0


class SimClock:
    """Simulated now = min(anchor + (real elapsed since anchor) × speed, wall clock); `set()` moves the anchor."""

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed={speed!r} must be > 0 (1.0 = real time, 600 = a minute every 0.1 s)")
        self.speed = float(speed)
        self._lock = threading.Lock()
        if start is None:
            lead = max(self.speed - 1.0, 0.0) * CATCH_UP_REAL_SECONDS
            start = datetime.now(UTC) - timedelta(seconds=lead)
        self._sim_anchor = _not_future(_utc(start))
        self._real_anchor = time.monotonic()

    def now(self) -> datetime:
        with self._lock:
            elapsed = (time.monotonic() - self._real_anchor) * self.speed
            return min(self._sim_anchor + timedelta(seconds=elapsed), datetime.now(UTC))

    def set(self, now: datetime) -> None:
        """Jump the simulated clock (forward or back, never past the wall clock); it keeps advancing at
        `speed` from there."""
        value = _not_future(_utc(now))
        with self._lock:
            self._sim_anchor = value
            self._real_anchor = time.monotonic()

    def sim_seconds(self, real_seconds: float) -> float:
        return real_seconds * self.speed


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"datetime {value.isoformat()} has no timezone; pass a tz-aware UTC datetime")
    return value.astimezone(UTC)


def _not_future(value: datetime) -> datetime:
    wall = datetime.now(UTC)
    if value > wall + timedelta(seconds=1):
        raise ValueError(
            f"simulated time {value.isoformat()} is after the wall clock ({wall.isoformat()}); runs would be "
            "dated in the future. Pick a start at or before now."
        )
    return value


def iso(value: datetime) -> str:
    """ISO 8601 with a `Z` suffix and microseconds, the way Django REST framework renders datetimes."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
