"""`as_date`: one parser for the days SQLite returns as text, PostgreSQL as `date` and callers as either."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from cekura_livekit.warehouse.dates import as_date


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(2024, 3, 1), date(2024, 3, 1)),
        (datetime(2024, 3, 1, 23, 59, tzinfo=UTC), date(2024, 3, 1)),  # a datetime is its calendar day
        ("2024-03-01", date(2024, 3, 1)),
        ("2024-03-01T12:30:00+00:00", date(2024, 3, 1)),  # SQLite timestamps as text: the first ten chars
        ("2024-03-01 12:30:00", date(2024, 3, 1)),
    ],
)
def test_dates_datetimes_and_iso_text_give_the_same_day(value: object, expected: date) -> None:
    assert as_date(value) == expected
    assert type(as_date(value)) is date


@pytest.mark.parametrize("value", ["03/01/2024", "", None, 2024, "2024-13-01"])
def test_anything_else_is_refused_naming_the_value_and_the_format(value: object) -> None:
    with pytest.raises(ValueError, match=r"date=.* is not an ISO date \(YYYY-MM-DD\)") as caught:
        as_date(value)
    assert repr(value) in str(caught.value)
