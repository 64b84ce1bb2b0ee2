"""Dates and instants the rules depend on: turnaround in business days (R5), expiry hour
(R7) and validity maxima (R13).

Pure: no clock is read here. Every function takes the instant it reasons about, so
callers pass their injected clock's ``now()`` and tests can travel in time. The holiday
calendar comes from the ``holidays`` package, which is data computed in memory (no I/O).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from holidays import country_holidays

from certdesk.errors import InvalidInput, PolicyRefusal

__all__ = [
    "CABF_VALIDITY_SCHEDULE",
    "DUE_BUSINESS_DAYS",
    "EXPIRY_HOUR",
    "PACIFIC",
    "TARGET_BUSINESS_DAYS",
    "BusinessCalendar",
    "Turnaround",
    "Validity",
    "california_holidays",
    "expiry_instant",
    "is_overdue",
    "max_validity_days",
    "turnaround",
    "validity_for",
]

PACIFIC = ZoneInfo("America/Los_Angeles")

# R7: certificates expire at 17:00 Pacific, the end of the state's business day, so an
# expiry never lands in the middle of the night when nobody is there to notice it.
EXPIRY_HOUR = 17

# R13: CA/Browser Forum ballot SC-081 lowers the maximum TLS certificate validity in steps,
# each taking effect at 00:00 UTC on the date given (BR 6.3.2). Newest first; a certificate
# issued before every step may be valid for 398 days.
_LEGACY_MAX_DAYS = 398
CABF_VALIDITY_SCHEDULE: tuple[tuple[datetime, int], ...] = (
    (datetime(2029, 3, 15, tzinfo=UTC), 47),
    (datetime(2027, 3, 15, tzinfo=UTC), 100),
    (datetime(2026, 3, 15, tzinfo=UTC), 200),
)

_ONE_SECOND = timedelta(seconds=1)
_ONE_DAY = timedelta(days=1)


def _require_aware(instant: datetime, what: str) -> datetime:
    """Return ``instant`` in UTC; a naive datetime is a programming error, not user input."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {instant.isoformat()}")
    return instant.astimezone(UTC)


def max_validity_days(issued_at: datetime) -> int:
    """The CA/Browser Forum maximum validity, in days, for a certificate issued at ``issued_at``.

    R13 / ballot SC-081: 398 days before 2026-03-15, 200 from 2026-03-15, 100 from
    2027-03-15 and 47 from 2029-03-15 (all at 00:00 UTC).
    """
    issued_utc = _require_aware(issued_at, "issued_at")
    for effective, days in CABF_VALIDITY_SCHEDULE:
        if issued_utc >= effective:
            return days
    return _LEGACY_MAX_DAYS


def expiry_instant(final_day: date) -> datetime:
    """The R7 expiry instant: 17:00 America/Los_Angeles on ``final_day``, as aware UTC.

    That is 01:00Z the next day while Pacific Standard Time (UTC-8) applies and 00:00Z the
    next day during Pacific Daylight Time (UTC-7). 17:00 is never inside a DST gap or fold
    (the switches happen at 02:00 local), so the local time is always unambiguous.
    """
    local = datetime.combine(final_day, time(EXPIRY_HOUR), tzinfo=PACIFIC)
    return local.astimezone(UTC)


@dataclass(frozen=True)
class Validity:
    """The validity period of one certificate (RFC 5280 §4.1.2.5)."""

    not_before: datetime  # aware UTC, whole seconds (certificates carry no fractions)
    not_after: datetime  # aware UTC, 17:00 Pacific on the final day (R7)
    days: int  # the validity asked for, or the limit when none was asked (calendar days)

    @property
    def inclusive_seconds(self) -> int:
        """The validity period as the CA/B Forum counts it: both ends included (BR 1.6.1)."""
        return int((self.not_after - self.not_before + _ONE_SECOND).total_seconds())


def validity_for(
    issued_at: datetime,
    days: int | None = None,
    operator_max_days: int | None = None,
) -> Validity:
    """The validity of a certificate issued at ``issued_at`` (R7, R13).

    1. ``not_before`` is ``issued_at`` truncated to whole seconds.
    2. The limit is the CA/B Forum maximum at the issuance date (:func:`max_validity_days`),
       lowered to ``operator_max_days`` when the operator configured less (R13).
    3. ``days`` defaults to the CA/B maximum minus one day (BR 6.3.2 "SHOULD NOT" exceed it)
       or to the operator's lower maximum; the default's inclusive span stays within it too.
       Fewer than 1 day, or more than the limit, is refused with :class:`PolicyRefusal`
       (``validity.too_short`` / ``validity.too_long``).
    4. The final day is the Pacific calendar date of issuance plus ``days``, and
       ``not_after`` is 17:00 Pacific on it (R7).
    5. Invariant: the CA/B Forum counts validity inclusively (RFC 5280 §4.1.2.5, BR 1.6.1:
       ``notAfter - notBefore + 1 second``) and it may never exceed ``limit`` days. When the
       17:00 expiry of step 4 would exceed it (issued before 17:00 Pacific, or a DST fall-back
       adds an hour), the final day moves back one day at a time until it fits.

    Only the limit is enforced by step 5. An explicit ``days`` below the limit means "expire
    at 17:00 on issue day + ``days``" even when that is a few hours more than ``days`` times
    24 hours: the customer asked for a calendar date, and the maximum is still respected.
    ``Validity.days`` records the days asked for (or the limit), not the possibly shortened
    span.

    Raises ``ValueError`` for a naive ``issued_at`` or an ``operator_max_days`` below 1;
    both are programming or configuration errors, not user input.
    """
    not_before = _require_aware(issued_at, "issued_at").replace(microsecond=0)
    cabf_max = max_validity_days(not_before)
    if operator_max_days is not None and operator_max_days < 1:
        raise ValueError(f"operator_max_days must be at least 1, got {operator_max_days}")
    if operator_max_days is not None and operator_max_days < cabf_max:
        limit = operator_max_days
        limit_reason = f"the operator's maximum of {limit} days"
    else:
        limit = cabf_max
        limit_reason = (
            f"the CA/Browser Forum maximum of {limit} days for certificates issued on "
            f"{not_before.date().isoformat()} (R13)"
        )

    # BR 6.3.2 says a certificate SHOULD NOT use the last day of the maximum (199 of 200,
    # 99 of 100, 46 of 47 days): the default stays one day inside it; an explicit request
    # may still use the whole maximum.
    default = cabf_max - 1 if limit == cabf_max else limit
    wanted = default if days is None else days
    if wanted < 1:
        raise PolicyRefusal(
            "validity.too_short",
            f"a certificate must be valid for at least 1 day; {wanted} days was asked",
            rule="R13",
            days=wanted,
        )
    if wanted > limit:
        raise PolicyRefusal(
            "validity.too_long",
            f"{wanted} days is longer than {limit_reason}",
            rule="R13",
            days=wanted,
            limit=limit,
        )

    max_span = timedelta(days=limit if days is not None else wanted)
    final_day = not_before.astimezone(PACIFIC).date() + timedelta(days=wanted)
    not_after = expiry_instant(final_day)
    # Step 5: at most one step back is ever needed (17:00 minus midnight plus a DST hour is
    # under a day), but the loop states the invariant instead of relying on that arithmetic.
    while not_after - not_before + _ONE_SECOND > max_span:
        final_day -= _ONE_DAY
        not_after = expiry_instant(final_day)
    if not_after <= not_before:
        # Only reachable with a 1-day operator maximum and issuance at exactly 17:00:00
        # Pacific: no 17:00 expiry fits, and a certificate must outlive its notBefore.
        raise PolicyRefusal(
            "validity.too_short",
            f"no 17:00 Pacific expiry (R7) fits within {limit_reason} for a certificate "
            f"issued at {not_before.isoformat()}",
            rule="R13",
            days=wanted,
            limit=limit,
        )
    return Validity(not_before=not_before, not_after=not_after, days=wanted)


# --- R5: turnaround in business days ----------------------------------------------------

# R5: a new certificate should be delivered 3 business days after the last approval (the
# case's target) and must be by 5 (its due date).
TARGET_BUSINESS_DAYS = 3
DUE_BUSINESS_DAYS = 5

_SATURDAY = 5  # date.weekday(): Monday is 0, so 5 and 6 are the weekend


def _require_date(value: object, what: str) -> date:
    """Return ``value`` if it is a calendar date; a datetime here is a programming error.

    ``datetime`` is a subclass of ``date``, so it would slip through the weekday test and
    then never equal a holiday. Refusing it makes that mistake loud.
    """
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"{what} must be a datetime.date, got {type(value).__name__} {value!r}")
    return value


def california_holidays(years: Iterable[int]) -> frozenset[date]:
    """The default R5 holidays for ``years``: the ``holidays`` package's US/CA calendar.

    Federal holidays plus California's own (Cesar Chavez Day, the day after Thanksgiving …),
    with the observed weekday included when a holiday falls on a weekend (Independence Day
    2026, a Saturday, is observed on Friday 2026-07-03). The package lists an observed day
    under the year it falls in: New Year's Day 2028 is observed on 2027-12-31, which is
    in the set for 2027.

    >>> date(2026, 11, 27) in california_holidays([2026])
    True
    """
    wanted = sorted(set(years))
    if not wanted:
        return frozenset()
    return frozenset(country_holidays("US", subdiv="CA", years=wanted).keys())


@dataclass(frozen=True)
class BusinessCalendar:
    """Which days count for turnaround (R5): Monday to Friday, except holidays.

    ``holidays=None`` uses :func:`california_holidays`, computed the first time a date in a
    year is asked about and then kept for that year. A given set is the operator's configured
    list and replaces the default entirely; it is not added to it, so an empty set makes
    every weekday a business day.

    >>> BusinessCalendar().add_business_days(date(2026, 11, 25), 1)  # Thanksgiving + Friday
    datetime.date(2026, 11, 30)
    """

    holidays: frozenset[date] | None = None
    # Memo of the default calendar per year. It only caches pure data, so the calendar still
    # behaves as immutable; it is left out of equality, hashing and repr.
    _default_by_year: dict[int, frozenset[date]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if self.holidays is not None:
            configured = frozenset(self.holidays)
            for day in configured:
                _require_date(day, "a configured holiday")
            object.__setattr__(self, "holidays", configured)

    def _default_holidays(self, year: int) -> frozenset[date]:
        cached = self._default_by_year.get(year)
        if cached is None:
            # Ask for the neighbouring years too and keep only this year's dates, so an
            # observed day is found whichever year the package files it under.
            nearby = range(max(year - 1, MINYEAR), min(year + 1, MAXYEAR) + 1)
            cached = frozenset(d for d in california_holidays(nearby) if d.year == year)
            self._default_by_year[year] = cached
        return cached

    def _is_holiday(self, day: date) -> bool:
        if self.holidays is not None:
            return day in self.holidays
        return day in self._default_holidays(day.year)

    def _holidays_in(self, start: date, end: date) -> frozenset[date]:
        """The holidays in ``(start, end]``."""
        if self.holidays is not None:
            source = self.holidays
        else:
            source = frozenset().union(
                *(self._default_holidays(y) for y in range(start.year, end.year + 1))
            )
        return frozenset(d for d in source if start < d <= end)

    def is_business_day(self, day: date) -> bool:
        """Whether ``day`` is a Monday to Friday that is not a holiday (R5)."""
        day = _require_date(day, "day")
        return day.weekday() < _SATURDAY and not self._is_holiday(day)

    def add_business_days(self, start: date, n: int) -> date:
        """The ``n``-th business day after ``start`` (R5).

        ``start`` itself never counts, whether or not it is a business day, so ``n=0``
        returns ``start`` unchanged and an approval on Friday, Saturday or Sunday has the
        same next business day. ``n`` below 0 is a programming error (``ValueError``).
        """
        day = _require_date(start, "start")
        if n < 0:
            raise ValueError(f"n must be at least 0 business days, got {n}")
        remaining = n
        while remaining:
            day += _ONE_DAY
            if self.is_business_day(day):
                remaining -= 1
        return day

    def subtract_business_days(self, start: date, n: int) -> date:
        """The ``n``-th business day before ``start``: :meth:`add_business_days` backwards.

        ``start`` itself never counts, so ``n=0`` returns ``start`` unchanged. For ``n >= 1``
        the result is a business day ``d`` with ``add_business_days(d, n) == start`` when
        ``start`` is a business day (the lifecycle worker uses this to find the last day a
        renewal can open and still be due in time, R6). ``n`` below 0 is a programming
        error (``ValueError``).
        """
        day = _require_date(start, "start")
        if n < 0:
            raise ValueError(f"n must be at least 0 business days, got {n}")
        remaining = n
        while remaining:
            day -= _ONE_DAY
            if self.is_business_day(day):
                remaining -= 1
        return day

    def business_day_on_or_before(self, day: date) -> date:
        """``day`` when it is a business day, otherwise the last business day before it."""
        day = _require_date(day, "day")
        return day if self.is_business_day(day) else self.subtract_business_days(day, 1)

    def business_days_between(self, start: date, end: date) -> int:
        """The number of business days in ``(start, end]``; 0 when ``end <= start``.

        The inverse of :meth:`add_business_days`:
        ``business_days_between(d, add_business_days(d, n)) == n``.
        """
        start = _require_date(start, "start")
        end = _require_date(end, "end")
        if end <= start:
            return 0
        # Any 7 consecutive days hold exactly 5 weekdays, so only the days after the last
        # whole week are looked at one by one; weekday holidays are then taken away.
        weeks, extra = divmod((end - start).days, 7)
        tail = start + timedelta(weeks=weeks)
        weekdays = weeks * 5 + sum(
            1 for i in range(1, extra + 1) if (tail + timedelta(days=i)).weekday() < _SATURDAY
        )
        closed = sum(1 for d in self._holidays_in(start, end) if d.weekday() < _SATURDAY)
        return weekdays - closed


@dataclass(frozen=True)
class Turnaround:
    """The R5 dates of a case, counted from its last approval. Invariant: ``target <= due``."""

    target: date  # the business day delivery is aimed at (+3 business days)
    due: date  # +5 business days, or the requested delivery date when that is later
    expedite: bool  # a requested delivery date earlier than the computed due date
    requested: date | None  # the delivery date the requester asked for, if any


def turnaround(
    approved_at: datetime,
    calendar: BusinessCalendar,
    requested: date | None = None,
    target_days: int = TARGET_BUSINESS_DAYS,
    due_days: int = DUE_BUSINESS_DAYS,
) -> Turnaround:
    """The target and due dates of a new certificate's case (R5).

    1. The count starts from the *date* of the last approval in America/Los_Angeles: an
       approval at 23:30 Pacific on a Friday (07:30Z on Saturday in winter) counts from
       that Friday. The time of day does not matter, only the state's calendar date.
    2. ``target`` is ``target_days`` and the computed due date ``due_days`` business days
       after that date (:meth:`BusinessCalendar.add_business_days`).
    3. A ``requested`` delivery date later than the computed due date becomes ``due``, as
       given (the requester chose that day). One earlier than the computed due date keeps
       the computed ``due`` and sets ``expedite``; an equal one changes nothing.
    4. ``target`` never moves: it is at most the computed due date, which is at most
       ``due``.

    Raises ``ValueError`` for a naive ``approved_at`` or when ``0 <= target_days <=
    due_days`` does not hold; both are programming or configuration errors.
    """
    approved_utc = _require_aware(approved_at, "approved_at")
    if not 0 <= target_days <= due_days:
        raise ValueError(
            f"turnaround needs 0 <= target_days <= due_days, got {target_days} and {due_days}"
        )
    if requested is not None:
        requested = _require_date(requested, "requested")
    approval_day = approved_utc.astimezone(PACIFIC).date()
    target = calendar.add_business_days(approval_day, target_days)
    computed_due = calendar.add_business_days(approval_day, due_days)
    if requested is not None and requested > computed_due:
        return Turnaround(target=target, due=requested, expedite=False, requested=requested)
    expedite = requested is not None and requested < computed_due
    return Turnaround(target=target, due=computed_due, expedite=expedite, requested=requested)


def is_overdue(due: date, now: datetime, delivered: bool) -> bool:
    """Whether an undelivered case is past its due date (R5 dashboard).

    Overdue starts at 00:00 Pacific on the day after ``due``: the due day itself is not
    overdue, whatever the UTC date is. A delivered case is never overdue. ``now`` must be
    aware (``ValueError`` otherwise), even for a delivered case.
    """
    due = _require_date(due, "due")
    today = _require_aware(now, "now").astimezone(PACIFIC).date()
    return not delivered and today > due


def parse_day(text: str, code: str, what: str = "") -> date:
    """A calendar day typed as YYYY-MM-DD (surrounding spaces ignored), or ``code``.

    ``what`` starts the message ("the start date '2026-13-01' is not a date ...").
    """
    value = text.strip()
    try:
        return date.fromisoformat(value)
    except ValueError:
        said = f"{what} {value[:40]!r}" if what else repr(value[:40])
        raise InvalidInput(code, f"{said} is not a date (YYYY-MM-DD)") from None
