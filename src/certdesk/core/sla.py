"""R5 performance: how delivered cases did against their target and due dates.

Pure: the caller passes each case's stored R5 dates and instants; nothing is read here.
A case's target and due dates were fixed when it was approved (:func:`certdesk.core.calendar.
turnaround`), counted from the *Pacific date* of the last approval. The same start point
counts the business days a delivery took, so "3 business days" here means what it means on
the case:

- *within target*: delivered (Pacific date) on or before the case's target date;
- *within due*: delivered on or before its due date (which may be a later requested date);
- *late*: delivered after its due date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from certdesk.core.calendar import PACIFIC, BusinessCalendar

__all__ = ["SlaCount", "Timeliness", "percent", "timeliness"]


def _pacific_day(instant: datetime, what: str) -> date:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {instant.isoformat()}")
    return instant.astimezone(PACIFIC).date()


@dataclass(frozen=True)
class Timeliness:
    """How one delivered case did (R5)."""

    business_days: int  # from the approval date to the delivery date, (approved, delivered]
    within_target: bool
    within_due: bool


def timeliness(
    approved_at: datetime,
    delivered_at: datetime,
    target: date,
    due: date,
    calendar: BusinessCalendar,
) -> Timeliness:
    """Judge one delivered case against its R5 ``target`` and ``due`` dates.

    1. Both instants are taken as their calendar date in America/Los_Angeles, as
       :func:`~certdesk.core.calendar.turnaround` takes the approval.
    2. ``business_days`` counts the business days after the approval date up to and
       including the delivery date (a delivery on the approval day took 0).
    3. Within target/due compares the delivery date with the stored dates, so a requested
       later due date (R5) and a changed holiday list keep the judgement the case was given.

    Raises ``ValueError`` for a naive instant (a programming error).
    """
    approved = _pacific_day(approved_at, "approved_at")
    delivered = _pacific_day(delivered_at, "delivered_at")
    return Timeliness(
        business_days=calendar.business_days_between(approved, delivered),
        within_target=delivered <= target,
        within_due=delivered <= due,
    )


def percent(part: int, whole: int) -> float | None:
    """``part`` of ``whole`` in percent with one decimal, rounded half up; None for 0 of 0."""
    if whole <= 0:
        return None
    if not 0 <= part <= whole:
        raise ValueError(f"percent needs 0 <= part <= whole, got {part} of {whole}")
    tenths = (2000 * part + whole) // (2 * whole)
    return tenths / 10


@dataclass(frozen=True)
class SlaCount:
    """Delivered cases and how many met their target and due dates (R5)."""

    delivered: int = 0
    within_target: int = 0
    within_due: int = 0
    business_days: int = 0  # summed over the delivered cases, for the mean

    def plus(self, one: Timeliness) -> SlaCount:
        return SlaCount(
            self.delivered + 1,
            self.within_target + one.within_target,
            self.within_due + one.within_due,
            self.business_days + one.business_days,
        )

    def __add__(self, other: SlaCount) -> SlaCount:
        return SlaCount(
            self.delivered + other.delivered,
            self.within_target + other.within_target,
            self.within_due + other.within_due,
            self.business_days + other.business_days,
        )

    @property
    def late(self) -> int:
        """Delivered after the due date."""
        return self.delivered - self.within_due

    @property
    def within_target_pct(self) -> float | None:
        return percent(self.within_target, self.delivered)

    @property
    def within_due_pct(self) -> float | None:
        return percent(self.within_due, self.delivered)

    @property
    def mean_business_days(self) -> float | None:
        """The mean turnaround in business days, one decimal; None when nothing was delivered."""
        if not self.delivered:
            return None
        tenths = (20 * self.business_days + self.delivered) // (2 * self.delivered)
        return tenths / 10
