"""ACME profiles (draft-aaron-acme-profiles): named certificate profiles a client chooses on
newOrder, each a validity under R13 (and R7's expiry hour, applied by the issuance).

- ``default``: the longest public validity R13 allows on the day of issuance, one day inside
  the CA/Browser Forum maximum (199 of 200 days now; 99 of 100 from 2027-03-15, 46 of 47
  from 2029-03-15; core/calendar.validity_for).
- ``shortlived``: a few days (CERTDESK_ACME_SHORTLIVED_DAYS, 7 by default), for clients that
  renew often and want a short exposure of a lost key.
"""

from __future__ import annotations

from datetime import date, datetime

from certdesk.errors import InvalidInput

DEFAULT = "default"
SHORTLIVED = "shortlived"
PROFILES = (DEFAULT, SHORTLIVED)

# SC-081's limits on reusing a domain validation (BR 3.2.2.4 / 4.2.1), by the date of use:
# 398 days before 2026-03-15, then 200, 100 from 2027-03-15 and 10 from 2029-03-15 (R17).
_DV_REUSE = ((date(2029, 3, 15), 10), (date(2027, 3, 15), 100), (date(2026, 3, 15), 200))


def dv_reuse_days(at: datetime) -> int:
    """The most days a validation may be reused for an issuance at ``at`` (SC-081, R17)."""
    day = at.date()
    for effective, days in _DV_REUSE:
        if day >= effective:
            return days
    return 398


def describe(shortlived_days: int) -> dict[str, str]:
    """The directory's ``meta.profiles``: each profile's name and a description for people."""
    return {
        DEFAULT: "The longest validity public certificates may have today (199 days;"
        " shorter as the CA/Browser Forum limits fall), expiring at 17:00 Pacific.",
        SHORTLIVED: f"A short-lived certificate: {shortlived_days} days, expiring at 17:00"
        " Pacific. Renew it every few days.",
    }


def profile_days(profile: str | None, shortlived_days: int) -> int | None:
    """The validity in days a profile asks the issuance for (None: the R13 default); raises
    :class:`InvalidInput` (``acme.invalid_profile``) for a profile this server lacks."""
    if profile is None or profile == DEFAULT:
        return None
    if profile == SHORTLIVED:
        return shortlived_days
    raise InvalidInput(
        "acme.invalid_profile",
        f"there is no profile {profile!r}; this server offers: {', '.join(PROFILES)}",
    )
