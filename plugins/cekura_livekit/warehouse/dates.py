"""Calendar days as the warehouse stores them: one parser for dates from SQL rows, XCom and callers.

SQLite returns dates as ISO text, PostgreSQL as `date`, callers pass either (or a datetime); every module that
compares days goes through `as_date`, so the same value never parses two ways.
"""

from __future__ import annotations

from datetime import date, datetime


def as_date(value: object) -> date:
    """A `date` from a date, a datetime (its calendar day) or ISO text (``YYYY-MM-DD…``)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ValueError(f"date={value!r} is not an ISO date (YYYY-MM-DD)") from None
