"""Tests for the lifecycle planning core (R6, R8, R9) in certdesk.core.lifecycle.

Every expected instant is worked out by hand from the calendar and the 2026-2029 California
holidays of the ``holidays`` package; the comments show the count. America/Los_Angeles is on
PDT (UTC-7) from 2026-03-08 to 2026-11-01, from 2027-03-14 to 2027-11-07 and from 2029-03-11
to 2029-11-04, and on PST (UTC-8) otherwise, so 00:00 Pacific is 07:00Z or 08:00Z and a
17:00 Pacific expiry is 00:00Z or 01:00Z the next day.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certdesk.core.calendar import (
    PACIFIC,
    BusinessCalendar,
    expiry_instant,
    turnaround,
    validity_for,
)
from certdesk.core.lifecycle import (
    REASON_EXPIRED,
    REASON_WINDOW_CLOSING,
    LifecyclePolicy,
    NoticeDue,
    RenewalBasis,
    RenewalPlan,
    crl_refresh_at,
    crl_refresh_due,
    expired,
    expiry_notice_at,
    expiry_notices_due,
    expiry_reason,
    renewal_opens_at,
    renewal_plan,
    window_closing_notice_at,
    window_closing_notice_due,
    window_end,
)

CA = BusinessCalendar()  # the default: the holidays package's US/CA calendar
NO_HOLIDAYS = BusinessCalendar(holidays=frozenset())
POLICY = LifecyclePolicy()


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def pacific(year: int, month: int, day: int, hour: int = 0) -> datetime:
    """An aware instant given in Pacific wall-clock time, converted to UTC."""
    return datetime(year, month, day, hour, tzinfo=PACIFIC).astimezone(UTC)


# --- The four certificate lengths of R13, as validity_for issues them ----------------------

# (issued at, days asked, not_before, not_after). validity_for moves the final day back one
# day when 17:00 on issue day + days would exceed the CA/B maximum (R13), so each of these
# expires the day before issue day + days.
ISSUED = [
    # 10:00 PST on Sun 2026-03-01 (before 2026-03-15: 398 days allowed). 2026-03-01 + 398 is
    # Sat 2027-04-03; 17:00 PDT that day is 398 d 6 h after issuance, so Fri 2027-04-02.
    pytest.param(
        pacific(2026, 3, 1, 10), 398, utc(2026, 3, 1, 18), utc(2027, 4, 3), id="R13/398-day"
    ),
    # 10:00 PST on Thanksgiving 2026-11-26 (200 days allowed): + 200 is Mon 2027-06-14,
    # 200 d 6 h; so Sun 2027-06-13, 17:00 PDT = 06-14 00:00Z.
    pytest.param(
        pacific(2026, 11, 26, 10), 200, utc(2026, 11, 26, 18), utc(2027, 6, 14), id="R13/200-day"
    ),
    # 10:00 PDT on Thu 2027-04-01 (100 days allowed): + 100 is Sat 2027-07-10, 100 d 7 h;
    # so Fri 2027-07-09, 17:00 PDT = 07-10 00:00Z.
    pytest.param(
        pacific(2027, 4, 1, 10), 100, utc(2027, 4, 1, 17), utc(2027, 7, 10), id="R13/100-day"
    ),
    # 10:00 PDT on Mon 2029-04-02 (47 days allowed): + 47 is Sat 2029-05-19, 47 d 7 h;
    # so Fri 2029-05-18, 17:00 PDT = 05-19 00:00Z.
    pytest.param(
        pacific(2029, 4, 2, 10), 47, utc(2029, 4, 2, 17), utc(2029, 5, 19), id="R13/47-day"
    ),
]


@pytest.mark.parametrize(("issued_at", "days", "not_before", "not_after"), ISSUED)
def test_fixture_certificates_are_what_validity_for_issues(
    issued_at: datetime, days: int, not_before: datetime, not_after: datetime
) -> None:
    validity = validity_for(issued_at, days=days)
    assert (validity.not_before, validity.not_after) == (not_before, not_after)


# --- R6: when the renewal case opens ------------------------------------------------------


def plan(
    opens_at: datetime,
    basis: RenewalBasis,
    turnaround_at: datetime,
    lifetime_at: datetime,
    deliver_by: date,
) -> RenewalPlan:
    return RenewalPlan(opens_at, basis, turnaround_at, lifetime_at, deliver_by)


TURN, LIFE, ASKED, ISSUE = (
    RenewalBasis.TURNAROUND,
    RenewalBasis.LIFETIME,
    RenewalBasis.REQUESTED,
    RenewalBasis.ISSUANCE,
)
# Lets the turnaround point win for long certificates, to test margins and business days.
LATE_LIFETIME = LifecyclePolicy(lifetime_fraction=0.99)

RENEWAL_CASES = [
    # (not_before, not_after, calendar, policy, requested, expected plan)
    #
    # 398 days (Fri 2027-04-02 17:00 PDT). (a) expiry - 7 = Fri 03-26, a business day;
    # 5 business days back: Thu 25, Wed 24, Tue 23, Mon 22, Fri 19 -> 03-19 00:00 PDT.
    # (b) 2/3 of 397 d 6 h (9534 h) is 6356 h = 264 d 20 h: 2026-11-20 18:00Z + 20 h.
    # The lifetime point is months earlier and wins (see the report on R6).
    pytest.param(
        utc(2026, 3, 1, 18),
        utc(2027, 4, 3),
        CA,
        POLICY,
        None,
        plan(
            utc(2026, 11, 21, 14),
            LIFE,
            utc(2027, 3, 19, 7),
            utc(2026, 11, 21, 14),
            date(2027, 3, 26),
        ),
        id="R6/398-day",
    ),
    # 200 days (Sun 2027-06-13). (a) expiry - 7 = Sun 06-06 -> Fri 06-04; back: Thu 3,
    # Wed 2, Tue 1, (Mon 05-31 Memorial Day), Fri 28, Thu 27 -> 05-27 00:00 PDT.
    # (b) 2/3 of 199 d 6 h (4782 h) = 3188 h = 132 d 20 h: 2027-04-07 18:00Z + 20 h.
    pytest.param(
        utc(2026, 11, 26, 18),
        utc(2027, 6, 14),
        CA,
        POLICY,
        None,
        plan(utc(2027, 4, 8, 14), LIFE, utc(2027, 5, 27, 7), utc(2027, 4, 8, 14), date(2027, 6, 4)),
        id="R6/200-day-weekend-and-memorial-day",
    ),
    # 100 days (Fri 2027-07-09). (a) expiry - 7 = Fri 07-02; back: Thu 1, Wed 30, Tue 29,
    # Mon 28, Fri 06-25 -> 06-25 00:00 PDT. (b) 2/3 of 99 d 7 h (2383 h) = 1588 h 40 min =
    # 66 d 4 h 40 min: 2027-06-06 17:00Z + 4 h 40 min.
    pytest.param(
        utc(2027, 4, 1, 17),
        utc(2027, 7, 10),
        CA,
        POLICY,
        None,
        plan(
            utc(2027, 6, 6, 21, 40),
            LIFE,
            utc(2027, 6, 25, 7),
            utc(2027, 6, 6, 21, 40),
            date(2027, 7, 2),
        ),
        id="R6/100-day",
    ),
    # 47 days (Fri 2029-05-18). (a) expiry - 7 = Fri 05-11; back: Thu 10, Wed 9, Tue 8,
    # Mon 7, Fri 4 -> 05-04 00:00 PDT = 07:00Z. (b) 2/3 of 46 d 7 h (1111 h) = 740 h 40 min
    # = 30 d 20 h 40 min: 2029-05-02 17:00Z + 20 h 40 min = 05-03 13:40Z, earlier than (a).
    pytest.param(
        utc(2029, 4, 2, 17),
        utc(2029, 5, 19),
        CA,
        POLICY,
        None,
        plan(
            utc(2029, 5, 3, 13, 40),
            LIFE,
            utc(2029, 5, 4, 7),
            utc(2029, 5, 3, 13, 40),
            date(2029, 5, 11),
        ),
        id="R6/47-day",
    ),
    # A 46-day certificate (default validity) issued 10:00 PDT Mon 2029-10-22 expires Thu
    # 2029-12-06 17:00 PST (12-07 01:00Z; 45 d 8 h). (a) expiry - 7 = Thu 11-29; back:
    # Wed 28, Tue 27, Mon 26, (Fri 23, Thu 22 Thanksgiving), Wed 21, Tue 20 -> 11-20
    # 00:00 PST. (b) 2/3 of 1088 h = 725 h 20 min = 30 d 5 h 20 min -> 11-21 22:20Z.
    # Thanksgiving makes the turnaround point the earlier one.
    pytest.param(
        utc(2029, 10, 22, 17),
        utc(2029, 12, 7, 1),
        CA,
        POLICY,
        None,
        plan(
            utc(2029, 11, 20, 8),
            TURN,
            utc(2029, 11, 20, 8),
            utc(2029, 11, 21, 22, 20),
            date(2029, 11, 29),
        ),
        id="R6/47-day-era-thanksgiving-2029-turnaround-wins",
    ),
    # 30-day certificates (an operator maximum), issued 09:00 Pacific 30 days before a
    # 17:00 expiry: 2/3 of the lifetime is about 10 days before expiry, so (a) wins.
    #
    # Expiry Thu 2026-12-03 (12-04 01:00Z): expiry - 7 = Thu 11-26 Thanksgiving -> Wed 11-25;
    # back: Tue 24, Mon 23, Fri 20, Thu 19, Wed 18 -> 11-18 00:00 PST. (b) 2/3 of 30 d 8 h
    # (728 h) = 485 h 20 min = 20 d 5 h 20 min: 11-03 17:00Z -> 11-23 22:20Z.
    pytest.param(
        utc(2026, 11, 3, 17),
        utc(2026, 12, 4, 1),
        CA,
        POLICY,
        None,
        plan(
            utc(2026, 11, 18, 8),
            TURN,
            utc(2026, 11, 18, 8),
            utc(2026, 11, 23, 22, 20),
            date(2026, 11, 25),
        ),
        id="R6/deliver-by-moves-off-thanksgiving",
    ),
    # The same certificate with an empty holiday list: Thu 11-26 is a business day; back:
    # Wed 25, Tue 24, Mon 23, Fri 20, Thu 19.
    pytest.param(
        utc(2026, 11, 3, 17),
        utc(2026, 12, 4, 1),
        NO_HOLIDAYS,
        POLICY,
        None,
        plan(
            utc(2026, 11, 19, 8),
            TURN,
            utc(2026, 11, 19, 8),
            utc(2026, 11, 23, 22, 20),
            date(2026, 11, 26),
        ),
        id="R6/override-empty-calendar-keeps-thanksgiving",
    ),
    # Expiry Mon 2026-12-07 (12-08 01:00Z): expiry - 7 = Mon 11-30; back: (Fri 27, Thu 26
    # closed) Wed 25, Tue 24, Mon 23, Fri 20, Thu 19 -> 11-19 00:00 PST.
    pytest.param(
        utc(2026, 11, 7, 17),
        utc(2026, 12, 8, 1),
        CA,
        POLICY,
        None,
        plan(
            utc(2026, 11, 19, 8),
            TURN,
            utc(2026, 11, 19, 8),
            utc(2026, 11, 27, 22, 20),
            date(2026, 11, 30),
        ),
        id="R6/turnaround-spans-thanksgiving",
    ),
    # Expiry Mon 2027-01-04 (01-05 01:00Z): expiry - 7 = Mon 12-28; back: (Fri 25
    # Christmas) Thu 24, Wed 23, Tue 22, Mon 21, Fri 18 -> 12-18 00:00 PST.
    pytest.param(
        utc(2026, 12, 5, 17),
        utc(2027, 1, 5, 1),
        CA,
        POLICY,
        None,
        plan(
            utc(2026, 12, 18, 8),
            TURN,
            utc(2026, 12, 18, 8),
            utc(2026, 12, 25, 22, 20),
            date(2026, 12, 28),
        ),
        id="R6/turnaround-spans-christmas-2026",
    ),
    # Expiry Fri 2027-01-08 (01-09 01:00Z): expiry - 7 = Fri 01-01 New Year -> Thu 12-31;
    # back: Wed 30, Tue 29, Mon 28, (Fri 25 Christmas) Thu 24, Wed 23 -> 12-23 00:00 PST.
    pytest.param(
        utc(2026, 12, 9, 17),
        utc(2027, 1, 9, 1),
        CA,
        POLICY,
        None,
        plan(
            utc(2026, 12, 23, 8),
            TURN,
            utc(2026, 12, 23, 8),
            utc(2026, 12, 29, 22, 20),
            date(2026, 12, 31),
        ),
        id="R6/new-year-2027-and-christmas",
    ),
    # DST ends Sun 2026-11-01. Expiry Fri 2026-11-13 17:00 PST (11-14 01:00Z), issued
    # 10-14 09:00 PDT (16:00Z; 30 d 9 h = 729 h, 2/3 = 486 h = 20 d 6 h -> 11-03 22:00Z).
    # Expiry - 7 = Fri 11-06; back: Thu 5, Wed 4, Tue 3, Mon 2, Fri 10-30 -> 10-30 00:00
    # PDT = 07:00Z, while the expiry is in PST.
    pytest.param(
        utc(2026, 10, 14, 16),
        utc(2026, 11, 14, 1),
        CA,
        POLICY,
        None,
        plan(
            utc(2026, 10, 30, 7),
            TURN,
            utc(2026, 10, 30, 7),
            utc(2026, 11, 3, 22),
            date(2026, 11, 6),
        ),
        id="R6/dst-fall-back-opens-in-pdt",
    ),
    # DST starts Sun 2027-03-14. Expiry Fri 2027-03-19 17:00 PDT (03-20 00:00Z), issued
    # 02-17 09:00 PST (17:00Z; 30 d 7 h = 727 h, 2/3 = 484 h 40 min -> 03-09 21:40Z).
    # Expiry - 7 = Fri 03-12; back: Thu 11, Wed 10, Tue 9, Mon 8, Fri 5 -> 03-05 00:00 PST.
    pytest.param(
        utc(2027, 2, 17, 17),
        utc(2027, 3, 20),
        CA,
        POLICY,
        None,
        plan(
            utc(2027, 3, 5, 8), TURN, utc(2027, 3, 5, 8), utc(2027, 3, 9, 21, 40), date(2027, 3, 12)
        ),
        id="R6/dst-spring-forward-opens-in-pst",
    ),
    # Margins are configuration: 14 days and 3 business days on the 398-day certificate.
    # Expiry - 14 = Fri 03-19; back: Thu 18, Wed 17, Tue 16 -> 03-16 00:00 PDT. (b) at
    # 0.99 of 9534 h = 9438.66 h is later.
    pytest.param(
        utc(2026, 3, 1, 18),
        utc(2027, 4, 3),
        CA,
        LifecyclePolicy(renewal_margin_days=14, due_business_days=3, lifetime_fraction=0.99),
        None,
        plan(
            utc(2027, 3, 16, 7),
            TURN,
            utc(2027, 3, 16, 7),
            utc(2027, 3, 30, 0, 39, 36),  # 0.99 of 9534 h = 393 d 6 h 39 min 36 s
            date(2027, 3, 19),
        ),
        id="R6/configurable-margin-and-turnaround",
    ),
    # A customer's earlier renewal date opens the case at 00:00 Pacific on that date.
    pytest.param(
        utc(2026, 3, 1, 18),
        utc(2027, 4, 3),
        CA,
        POLICY,
        date(2026, 10, 1),
        plan(
            utc(2026, 10, 1, 7),
            ASKED,
            utc(2027, 3, 19, 7),
            utc(2026, 11, 21, 14),
            date(2027, 3, 26),
        ),
        id="R6/requested-earlier-date-wins",
    ),
    # A later one cannot delay the renewal past the safe point.
    pytest.param(
        utc(2026, 3, 1, 18),
        utc(2027, 4, 3),
        CA,
        LATE_LIFETIME,
        date(2027, 3, 25),
        plan(
            utc(2027, 3, 19, 7),
            TURN,
            utc(2027, 3, 19, 7),
            utc(2027, 3, 30, 0, 39, 36),  # 0.99 of 9534 h = 393 d 6 h 39 min 36 s
            date(2027, 3, 26),
        ),
        id="R6/requested-later-date-ignored",
    ),
    # A requested date before issuance opens the case when the certificate is issued.
    pytest.param(
        utc(2026, 3, 1, 18),
        utc(2027, 4, 3),
        CA,
        POLICY,
        date(2026, 2, 1),
        plan(
            utc(2026, 3, 1, 18),
            ISSUE,
            utc(2027, 3, 19, 7),
            utc(2026, 11, 21, 14),
            date(2027, 3, 26),
        ),
        id="R6/requested-before-issuance-clamped",
    ),
    # A 5-day certificate (Mon 05-11 10:00 PDT to Sat 05-16 17:00 PDT) is too short for the
    # margin: expiry - 7 = Sat 05-09 -> Fri 05-08, before issuance; it renews at once.
    pytest.param(
        utc(2026, 5, 11, 17),
        utc(2026, 5, 17),
        CA,
        POLICY,
        None,
        plan(
            utc(2026, 5, 11, 17),
            ISSUE,
            utc(2026, 5, 1, 7),
            utc(2026, 5, 15, 5, 40),  # 2/3 of 5 d 7 h (127 h) = 84 h 40 min
            date(2026, 5, 8),
        ),
        id="R6/too-short-renews-at-issuance",
    ),
]


@pytest.mark.parametrize(
    ("not_before", "not_after", "calendar", "policy", "requested", "expected"), RENEWAL_CASES
)
def test_renewal_plan(
    not_before: datetime,
    not_after: datetime,
    calendar: BusinessCalendar,
    policy: LifecyclePolicy,
    requested: date | None,
    expected: RenewalPlan,
) -> None:
    got = renewal_plan(not_before, not_after, calendar, policy, requested)
    assert got == expected
    assert renewal_opens_at(not_before, not_after, calendar, policy, requested) == got.opens_at


def test_renewal_opened_at_turnaround_point_is_due_on_deliver_by() -> None:
    # R5 + R6 together, for the Christmas case: a case opened at 00:00 PST on Fri 12-18 is
    # due five business days later, Mon 12-28, which is seven days before Mon 01-04.
    got = renewal_plan(utc(2026, 12, 5, 17), utc(2027, 1, 5, 1), CA, POLICY)
    assert turnaround(got.opens_at, CA).due == date(2026, 12, 28) == got.deliver_by


def test_renewal_plan_accepts_any_utc_offset() -> None:
    in_pacific = renewal_plan(
        datetime(2026, 3, 1, 10, tzinfo=PACIFIC),
        datetime(2027, 4, 2, 17, tzinfo=PACIFIC),
        CA,
        POLICY,
    )
    assert in_pacific == renewal_plan(utc(2026, 3, 1, 18), utc(2027, 4, 3), CA, POLICY)
    assert in_pacific.opens_at.tzinfo is UTC


# --- R9: expiry notices -------------------------------------------------------------------

# The 398-day certificate: expires Fri 2027-04-02 17:00 PDT (04-03 00:00Z). Each threshold
# is due at 17:00 Pacific N calendar days before, so in winter at 01:00Z:
#   90: Sat 2027-01-02 17:00 PST = 01-03 01:00Z     14: Fri 03-19 17:00 PDT = 03-20 00:00Z
#   60: Mon 2027-02-01 17:00 PST = 02-02 01:00Z      7: Fri 03-26 17:00 PDT = 03-27 00:00Z
#   30: Wed 2027-03-03 17:00 PST = 03-04 01:00Z      1: Thu 04-01 17:00 PDT = 04-02 00:00Z
NOT_AFTER = utc(2027, 4, 3)
ISSUED_AT = utc(2026, 3, 1, 18)
AT_90 = utc(2027, 1, 3, 1)
AT_60 = utc(2027, 2, 2, 1)
AT_30 = utc(2027, 3, 4, 1)
AT_14 = utc(2027, 3, 20)
AT_7 = utc(2027, 3, 27)
AT_1 = utc(2027, 4, 2)
ALL_THRESHOLDS = frozenset(expiry_reason(n) for n in (90, 60, 30, 14, 7, 1))
SECOND = timedelta(seconds=1)


def sent(*days: int) -> frozenset[str]:
    return frozenset(expiry_reason(n) for n in days)


def due(reason: str, at: datetime, late: bool = False) -> NoticeDue:
    return NoticeDue(reason=reason, due_at=at, late=late)


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        pytest.param(90, AT_90, id="R9/90-day-is-17h-pst-in-january"),
        pytest.param(60, AT_60, id="R9/60-day"),
        pytest.param(30, AT_30, id="R9/30-day-before-dst"),
        pytest.param(14, AT_14, id="R9/14-day-after-dst"),
        pytest.param(7, AT_7, id="R9/7-day"),
        pytest.param(1, AT_1, id="R9/1-day"),
    ],
)
def test_expiry_notice_at_keeps_the_pacific_wall_clock(days: int, expected: datetime) -> None:
    assert expiry_notice_at(NOT_AFTER, days) == expected


def test_expiry_notice_at_counts_calendar_days_not_24_hours() -> None:
    # Across the spring-forward switch, 90 calendar days are 2159 hours, not 2160.
    assert NOT_AFTER - expiry_notice_at(NOT_AFTER, 90) == timedelta(days=90) - timedelta(hours=1)


NOTICE_CASES = [
    # (now, already_sent, issued_at, policy, expected)
    pytest.param(AT_90 - SECOND, frozenset(), ISSUED_AT, POLICY, [], id="R9/nothing-before-90"),
    pytest.param(AT_90, frozenset(), ISSUED_AT, POLICY, [due("expiry.90", AT_90)], id="R9/90-due"),
    # Late means more than the 24-hour grace after the moment, not at it.
    pytest.param(
        AT_90 + timedelta(hours=24),
        frozenset(),
        ISSUED_AT,
        POLICY,
        [due("expiry.90", AT_90)],
        id="R9/at-grace-not-late",
    ),
    pytest.param(
        AT_90 + timedelta(hours=24) + SECOND,
        frozenset(),
        ISSUED_AT,
        POLICY,
        [due("expiry.90", AT_90, late=True)],
        id="R9/past-grace-late",
    ),
    pytest.param(
        AT_90 + timedelta(hours=2),
        frozenset(),
        ISSUED_AT,
        LifecyclePolicy(late_grace=timedelta(hours=1)),
        [due("expiry.90", AT_90, late=True)],
        id="R9/grace-is-configurable",
    ),
    pytest.param(AT_60, sent(90), ISSUED_AT, POLICY, [due("expiry.60", AT_60)], id="R9/next-only"),
    pytest.param(AT_60 - SECOND, sent(90), ISSUED_AT, POLICY, [], id="R9/sent-never-again"),
    pytest.param(
        AT_60,
        frozenset(),
        ISSUED_AT,
        POLICY,
        [due("expiry.90", AT_90, late=True), due("expiry.60", AT_60)],
        id="R9/late-once-missed-90",
    ),
    # The worker was stopped from January to 12:00Z on 03-27: every missed threshold is
    # due, oldest first, each marked late but the 7-day one (12 hours ago).
    pytest.param(
        AT_7 + timedelta(hours=12),
        sent(90),
        ISSUED_AT,
        POLICY,
        [
            due("expiry.60", AT_60, late=True),
            due("expiry.30", AT_30, late=True),
            due("expiry.14", AT_14, late=True),
            due("expiry.7", AT_7),
        ],
        id="R9/late-once-each-missed-threshold",
    ),
    pytest.param(AT_14, sent(90, 60, 30, 14), ISSUED_AT, POLICY, [], id="R9/all-sent-nothing-due"),
    # RFC 5280: valid through notAfter itself; "expired" is due strictly after it.
    pytest.param(NOT_AFTER, ALL_THRESHOLDS, ISSUED_AT, POLICY, [], id="R9/not-expired-at-notafter"),
    pytest.param(
        NOT_AFTER + SECOND,
        ALL_THRESHOLDS,
        ISSUED_AT,
        POLICY,
        [due(REASON_EXPIRED, NOT_AFTER)],
        id="R9/expired-notice",
    ),
    pytest.param(
        NOT_AFTER + timedelta(days=7),
        ALL_THRESHOLDS | {REASON_EXPIRED},
        ISSUED_AT,
        POLICY,
        [],
        id="R9/expired-sent-once",
    ),
    # Stopped over the expiry: the missed 1-day notice is still sent, late, then "expired".
    pytest.param(
        NOT_AFTER + timedelta(days=7),
        sent(90, 60, 30, 14, 7),
        ISSUED_AT,
        POLICY,
        [due("expiry.1", AT_1, late=True), due(REASON_EXPIRED, NOT_AFTER, late=True)],
        id="R9/missed-1-day-sent-late-after-expiry",
    ),
    # A certificate imported on 03-10 (tracked from then): the 90/60/30-day moments were
    # already past and are never due; the 14-day one is.
    pytest.param(
        AT_14,
        frozenset(),
        utc(2027, 3, 10),
        POLICY,
        [due("expiry.14", AT_14)],
        id="R9/import-skips-thresholds-before-tracking",
    ),
    pytest.param(
        AT_30 + timedelta(hours=1), frozenset(), AT_30, POLICY, [], id="R9/threshold-at-issuance"
    ),
    pytest.param(
        NOT_AFTER + SECOND, frozenset(), NOT_AFTER, POLICY, [], id="R9/imported-already-expired"
    ),
    # Thresholds are configuration: 45 days before Fri 04-02 is Tue 02-16 17:00 PST.
    pytest.param(
        utc(2027, 2, 17, 1),
        frozenset(),
        ISSUED_AT,
        LifecyclePolicy(notice_days=(10, 45)),
        [due("expiry.45", utc(2027, 2, 17, 1))],
        id="R9/configurable-thresholds",
    ),
    pytest.param(
        AT_1,
        frozenset(),
        ISSUED_AT,
        LifecyclePolicy(notice_days=()),
        [],
        id="R9/no-thresholds-configured",
    ),
]


@pytest.mark.parametrize(("now", "already_sent", "issued_at", "policy", "expected"), NOTICE_CASES)
def test_expiry_notices_due(
    now: datetime,
    already_sent: frozenset[str],
    issued_at: datetime,
    policy: LifecyclePolicy,
    expected: list[NoticeDue],
) -> None:
    got = expiry_notices_due(NOT_AFTER, now, already_sent, policy, issued_at=issued_at)
    assert got == expected


def test_47_day_certificate_gets_no_90_or_60_day_notice() -> None:
    # R9 / R13: the 47-day certificate (Mon 2029-04-02 10:00 PDT to Fri 05-18 17:00 PDT).
    # Its 90-day (Feb 17) and 60-day (Mar 19) moments precede issuance and never come due;
    # the 30-day one is Wed 04-18 17:00 PDT = 04-19 00:00Z. Even a worker first run long
    # after expiry sends only the 30/14/7/1-day notices and "expired".
    not_before, not_after = utc(2029, 4, 2, 17), utc(2029, 5, 19)
    at_30 = utc(2029, 4, 19)
    assert expiry_notices_due(not_after, at_30, (), POLICY, issued_at=not_before) == [
        due("expiry.30", at_30)
    ]
    later = expiry_notices_due(not_after, utc(2029, 7, 1), (), POLICY, issued_at=not_before)
    assert [n.reason for n in later] == [
        "expiry.30",
        "expiry.14",
        "expiry.7",
        "expiry.1",
        "expired",
    ]
    assert all(n.late for n in later)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(NOT_AFTER - SECOND, False, id="R7/valid-before-notafter"),
        pytest.param(NOT_AFTER, False, id="R7/valid-at-notafter-rfc5280"),
        pytest.param(NOT_AFTER + SECOND, True, id="R7/expired-after-notafter"),
        pytest.param(datetime(2027, 4, 2, 17, 0, 1, tzinfo=PACIFIC), True, id="R7/any-offset"),
    ],
)
def test_expired(now: datetime, expected: bool) -> None:
    assert expired(NOT_AFTER, now) is expected


# --- R8/R9: the window closing notice -----------------------------------------------------

DELIVERED_AT = utc(2026, 5, 4, 18, 30)
WINDOW_ENDS = utc(2026, 5, 29, 18, 30)  # 25 days later, same time of day (R8)
CLOSING_AT = utc(2026, 5, 26, 18, 30)  # 3 days (72 hours) before


def test_window_end_is_25_days_after_delivery() -> None:
    assert window_end(DELIVERED_AT, POLICY) == WINDOW_ENDS
    assert window_end(DELIVERED_AT, LifecyclePolicy(window_days=10)) == utc(2026, 5, 14, 18, 30)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        pytest.param(POLICY, CLOSING_AT, id="R8/closing-notice-3-days-before"),
        pytest.param(
            LifecyclePolicy(window_closing_notice_days=0),
            WINDOW_ENDS,
            id="R8/closing-notice-at-end",
        ),
        pytest.param(
            LifecyclePolicy(window_closing_notice_days=5),
            utc(2026, 5, 24, 18, 30),
            id="R8/closing-notice-configurable",
        ),
    ],
)
def test_window_closing_notice_at(policy: LifecyclePolicy, expected: datetime) -> None:
    assert window_closing_notice_at(WINDOW_ENDS, policy) == expected


@pytest.mark.parametrize(
    ("now", "already_sent", "expected"),
    [
        pytest.param(CLOSING_AT - SECOND, frozenset(), None, id="R8/closing-not-yet"),
        pytest.param(
            CLOSING_AT, frozenset(), due(REASON_WINDOW_CLOSING, CLOSING_AT), id="R8/closing-due"
        ),
        pytest.param(
            CLOSING_AT + timedelta(days=1, seconds=1),
            frozenset(),
            due(REASON_WINDOW_CLOSING, CLOSING_AT, late=True),
            id="R8/closing-late",
        ),
        pytest.param(
            WINDOW_ENDS + timedelta(days=2),
            frozenset(),
            due(REASON_WINDOW_CLOSING, CLOSING_AT, late=True),
            id="R9/closing-never-skipped-after-window",
        ),
        pytest.param(
            CLOSING_AT + timedelta(hours=1),
            frozenset({REASON_WINDOW_CLOSING}),
            None,
            id="R9/closing-sent-once",
        ),
    ],
)
def test_window_closing_notice_due(
    now: datetime, already_sent: frozenset[str], expected: NoticeDue | None
) -> None:
    assert window_closing_notice_due(WINDOW_ENDS, now, already_sent, POLICY) == expected


# --- CRL refresh at half-life -------------------------------------------------------------

THIS_UPDATE = utc(2026, 5, 1)
NEXT_UPDATE = utc(2026, 5, 8)
HALF_LIFE = utc(2026, 5, 4, 12)


@pytest.mark.parametrize(
    ("this_update", "next_update", "now", "expected"),
    [
        pytest.param(THIS_UPDATE, NEXT_UPDATE, THIS_UPDATE, False, id="crl/fresh"),
        pytest.param(THIS_UPDATE, NEXT_UPDATE, HALF_LIFE - SECOND, False, id="crl/before-half"),
        pytest.param(THIS_UPDATE, NEXT_UPDATE, HALF_LIFE, True, id="crl/at-half-life"),
        pytest.param(THIS_UPDATE, NEXT_UPDATE, NEXT_UPDATE + SECOND, True, id="crl/past-next"),
        pytest.param(THIS_UPDATE, NEXT_UPDATE, THIS_UPDATE - SECOND, False, id="crl/clock-behind"),
        # Odd lengths split exactly: half of 25 hours is 12 h 30 min.
        pytest.param(
            THIS_UPDATE, utc(2026, 5, 2, 1), utc(2026, 5, 1, 12, 30), True, id="crl/odd-half"
        ),
        pytest.param(
            THIS_UPDATE,
            utc(2026, 5, 2, 1),
            utc(2026, 5, 1, 12, 29, 59),
            False,
            id="crl/odd-half-minus-1s",
        ),
        pytest.param(THIS_UPDATE, THIS_UPDATE, THIS_UPDATE, True, id="crl/degenerate-is-stale"),
    ],
)
def test_crl_refresh_due(
    this_update: datetime, next_update: datetime, now: datetime, expected: bool
) -> None:
    assert crl_refresh_due(this_update, next_update, now) is expected


def test_crl_refresh_at_is_half_life() -> None:
    assert crl_refresh_at(THIS_UPDATE, NEXT_UPDATE) == HALF_LIFE


# --- Policy and programming errors --------------------------------------------------------


def test_policy_defaults_are_the_rules() -> None:
    assert POLICY.notice_days == (90, 60, 30, 14, 7, 1)  # R9
    assert POLICY.renewal_margin_days == 7  # R6
    assert POLICY.due_business_days == 5  # R5
    assert POLICY.window_days == 25  # R8
    assert POLICY.window_closing_notice_days == 3


def test_policy_normalises_notice_days() -> None:
    assert LifecyclePolicy(notice_days=(7, 90, 7, 30)).notice_days == (90, 30, 7)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: LifecyclePolicy(notice_days=(30, 0)), id="notice-zero"),
        pytest.param(lambda: LifecyclePolicy(notice_days=(-1,)), id="notice-negative"),
        pytest.param(lambda: LifecyclePolicy(notice_days=(True,)), id="notice-bool"),
        pytest.param(lambda: LifecyclePolicy(notice_days=(1.5,)), id="notice-float"),  # type: ignore[arg-type]
        pytest.param(lambda: LifecyclePolicy(renewal_margin_days=-1), id="margin-negative"),
        pytest.param(lambda: LifecyclePolicy(due_business_days=-1), id="due-negative"),
        pytest.param(lambda: LifecyclePolicy(lifetime_fraction=0), id="fraction-zero"),
        pytest.param(lambda: LifecyclePolicy(lifetime_fraction=1), id="fraction-one"),
        pytest.param(lambda: LifecyclePolicy(lifetime_fraction=float("nan")), id="fraction-nan"),
        pytest.param(lambda: LifecyclePolicy(window_days=0), id="window-zero"),
        pytest.param(
            lambda: LifecyclePolicy(window_closing_notice_days=25), id="closing-not-in-window"
        ),
        pytest.param(lambda: LifecyclePolicy(window_closing_notice_days=-1), id="closing-negative"),
        pytest.param(
            lambda: LifecyclePolicy(late_grace=timedelta(seconds=-1)), id="grace-negative"
        ),
    ],
)
def test_bad_policy_raises(make: Callable[[], LifecyclePolicy]) -> None:
    with pytest.raises(ValueError):
        make()


NAIVE = datetime(2027, 1, 1)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        pytest.param(lambda: renewal_plan(NAIVE, NOT_AFTER, CA, POLICY), ValueError, id="naive-nb"),
        pytest.param(lambda: renewal_plan(ISSUED_AT, NAIVE, CA, POLICY), ValueError, id="naive-na"),
        pytest.param(
            lambda: renewal_plan(NOT_AFTER, ISSUED_AT, CA, POLICY), ValueError, id="na-before-nb"
        ),
        pytest.param(
            lambda: renewal_plan(ISSUED_AT, ISSUED_AT, CA, POLICY), ValueError, id="na-equals-nb"
        ),
        pytest.param(
            lambda: renewal_plan(ISSUED_AT, NOT_AFTER, CA, POLICY, NOT_AFTER),  # type: ignore[arg-type]
            TypeError,
            id="requested-datetime",
        ),
        pytest.param(
            lambda: expiry_notices_due(NOT_AFTER, NAIVE, (), POLICY, issued_at=ISSUED_AT),
            ValueError,
            id="naive-now",
        ),
        pytest.param(
            lambda: expiry_notices_due(NOT_AFTER, AT_1, (), POLICY, issued_at=NAIVE),
            ValueError,
            id="naive-issued-at",
        ),
        pytest.param(lambda: expired(NOT_AFTER, NAIVE), ValueError, id="naive-expired"),
        pytest.param(
            lambda: window_closing_notice_due(NAIVE, AT_1, (), POLICY),
            ValueError,
            id="naive-window",
        ),
        pytest.param(lambda: crl_refresh_due(NAIVE, NOT_AFTER, AT_1), ValueError, id="naive-crl"),
    ],
)
def test_programming_errors_raise(call: Callable[[], object], error: type[Exception]) -> None:
    with pytest.raises(error):
        call()


# --- Properties ---------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))


@settings(max_examples=300, deadline=None)
@given(
    not_before=instants,
    days=st.integers(min_value=1, max_value=398),
    requested_offset=st.none() | st.integers(min_value=-30, max_value=400),
)
def test_renewal_plan_invariants(
    not_before: datetime, days: int, requested_offset: int | None
) -> None:
    expiry_day = not_before.astimezone(PACIFIC).date() + timedelta(days=days)
    not_after = expiry_instant(expiry_day)
    requested = (
        None
        if requested_offset is None
        else not_before.astimezone(PACIFIC).date() + timedelta(days=requested_offset)
    )
    got = renewal_plan(not_before, not_after, CA, POLICY, requested)

    # R6 (b): the lifetime point, to the second.
    assert abs(got.lifetime_at - (not_before + (not_after - not_before) * (2 / 3))) < SECOND
    # Never before issuance; never after either of the points nor a requested day.
    assert not_before <= got.opens_at <= got.lifetime_at
    candidates = [got.turnaround_at, got.lifetime_at]
    if requested is not None:
        candidates.append(datetime.combine(requested, datetime.min.time(), tzinfo=PACIFIC))
    assert got.opens_at == max(not_before, min(candidates))
    # deliver_by is the last business day at least 7 calendar days before the expiry day.
    deadline = expiry_day - timedelta(days=7)
    assert CA.is_business_day(got.deliver_by)
    assert got.deliver_by <= deadline
    assert CA.business_days_between(got.deliver_by, deadline) == 0
    # R5 + R6 (a): opened at the turnaround point, the case is due exactly on deliver_by,
    # and a case opened any earlier (as opens_at is) is due no later.
    assert turnaround(got.turnaround_at, CA).due == got.deliver_by
    assert got.turnaround_at.astimezone(PACIFIC).time() == datetime.min.time()
    if got.basis is not RenewalBasis.ISSUANCE:
        assert turnaround(got.opens_at, CA).due <= got.deliver_by


@settings(max_examples=200, deadline=None)
@given(
    not_before=instants,
    days=st.integers(min_value=1, max_value=398),
    tracked_after=st.integers(min_value=0, max_value=400 * 24),
    gaps=st.lists(st.integers(min_value=0, max_value=40 * 24 * 3600), min_size=1, max_size=40),
)
def test_worker_runs_send_each_notice_exactly_once(
    not_before: datetime, days: int, tracked_after: int, gaps: list[int]
) -> None:
    """R9: however irregular the worker's runs, each notice is sent once, none is skipped."""
    not_after = expiry_instant(not_before.astimezone(PACIFIC).date() + timedelta(days=days))
    issued_at = not_before + timedelta(hours=tracked_after)
    recorded: dict[str, NoticeDue] = {}
    now = issued_at
    for gap in gaps:
        now += timedelta(seconds=gap)
        for notice in expiry_notices_due(
            not_after, now, recorded.keys(), POLICY, issued_at=issued_at
        ):
            assert notice.reason not in recorded  # never twice
            assert issued_at < notice.due_at <= now or notice.reason == REASON_EXPIRED
            assert notice.late is (now > notice.due_at + POLICY.late_grace)
            recorded[notice.reason] = notice

    expected = {
        expiry_reason(n)
        for n in POLICY.notice_days
        if issued_at < expiry_notice_at(not_after, n) <= now
    }
    if issued_at < not_after < now:
        expected.add(REASON_EXPIRED)
    assert set(recorded) == expected  # none missing


@pytest.mark.parametrize(
    ("vendor_asks", "requested", "opens_at", "basis"),
    [
        pytest.param(None, None, None, None, id="R6/vendor-silent-plan-unchanged"),
        pytest.param(
            utc(2026, 6, 1), None, utc(2026, 6, 1), RenewalBasis.VENDOR, id="R6/vendor-earlier"
        ),
        pytest.param(utc(2027, 3, 1), None, None, None, id="R6/vendor-later-ignored"),
        pytest.param(
            utc(2026, 2, 1), None, utc(2026, 3, 1, 18), RenewalBasis.ISSUANCE,
            id="R6/vendor-before-issuance-opens-at-once",
        ),
        pytest.param(
            utc(2026, 7, 1), date(2026, 6, 1), None, RenewalBasis.REQUESTED,
            id="R6/customer-date-earlier-than-vendor",
        ),
    ],
)  # fmt: skip
def test_renewal_plan_follows_the_vendors_renewal_window(
    vendor_asks: datetime | None,
    requested: date | None,
    opens_at: datetime | None,
    basis: RenewalBasis | None,
) -> None:
    """RFC 9773: a vendor's suggested window moves the renewal earlier, never later."""
    start, end = utc(2026, 3, 1, 18), utc(2027, 4, 3)
    base = renewal_plan(start, end, CA, POLICY, requested)
    got = renewal_plan(start, end, CA, POLICY, requested, vendor_asks)
    assert got.opens_at == (opens_at or base.opens_at)
    assert got.basis == (basis or base.basis)
    assert got.opens_at <= base.opens_at
