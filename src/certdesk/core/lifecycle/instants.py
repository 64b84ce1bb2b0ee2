"""Instants as the lifecycle rules read them: aware UTC, and days of the state's calendar.

Calendar reasoning (business days, "N days before") happens in America/Los_Angeles, the
state's calendar (R5, R7).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from certdesk.core.calendar import PACIFIC


def require_aware(instant: datetime, what: str) -> datetime:
    """Return ``instant`` in UTC; a naive datetime is a programming error, not user input."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {instant.isoformat()}")
    return instant.astimezone(UTC)


def start_of_pacific_day(day: date) -> datetime:
    """00:00 America/Los_Angeles on ``day``, as aware UTC.

    Midnight is never inside a DST gap or fold there (the switches happen at 02:00 local).
    """
    return datetime.combine(day, time(0), tzinfo=PACIFIC).astimezone(UTC)


def days_before(instant: datetime, days: int) -> datetime:
    """The same Pacific wall-clock time as ``instant``, ``days`` calendar days earlier.

    Calendar days, not multiples of 24 hours: a notice "30 days before" a 17:00 expiry is due
    at 17:00 Pacific on that day whether or not a DST switch lies in between. An imported
    certificate may expire at any hour; a wall-clock time that falls in a DST gap is read
    with the offset before the switch (``fold=0``), which is deterministic.
    """
    local = instant.astimezone(PACIFIC)
    day = local.date() - timedelta(days=days)
    wall = datetime.combine(day, local.time().replace(fold=0), tzinfo=PACIFIC)
    return wall.astimezone(UTC)
