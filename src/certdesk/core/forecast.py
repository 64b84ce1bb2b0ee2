"""What expires when: the dashboard's weekly forecast (pure; R6 looks ahead the same way)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

DEFAULT_HORIZON_DAYS = 120


@dataclass(frozen=True)
class Week:
    """Certificates whose notAfter falls in [start, start + 7 days)."""

    start: date
    count: int

    @property
    def end(self) -> date:
        return self.start + timedelta(days=6)


def weekly(
    expiries: Iterable[datetime], now: datetime, days: int = DEFAULT_HORIZON_DAYS
) -> list[Week]:
    """Count ``expiries`` in (now, now + days] by week, the first week starting today.

    Every week of the horizon is present, empty ones with a count of zero, so a chart of the
    result has no gaps; expiries outside the horizon are not counted.
    """
    if days < 1:
        raise ValueError("the horizon must be at least one day")
    weeks = (days + 6) // 7
    counts = [0] * weeks
    end = now + timedelta(days=days)
    for at in expiries:
        if now < at <= end:
            index = min((at - now).days // 7, weeks - 1)
            counts[index] += 1
    return weeks_of(counts, now)


def week_bounds(now: datetime, days: int = DEFAULT_HORIZON_DAYS) -> list[datetime]:
    """Where each week of :func:`weekly` but the first begins: an expiry ``at`` in the
    horizon counts in week ``k``, the number of bounds ``<= at`` (so a store can count the
    weeks in one aggregate query and give the counts to :func:`weeks_of`)."""
    if days < 1:
        raise ValueError("the horizon must be at least one day")
    return [now + timedelta(days=7 * k) for k in range(1, (days + 6) // 7)]


def weeks_of(counts: Iterable[int], now: datetime) -> list[Week]:
    """The weeks of the forecast from their counts, the first week starting today."""
    today = now.date()
    return [Week(today + timedelta(days=7 * i), c) for i, c in enumerate(counts)]
