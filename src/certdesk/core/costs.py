"""R11: what a managed certificate costs, recorded when it is delivered.

A managed organization pays a cost per certificate-year (the organization's own, else the
configured default). A certificate costs that rate times its validity in days over 365,
rounded half up to a whole cent. Its validity in days is counted in calendar days from the
Pacific date of ``notBefore`` to the Pacific date of ``notAfter`` (R7: it expires at 17:00
Pacific on its final day), i.e. the number of days the customer asked for — one day fewer
when R13's inclusive limit moved the final day back.

Pure: no clock, no database.
"""

from __future__ import annotations

from datetime import datetime

from certdesk.core.calendar import PACIFIC
from certdesk.errors import InvalidInput

DAYS_PER_YEAR = 365
MAX_CENTS_PER_YEAR = 100_000_000  # one million dollars a year: anything above is a typo


def certificate_days(not_before: datetime, not_after: datetime) -> int:
    """Calendar days of validity, Pacific date to Pacific date (at least 1)."""
    first = not_before.astimezone(PACIFIC).date()
    last = not_after.astimezone(PACIFIC).date()
    return max(1, (last - first).days)


def certificate_cost(cents_per_year: int, days: int) -> int:
    """``cents_per_year * days / 365`` in whole cents, rounded half up."""
    if cents_per_year < 0 or days < 0:
        raise ValueError("a cost and a validity are never negative")
    return (2 * cents_per_year * days + DAYS_PER_YEAR) // (2 * DAYS_PER_YEAR)


def check_rate(cents_per_year: int) -> int:
    """A cost per certificate-year an operator may set (R11)."""
    if not 0 <= cents_per_year <= MAX_CENTS_PER_YEAR:
        raise InvalidInput(
            "cost.rate",
            f"a cost per certificate-year is 0 to {MAX_CENTS_PER_YEAR} cents, not {cents_per_year}",
        )
    return cents_per_year
