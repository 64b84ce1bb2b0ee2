"""Times as people read them: the state's wall clock, with its zone (R19, R7).

Pages, CSV exports and mail show every instant in America/Los_Angeles with the zone's
abbreviation, e.g. ``21 Jun 2027, 17:00 PDT``; a certificate that expires at 17:00 Pacific
(R7) reads as 17:00, never as the next day in UTC. The API keeps UTC ISO 8601: machines
convert for themselves. This is the one place that formats a time for a person.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from certdesk.core.calendar import PACIFIC

__all__ = ["pacific_day", "pacific_time", "pacific_timestamp"]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    # Stored instants are UTC; a naive one read back from a database is UTC too.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def pacific_time(value: datetime | str | None, *, empty: str = "—") -> str:
    """``21 Jun 2027, 17:00 PDT``: an instant on the state's wall clock, zone shown."""
    if value is None or value == "":
        return empty
    local = _aware(value).astimezone(PACIFIC)
    return f"{_day_text(local.date())}, {local:%H:%M} {local.tzname()}"


def pacific_day(value: datetime | date | str | None, *, empty: str = "—") -> str:
    """``21 Jun 2027``: the Pacific calendar day of an instant, or a date as it is.

    A date (a due date, a week's start) is already a Pacific day (R5); an instant is turned
    into one first, so an expiry at 17:00 PDT is that day and not the next one in UTC.
    """
    if value is None or value == "":
        return empty
    if isinstance(value, str):
        value = date.fromisoformat(value) if len(value) == 10 else _aware(value)
    if isinstance(value, datetime):
        value = _aware(value).astimezone(PACIFIC).date()
    return _day_text(value)


def pacific_timestamp(value: datetime | str | None) -> str:
    """``2027-06-21 17:00 PDT``: the sortable form for CSV columns people open in a
    spreadsheet; empty when there is no time."""
    if value is None or value == "":
        return ""
    local = _aware(value).astimezone(PACIFIC)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def _day_text(day: date) -> str:
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"
