"""R6: when the renewal case of a certificate opens, and which constraint decided it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from certdesk.core.calendar import PACIFIC, BusinessCalendar
from certdesk.core.lifecycle.instants import require_aware, start_of_pacific_day
from certdesk.core.lifecycle.policy import LifecyclePolicy


class RenewalBasis(StrEnum):
    """Which constraint decided when a renewal opens (shown to operators)."""

    TURNAROUND = "turnaround"  # (a) the last day the R5 due date still meets the margin
    LIFETIME = "lifetime"  # (b) the lifetime fraction of the validity period
    REQUESTED = "requested"  # (c) the customer asked for an earlier renewal date
    VENDOR = "vendor"  # (d) the vendor CA's renewal information asks for it (RFC 9773)
    ISSUANCE = "issuance"  # all of them fell before not_before: open at once


@dataclass(frozen=True)
class RenewalPlan:
    """When a certificate's renewal case opens, and why (R6)."""

    opens_at: datetime  # aware UTC; the earliest of the candidates, never before not_before
    basis: RenewalBasis
    turnaround_at: datetime  # (a): 00:00 Pacific on the last business day that meets R5+margin
    lifetime_at: datetime  # (b): not_before + lifetime_fraction of the validity, whole seconds
    deliver_by: date  # the last business day the new certificate may be delivered on


def _turnaround(
    expiry_day: date, calendar: BusinessCalendar, policy: LifecyclePolicy
) -> tuple[date, datetime]:
    """Steps 1 and 2 of :func:`renewal_plan`: ``deliver_by`` and ``turnaround_at`` of a
    certificate expiring on the Pacific date ``expiry_day``."""
    deliver_by = calendar.business_day_on_or_before(
        expiry_day - timedelta(days=policy.renewal_margin_days)
    )
    turnaround_at = start_of_pacific_day(
        calendar.subtract_business_days(deliver_by, policy.due_business_days)
    )
    return deliver_by, turnaround_at


def renewal_plan(
    not_before: datetime,
    not_after: datetime,
    calendar: BusinessCalendar,
    policy: LifecyclePolicy,
    requested: date | None = None,
    vendor_asks: datetime | None = None,
) -> RenewalPlan:
    """When the renewal case of a certificate valid ``not_before``..``not_after`` opens (R6).

    1. ``deliver_by`` is the last business day on or before the Pacific date of the expiry
       minus ``renewal_margin_days`` calendar days. A delivery during that business day
       (which ends at 17:00, the R7 expiry hour) is at least the margin before expiry.
    2. (a) ``turnaround_at`` is 00:00 Pacific on the business day ``due_business_days``
       business days before ``deliver_by``: the latest business day whose R5 due date
       (:meth:`BusinessCalendar.add_business_days`) is still ``deliver_by``. The case opens
       at the start of that day so that the worker opens it before anyone starts work, and
       the due date counted from that day's date is the same whatever hour it is opened.
    3. (b) ``lifetime_at`` is ``not_before`` plus ``lifetime_fraction`` of the validity
       period, truncated to whole seconds: it binds for short-lived certificates (100 days
       from 2027, 47 days from 2029, R13) whose turnaround point would be too late.
    4. (c) A ``requested`` renewal date (the customer's, R6) opens the case at 00:00 Pacific
       on that date when that is earlier than (a) and (b); a later one cannot delay the
       renewal past the point that keeps the certificate from expiring, and is ignored.
    5. (d) ``vendor_asks``: the start of the renewal window a vendor CA suggests (RFC 9773
       renewal information), which it moves earlier before a mass revocation; the case opens
       then when that is earlier than the rest.
    6. The case opens at the earliest of these, but never before ``not_before``: a
       certificate too short for any of them renews as soon as it is issued.

    Ties go to the first of (a), (b), (c), (d) in that order. Raises ``ValueError`` for naive
    instants or ``not_after <= not_before``, and ``TypeError`` when ``requested`` is not a
    date; those are programming errors.
    """
    start = require_aware(not_before, "not_before")
    end = require_aware(not_after, "not_after")
    if end <= start:
        raise ValueError(f"not_after ({end.isoformat()}) must be after not_before")
    if requested is not None and (
        isinstance(requested, datetime) or not isinstance(requested, date)
    ):
        raise TypeError(f"requested must be a datetime.date, got {type(requested).__name__}")

    deliver_by, turnaround_at = _turnaround(end.astimezone(PACIFIC).date(), calendar, policy)
    lifetime_at = (start + (end - start) * policy.lifetime_fraction).replace(microsecond=0)

    candidates = [(turnaround_at, RenewalBasis.TURNAROUND), (lifetime_at, RenewalBasis.LIFETIME)]
    if requested is not None:
        candidates.append((start_of_pacific_day(requested), RenewalBasis.REQUESTED))
    if vendor_asks is not None:
        candidates.append((require_aware(vendor_asks, "vendor_asks"), RenewalBasis.VENDOR))
    # min() keeps the first of equal instants, which gives the documented tie order.
    opens_at, basis = min(candidates, key=lambda c: c[0])
    if opens_at < start:
        opens_at, basis = start, RenewalBasis.ISSUANCE
    return RenewalPlan(
        opens_at=opens_at,
        basis=basis,
        turnaround_at=turnaround_at,
        lifetime_at=lifetime_at,
        deliver_by=deliver_by,
    )


def renewal_opens_at(
    not_before: datetime,
    not_after: datetime,
    calendar: BusinessCalendar,
    policy: LifecyclePolicy,
    requested: date | None = None,
) -> datetime:
    """The instant the renewal case opens (R6); see :func:`renewal_plan` for the rule."""
    return renewal_plan(not_before, not_after, calendar, policy, requested).opens_at


def turnaround_due_before(
    now: datetime, calendar: BusinessCalendar, policy: LifecyclePolicy
) -> datetime:
    """The earliest ``notAfter`` whose turnaround point (:func:`renewal_plan` (a)) is after ``now``.

    The turnaround point depends only on the Pacific date of the expiry, and it never moves
    earlier when that date moves later (``deliver_by`` and the business-day count back from it
    are both monotonic). So every certificate expiring before the returned instant (00:00
    Pacific of the first such expiry date) has its turnaround point at or before ``now`` — its
    renewal is due whatever the other candidates say — and none expiring at or after it does.
    The worker uses this as an exact index range on ``not_after`` instead of planning every
    certificate of the inventory in Python.
    """
    at = require_aware(now, "now")
    day = at.astimezone(PACIFIC).date()
    for _ in range(3660):  # ten years of days: a calendar closed longer is a broken setting
        if _turnaround(day, calendar, policy)[1] > at:
            return start_of_pacific_day(day)
        day += timedelta(days=1)
    raise ValueError("no business day in ten years: the holiday calendar is broken")
