"""What the lifecycle worker must do for a certificate or a case at an instant (R6, R8, R9).

The worker (``certdesk worker``) only executes these plans: it reads a certificate's dates and
the notices already recorded, asks this module what is due at ``now``, and claims each due
item exactly once in the store. Nothing here reads a clock, a database or the network; every
function takes the instants it reasons about, so tests travel in time with plain arguments.

All instants are timezone-aware; results are aware UTC. Calendar reasoning (business days,
"N days before") happens in America/Los_Angeles, the state's calendar (R5, R7).

Decisions, each in one place below:

* **Renewal opens** (R6, :func:`renewal_plan`) at the earliest of (a) the start (00:00
  Pacific) of the last business day from which the R5 due date still falls at least
  ``renewal_margin_days`` calendar days before the expiry day, (b) ``lifetime_fraction`` of
  the validity period, and (c) a renewal date the customer asked for; never before
  ``not_before``.
* **Expiry notices** (R9, :func:`expiry_notices_due`) are due at the expiry's Pacific
  wall-clock time (17:00 under R7) N calendar days earlier. A threshold already past when
  certdesk started tracking the certificate is never due (a 47-day certificate gets no 90- or
  60-day notice). Every other threshold is due once its moment passes and stays due until it
  is recorded as sent: a worker that was down over several thresholds sends each of them,
  once, marked late — none is skipped, not even after the certificate expired.
* **Late** means sent more than ``late_grace`` after the moment the notice became due.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from certdesk.core.calendar import DUE_BUSINESS_DAYS, PACIFIC, BusinessCalendar
from certdesk.core.workflow import WINDOW_DAYS, window_ends_at

__all__ = [
    "DEFAULT_NOTICE_DAYS",
    "REASON_EXPIRED",
    "REASON_WINDOW_CLOSING",
    "LifecyclePolicy",
    "NoticeDue",
    "RenewalBasis",
    "RenewalPlan",
    "crl_refresh_at",
    "crl_refresh_due",
    "expired",
    "expiry_notice_at",
    "expiry_notices_due",
    "expiry_reason",
    "renewal_opens_at",
    "renewal_plan",
    "turnaround_due_before",
    "window_closing_notice_at",
    "window_closing_notice_due",
    "window_end",
]

# R9: renewal notices 90/60/30/14/7/1 days before expiry (configurable).
DEFAULT_NOTICE_DAYS: tuple[int, ...] = (90, 60, 30, 14, 7, 1)

# Stable notice reasons. They are part of the exactly-once key (certificate or case, contact,
# reason) recorded by the worker, so they must never change once notices have been sent.
REASON_EXPIRED = "expired"
REASON_WINDOW_CLOSING = "window.closing"


def expiry_reason(days: int) -> str:
    """The reason key of the notice sent ``days`` days before expiry: ``expiry.30``."""
    return f"expiry.{days}"


def _require_aware(instant: datetime, what: str) -> datetime:
    """Return ``instant`` in UTC; a naive datetime is a programming error, not user input."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {instant.isoformat()}")
    return instant.astimezone(UTC)


def _start_of_pacific_day(day: date) -> datetime:
    """00:00 America/Los_Angeles on ``day``, as aware UTC.

    Midnight is never inside a DST gap or fold there (the switches happen at 02:00 local).
    """
    return datetime.combine(day, time(0), tzinfo=PACIFIC).astimezone(UTC)


def _days_before(instant: datetime, days: int) -> datetime:
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


@dataclass(frozen=True)
class LifecyclePolicy:
    """The operator's lifecycle settings; every field has the default the rules name.

    ``notice_days`` is normalised to distinct values, largest first. Invalid settings raise
    ``ValueError`` when the policy is built: they are configuration errors, caught at start-up.
    """

    # R9: thresholds for renewal notices, in calendar days before expiry.
    notice_days: tuple[int, ...] = DEFAULT_NOTICE_DAYS
    # R6: the new certificate is delivered at least this many days before the old expires.
    renewal_margin_days: int = 7
    # R5: the business days a renewal case needs, from opening to its due date. The count
    # starts on the day the case opens, as if it were approved that day; an organisation
    # whose renewals wait for approvals should add those days here.
    due_business_days: int = DUE_BUSINESS_DAYS
    # R6 (issue 4): short-lived certificates renew at this fraction of their validity.
    lifetime_fraction: float = 2 / 3
    # R8: the window after delivery in which a case can still test, revoke or change.
    window_days: int = WINDOW_DAYS
    # R9: the "window closing" notice goes out this many days before the window closes.
    window_closing_notice_days: int = 3
    # R9: a notice sent later than its moment plus this grace is marked late.
    late_grace: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        days = tuple(self.notice_days)
        for n in days:
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"notice_days must be whole days of at least 1, got {n!r}")
        object.__setattr__(self, "notice_days", tuple(sorted(set(days), reverse=True)))
        if self.renewal_margin_days < 0:
            raise ValueError(
                f"renewal_margin_days must be at least 0, got {self.renewal_margin_days}"
            )
        if self.due_business_days < 0:
            raise ValueError(f"due_business_days must be at least 0, got {self.due_business_days}")
        if not (0 < self.lifetime_fraction < 1) or not math.isfinite(self.lifetime_fraction):
            raise ValueError(
                f"lifetime_fraction must be between 0 and 1 (exclusive), "
                f"got {self.lifetime_fraction}"
            )
        if self.window_days < 1:
            raise ValueError(f"window_days must be at least 1, got {self.window_days}")
        if not 0 <= self.window_closing_notice_days < self.window_days:
            raise ValueError(
                "window_closing_notice_days must be at least 0 and less than window_days "
                f"({self.window_days}), got {self.window_closing_notice_days}"
            )
        if self.late_grace < timedelta(0):
            raise ValueError(f"late_grace must not be negative, got {self.late_grace}")


# --- R6: when the renewal case opens ------------------------------------------------------


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
    turnaround_at = _start_of_pacific_day(
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
    start = _require_aware(not_before, "not_before")
    end = _require_aware(not_after, "not_after")
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
        candidates.append((_start_of_pacific_day(requested), RenewalBasis.REQUESTED))
    if vendor_asks is not None:
        candidates.append((_require_aware(vendor_asks, "vendor_asks"), RenewalBasis.VENDOR))
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
    at = _require_aware(now, "now")
    day = at.astimezone(PACIFIC).date()
    for _ in range(3660):  # ten years of days: a calendar closed longer is a broken setting
        if _turnaround(day, calendar, policy)[1] > at:
            return _start_of_pacific_day(day)
        day += timedelta(days=1)
    raise ValueError("no business day in ten years: the holiday calendar is broken")


# --- R9: expiry notices --------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeDue:
    """A notice the worker must send now, once (R9)."""

    reason: str  # stable key of the exactly-once record: "expiry.30", "expired", …
    due_at: datetime  # aware UTC: the moment the notice became due
    late: bool  # the moment passed more than the policy's late_grace ago


def expired(not_after: datetime, now: datetime) -> bool:
    """Whether a certificate is expired at ``now``.

    The validity period includes ``notAfter`` itself (RFC 5280 §4.1.2.5), so a certificate
    is expired only strictly after it.
    """
    return _require_aware(now, "now") > _require_aware(not_after, "not_after")


def expiry_notice_at(not_after: datetime, days: int) -> datetime:
    """The moment the notice ``days`` days before expiry is due (R9).

    The expiry's Pacific wall-clock time (17:00 under R7), ``days`` calendar days earlier:
    at that moment exactly ``days`` days are left, so the subject line is true.
    """
    return _days_before(_require_aware(not_after, "not_after"), days)


def _notice(reason: str, due_at: datetime, now: datetime, policy: LifecyclePolicy) -> NoticeDue:
    return NoticeDue(reason=reason, due_at=due_at, late=now > due_at + policy.late_grace)


def expiry_notices_due(
    not_after: datetime,
    now: datetime,
    already_sent: Collection[str],
    policy: LifecyclePolicy,
    *,
    issued_at: datetime,
) -> list[NoticeDue]:
    """The expiry notices of one certificate (for one contact) due at ``now`` (R9).

    ``issued_at`` is when certdesk started tracking the certificate: its ``notBefore`` when
    certdesk issued it, the import time for an imported one. It is required so that no
    caller can forget it and flood contacts with notices for thresholds that were already
    past (a 47-day certificate has no 90- or 60-day notice; an import 20 days before
    expiry gets none of 90, 60 or 30).

    1. Each threshold N of ``policy.notice_days`` is due from :func:`expiry_notice_at`
       (``expiry.N``), unless that moment is not after ``issued_at``.
    2. ``expired`` is due once the certificate is :func:`expired`, with ``due_at`` equal to
       ``not_after``, unless ``not_after`` is not after ``issued_at``.
    3. A reason in ``already_sent`` is never returned. Everything else stays due until it
       is recorded as sent, so a worker that was stopped over several thresholds sends each
       missed one once, marked ``late`` — even after the certificate expired, when the
       notice says so. Folding several into one message is the sender's job (digests).
    4. The result is ordered by ``due_at``, oldest first.
    """
    end = _require_aware(not_after, "not_after")
    at = _require_aware(now, "now")
    tracked_from = _require_aware(issued_at, "issued_at")
    sent = frozenset(already_sent)

    moments = [(expiry_reason(n), expiry_notice_at(end, n)) for n in policy.notice_days]
    due = [
        _notice(reason, moment, at, policy)
        for reason, moment in moments
        if reason not in sent and tracked_from < moment <= at
    ]
    if REASON_EXPIRED not in sent and tracked_from < end and expired(end, at):
        due.append(_notice(REASON_EXPIRED, end, at, policy))
    return sorted(due, key=lambda n: n.due_at)


def next_expiry_notice_at(
    not_after: datetime,
    done: Collection[str],
    policy: LifecyclePolicy,
    *,
    issued_at: datetime,
) -> datetime | None:
    """The earliest instant from which :func:`expiry_notices_due` can return something for a
    certificate whose ``done`` reasons are recorded; None when nothing is left to send (R9).

    It is a lower bound the worker stores per certificate, so that a pass reads only the
    certificates with something due (``next <= now``) instead of every one: for every
    ``now`` before it, :func:`expiry_notices_due` with the same ``done`` returns nothing. The
    ``expired`` notice counts from ``not_after`` itself (it is due strictly after it).
    Nothing here depends on ``now``, so a clock that goes back, or a worker down for days,
    never skips a notice: whatever became due since is found by the next pass, once.
    """
    end = _require_aware(not_after, "not_after")
    tracked_from = _require_aware(issued_at, "issued_at")
    sent = frozenset(done)
    moments = [
        moment
        for reason, moment in (
            (expiry_reason(n), expiry_notice_at(end, n)) for n in policy.notice_days
        )
        if reason not in sent and tracked_from < moment
    ]
    if REASON_EXPIRED not in sent and tracked_from < end:
        moments.append(end)
    return min(moments, default=None)


# --- R8/R9: the 25-day window --------------------------------------------------------------


def window_end(delivered_at: datetime, policy: LifecyclePolicy) -> datetime:
    """When a delivered case's R8 window closes under ``policy`` (``window_days`` later)."""
    return window_ends_at(_require_aware(delivered_at, "delivered_at"), policy.window_days)


def window_closing_notice_at(window_ends: datetime, policy: LifecyclePolicy) -> datetime:
    """When the "window closing" notice is due: ``window_closing_notice_days`` before the end.

    Counted in whole 24-hour days, the way :func:`certdesk.core.workflow.window_ends_at`
    counts the window itself, so "3 days before" is exactly 72 hours before it closes.
    """
    end = _require_aware(window_ends, "window_ends")
    return end - timedelta(days=policy.window_closing_notice_days)


def window_closing_notice_due(
    window_ends: datetime,
    now: datetime,
    already_sent: Collection[str],
    policy: LifecyclePolicy,
) -> NoticeDue | None:
    """The case's "window closing" notice if it is due at ``now`` and not yet sent (R8, R9).

    Like expiry notices it is never skipped: a worker that was down past the window's end
    still sends it once, marked late (the notice then says the window has closed).
    """
    at = _require_aware(now, "now")
    moment = window_closing_notice_at(window_ends, policy)
    if REASON_WINDOW_CLOSING in already_sent or at < moment:
        return None
    return _notice(REASON_WINDOW_CLOSING, moment, at, policy)


# --- CRL refresh ---------------------------------------------------------------------------


def crl_refresh_at(this_update: datetime, next_update: datetime) -> datetime:
    """When a CRL should be regenerated: half-way between ``thisUpdate`` and ``nextUpdate``.

    Refreshing at half-life leaves the other half as slack for a worker that is down or
    slow, so relying parties never see a CRL past its ``nextUpdate`` (RFC 5280 §5.1.2.5).
    A CRL whose ``nextUpdate`` is not after its ``thisUpdate`` is stale at once: its refresh
    moment is its ``thisUpdate``.
    """
    start = _require_aware(this_update, "this_update")
    end = _require_aware(next_update, "next_update")
    if end <= start:
        return start
    return start + (end - start) / 2


def crl_refresh_due(this_update: datetime, next_update: datetime, now: datetime) -> bool:
    """Whether the CRL should be regenerated at ``now`` (from its half-life on)."""
    return _require_aware(now, "now") >= crl_refresh_at(this_update, next_update)
