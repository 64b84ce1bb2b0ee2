"""Dates and instants the rules depend on: expiry hour (R7) and validity maxima (R13).

Pure: no clock is read here. Every function takes the instant it reasons about, so
callers pass their injected clock's ``now()`` and tests can travel in time.

Business days for turnaround (R5) will live here too, next to the other calendar rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from certdesk.errors import PolicyRefusal

__all__ = [
    "CABF_VALIDITY_SCHEDULE",
    "EXPIRY_HOUR",
    "PACIFIC",
    "Validity",
    "expiry_instant",
    "max_validity_days",
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
    3. ``days`` defaults to the limit. Fewer than 1 day, or more than the limit, is refused
       with :class:`PolicyRefusal` (``validity.too_short`` / ``validity.too_long``).
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

    wanted = limit if days is None else days
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

    max_span = timedelta(days=limit)
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
