"""Tests for turnaround in business days (R5) in certdesk.core.calendar.

The expected dates are worked out by hand from the 2026-2027 California calendar of the
``holidays`` package; the comments show the count so a failure is easy to check.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certdesk.core.calendar import (
    DUE_BUSINESS_DAYS,
    PACIFIC,
    TARGET_BUSINESS_DAYS,
    BusinessCalendar,
    Turnaround,
    california_holidays,
    is_overdue,
    turnaround,
)

CA = BusinessCalendar()  # the default: the holidays package's US/CA calendar
NO_HOLIDAYS = BusinessCalendar(holidays=frozenset())
# A configured list with one made-up closure; it replaces the default, so Memorial Day
# (2026-05-25) and Thanksgiving are ordinary business days under it.
CUSTOM = BusinessCalendar(holidays=frozenset({date(2026, 5, 13)}))


def pacific(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    """An aware approval instant given in Pacific wall-clock time."""
    return datetime(year, month, day, hour, minute, tzinfo=PACIFIC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- The default calendar -----------------------------------------------------------------


@pytest.mark.parametrize(
    "holiday",
    [
        pytest.param(date(2026, 11, 26), id="R5/ca-thanksgiving-2026"),
        pytest.param(date(2026, 11, 27), id="R5/ca-day-after-thanksgiving-2026"),
        pytest.param(date(2026, 12, 25), id="R5/ca-christmas-2026-friday"),
        pytest.param(date(2027, 1, 1), id="R5/ca-new-year-2027"),
        pytest.param(date(2027, 3, 31), id="R5/ca-cesar-chavez-2027"),
        pytest.param(date(2026, 7, 3), id="R5/ca-independence-day-observed-2026"),
        pytest.param(date(2027, 12, 31), id="R5/ca-new-year-2028-observed-in-2027"),
    ],
)
def test_california_holidays_lists_state_and_observed_days(holiday: date) -> None:
    assert holiday in california_holidays([holiday.year])
    assert not CA.is_business_day(holiday)


def test_california_holidays_of_no_years_is_empty() -> None:
    assert california_holidays([]) == frozenset()


def test_california_holidays_only_covers_the_years_asked() -> None:
    days = california_holidays([2026, 2026])
    assert {d.year for d in days} == {2026}
    assert date(2026, 10, 12) not in days  # Columbus Day is not a California holiday


# --- is_business_day ----------------------------------------------------------------------

BUSINESS_DAY_CASES = [
    # (calendar, day, expected)
    pytest.param(CA, date(2026, 5, 8), True, id="R5/friday-is-business-day"),
    pytest.param(CA, date(2026, 5, 9), False, id="R5/saturday-is-not"),
    pytest.param(CA, date(2026, 5, 10), False, id="R5/sunday-is-not"),
    pytest.param(CA, date(2026, 5, 11), True, id="R5/monday-is-business-day"),
    pytest.param(CA, date(2026, 11, 26), False, id="R5/thanksgiving-is-not"),
    pytest.param(CA, date(2026, 11, 30), True, id="R5/monday-after-thanksgiving-is"),
    pytest.param(CA, date(2026, 12, 24), True, id="R5/christmas-eve-2026-is-business-day"),
    pytest.param(CA, date(2026, 7, 3), False, id="R5/independence-day-observed-friday-is-not"),
    pytest.param(CA, date(2026, 5, 25), False, id="R5/memorial-day-is-not"),
    pytest.param(NO_HOLIDAYS, date(2026, 11, 26), True, id="R5/override-empty-thanksgiving-is"),
    pytest.param(NO_HOLIDAYS, date(2026, 11, 28), False, id="R5/override-empty-saturday-is-not"),
    pytest.param(CUSTOM, date(2026, 5, 13), False, id="R5/override-custom-date-is-holiday"),
    pytest.param(CUSTOM, date(2026, 5, 25), True, id="R5/override-replaces-default-memorial"),
]


@pytest.mark.parametrize(("calendar", "day", "expected"), BUSINESS_DAY_CASES)
def test_is_business_day(calendar: BusinessCalendar, day: date, expected: bool) -> None:
    assert calendar.is_business_day(day) is expected


# --- add_business_days ---------------------------------------------------------------------

ADD_CASES = [
    # (calendar, start, n, expected)
    pytest.param(CA, date(2026, 5, 9), 0, date(2026, 5, 9), id="R5/add-zero-returns-start"),
    pytest.param(CA, date(2026, 11, 26), 0, date(2026, 11, 26), id="R5/add-zero-on-holiday"),
    pytest.param(CA, date(2026, 5, 8), 1, date(2026, 5, 11), id="R5/add-one-friday-to-monday"),
    pytest.param(CA, date(2026, 5, 11), 1, date(2026, 5, 12), id="R5/add-one-start-not-counted"),
    # Wed 11-25 -> Thu 26 and Fri 27 closed -> Mon 11-30.
    pytest.param(CA, date(2026, 11, 25), 1, date(2026, 11, 30), id="R5/add-over-thanksgiving"),
    pytest.param(
        NO_HOLIDAYS, date(2026, 11, 25), 1, date(2026, 11, 26), id="R5/add-override-empty"
    ),
    # 2026 has 12 weekday holidays: 261 weekdays less 12 is 249 business days.
    pytest.param(CA, date(2025, 12, 31), 249, date(2026, 12, 31), id="R5/add-whole-year-2026"),
]


@pytest.mark.parametrize(("calendar", "start", "n", "expected"), ADD_CASES)
def test_add_business_days(calendar: BusinessCalendar, start: date, n: int, expected: date) -> None:
    assert calendar.add_business_days(start, n) == expected


# --- subtract_business_days and business_day_on_or_before (used by R6 renewal planning) ----

SUBTRACT_CASES = [
    # (calendar, start, n, expected)
    pytest.param(CA, date(2026, 5, 9), 0, date(2026, 5, 9), id="R5/sub-zero-returns-start"),
    pytest.param(CA, date(2026, 5, 11), 1, date(2026, 5, 8), id="R5/sub-one-monday-to-friday"),
    pytest.param(CA, date(2026, 5, 12), 1, date(2026, 5, 11), id="R5/sub-one-start-not-counted"),
    # Mon 11-30 -> Fri 27 and Thu 26 closed -> Wed 11-25.
    pytest.param(CA, date(2026, 11, 30), 1, date(2026, 11, 25), id="R5/sub-over-thanksgiving"),
    pytest.param(
        NO_HOLIDAYS, date(2026, 11, 30), 1, date(2026, 11, 27), id="R5/sub-override-empty"
    ),
    # Mon 01-04 -> (Fri 01-01 closed) Thu 12-31 (1), Wed 12-30 (2).
    pytest.param(CA, date(2027, 1, 4), 2, date(2026, 12, 30), id="R5/sub-over-new-year"),
    pytest.param(CA, date(2026, 12, 31), 249, date(2025, 12, 31), id="R5/sub-whole-year-2026"),
]


@pytest.mark.parametrize(("calendar", "start", "n", "expected"), SUBTRACT_CASES)
def test_subtract_business_days(
    calendar: BusinessCalendar, start: date, n: int, expected: date
) -> None:
    assert calendar.subtract_business_days(start, n) == expected


@pytest.mark.parametrize(
    ("calendar", "day", "expected"),
    [
        pytest.param(CA, date(2026, 5, 11), date(2026, 5, 11), id="R5/on-or-before-business-day"),
        pytest.param(CA, date(2026, 5, 10), date(2026, 5, 8), id="R5/on-or-before-sunday"),
        pytest.param(CA, date(2026, 11, 27), date(2026, 11, 25), id="R5/on-or-before-thanksgiving"),
        pytest.param(CA, date(2027, 1, 1), date(2026, 12, 31), id="R5/on-or-before-new-year"),
        pytest.param(
            NO_HOLIDAYS, date(2027, 1, 1), date(2027, 1, 1), id="R5/on-or-before-override-empty"
        ),
    ],
)
def test_business_day_on_or_before(calendar: BusinessCalendar, day: date, expected: date) -> None:
    assert calendar.business_day_on_or_before(day) == expected


@pytest.mark.parametrize(
    ("call", "error"),
    [
        pytest.param(
            lambda: CA.subtract_business_days(date(2026, 5, 11), -1), ValueError, id="neg"
        ),
        pytest.param(
            lambda: CA.subtract_business_days(datetime(2026, 5, 11), 1), TypeError, id="datetime"
        ),
        pytest.param(
            lambda: CA.business_day_on_or_before(datetime(2026, 5, 11)),
            TypeError,
            id="on-or-before",
        ),
    ],
)
def test_subtract_programming_errors_raise(
    call: Callable[[], object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        call()


@settings(max_examples=200, deadline=None)
@given(
    day=st.dates(min_value=date(2025, 1, 1), max_value=date(2031, 12, 31)),
    n=st.integers(min_value=0, max_value=40),
)
def test_subtract_business_days_inverts_add(day: date, n: int) -> None:
    back = CA.subtract_business_days(day, n)
    assert CA.business_days_between(back, day) == (
        n if CA.is_business_day(day) or n == 0 else n - 1
    )
    if n:
        assert CA.is_business_day(back)
    if CA.is_business_day(day):
        assert CA.add_business_days(back, n) == day
    on_or_before = CA.business_day_on_or_before(day)
    assert CA.is_business_day(on_or_before)
    assert on_or_before <= day
    assert CA.business_days_between(on_or_before, day) == 0


# --- business_days_between ----------------------------------------------------------------

BETWEEN_CASES = [
    # (calendar, start, end, expected): business days in (start, end]
    pytest.param(CA, date(2026, 5, 11), date(2026, 5, 11), 0, id="R5/between-same-day"),
    pytest.param(CA, date(2026, 5, 15), date(2026, 5, 11), 0, id="R5/between-end-before-start"),
    pytest.param(CA, date(2026, 5, 8), date(2026, 5, 9), 0, id="R5/between-friday-saturday"),
    pytest.param(CA, date(2026, 5, 8), date(2026, 5, 11), 1, id="R5/between-friday-monday"),
    pytest.param(CA, date(2026, 5, 10), date(2026, 5, 11), 1, id="R5/between-end-counted"),
    pytest.param(CA, date(2026, 11, 25), date(2026, 11, 30), 1, id="R5/between-thanksgiving"),
    pytest.param(
        NO_HOLIDAYS, date(2026, 11, 25), date(2026, 11, 30), 3, id="R5/between-override-empty"
    ),
    # Thu 12-31, (Fri 01-01 closed), Mon 01-04.
    pytest.param(CA, date(2026, 12, 30), date(2027, 1, 4), 2, id="R5/between-year-end"),
    pytest.param(CA, date(2025, 12, 31), date(2026, 12, 31), 249, id="R5/between-year-2026"),
    pytest.param(
        NO_HOLIDAYS, date(2025, 12, 31), date(2026, 12, 31), 261, id="R5/between-year-no-hols"
    ),
]


@pytest.mark.parametrize(("calendar", "start", "end", "expected"), BETWEEN_CASES)
def test_business_days_between(
    calendar: BusinessCalendar, start: date, end: date, expected: int
) -> None:
    assert calendar.business_days_between(start, end) == expected


# --- turnaround ---------------------------------------------------------------------------

TURNAROUND_CASES = [
    # (approved_at, calendar, requested, target, due, expedite)
    # Weekends: start never counts, so Friday, Saturday and Sunday share the next business
    # day (Mon 05-11); +3 is Wed 05-13 and +5 Fri 05-15.
    pytest.param(
        pacific(2026, 5, 8, 10),
        CA,
        None,
        date(2026, 5, 13),
        date(2026, 5, 15),
        False,
        id="R5/friday-approval",
    ),
    pytest.param(
        pacific(2026, 5, 9, 10),
        CA,
        None,
        date(2026, 5, 13),
        date(2026, 5, 15),
        False,
        id="R5/saturday-approval",
    ),
    pytest.param(
        pacific(2026, 5, 10, 10),
        CA,
        None,
        date(2026, 5, 13),
        date(2026, 5, 15),
        False,
        id="R5/sunday-approval",
    ),
    pytest.param(
        pacific(2026, 5, 11, 10),
        CA,
        None,
        date(2026, 5, 14),
        date(2026, 5, 18),
        False,
        id="R5/monday-approval",
    ),
    # California holidays. Wed 11-25: Thu 26 + Fri 27 closed; Mon 30, Tue 1, Wed 2 (+3),
    # Thu 3, Fri 4 (+5).
    pytest.param(
        pacific(2026, 11, 25, 9),
        CA,
        None,
        date(2026, 12, 2),
        date(2026, 12, 4),
        False,
        id="R5/thanksgiving-and-day-after",
    ),
    # Wed 12-23: Thu 24 (+1), Fri 25 closed, Mon 28, Tue 29 (+3), Wed 30, Thu 31 (+5).
    pytest.param(
        pacific(2026, 12, 23, 9),
        CA,
        None,
        date(2026, 12, 29),
        date(2026, 12, 31),
        False,
        id="R5/christmas-2026-on-friday",
    ),
    # Year end. Wed 12-30: Thu 31 (+1), Fri 01-01 closed, Mon 4, Tue 5 (+3), Wed 6, Thu 7 (+5).
    pytest.param(
        pacific(2026, 12, 30, 15),
        CA,
        None,
        date(2027, 1, 5),
        date(2027, 1, 7),
        False,
        id="R5/year-end-skips-new-year-2027",
    ),
    # Mon 2027-03-29: Tue 30, Wed 31 closed, Thu 1, Fri 2 (+3), Mon 5, Tue 6 (+5).
    pytest.param(
        pacific(2027, 3, 29, 9),
        CA,
        None,
        date(2027, 4, 2),
        date(2027, 4, 6),
        False,
        id="R5/cesar-chavez-day-2027",
    ),
    # Tue 06-30: Wed 1, Thu 2, Fri 07-03 closed (observed), Mon 6 (+3), Tue 7, Wed 8 (+5).
    pytest.param(
        pacific(2026, 6, 30, 9),
        CA,
        None,
        date(2026, 7, 6),
        date(2026, 7, 8),
        False,
        id="R5/independence-day-observed-2026-07-03",
    ),
    # Approved on the observed holiday itself: the start never counts anyway.
    pytest.param(
        pacific(2026, 7, 3, 9),
        CA,
        None,
        date(2026, 7, 8),
        date(2026, 7, 10),
        False,
        id="R5/approval-on-a-holiday",
    ),
    # DST. 23:30 PDT on Sun 03-08 (spring forward) is 06:30Z on Monday: counts from Sunday.
    pytest.param(
        utc(2026, 3, 9, 6, 30),
        CA,
        None,
        date(2026, 3, 11),
        date(2026, 3, 13),
        False,
        id="R5/dst-spring-forward-day-late-evening",
    ),
    # 23:30 PST on Sun 11-01 (fall back) is 07:30Z on Monday: counts from Sunday.
    pytest.param(
        utc(2026, 11, 2, 7, 30),
        CA,
        None,
        date(2026, 11, 4),
        date(2026, 11, 6),
        False,
        id="R5/dst-fall-back-day-late-evening",
    ),
    # 01:30 PST, the second 01:30 of the fall-back night (09:30Z), is still Sunday.
    pytest.param(
        utc(2026, 11, 1, 9, 30),
        CA,
        None,
        date(2026, 11, 4),
        date(2026, 11, 6),
        False,
        id="R5/dst-fall-back-repeated-hour",
    ),
    # 07:30Z on Tue 01-13 is 23:30 PST on Monday: Tue 13, Wed 14, Thu 15 (+3), Fri 16,
    # Mon 19 closed (Martin Luther King Jr. Day), Tue 20 (+5). From Tuesday it would be
    # Fri 16 and Wed 21.
    pytest.param(
        utc(2026, 1, 13, 7, 30),
        CA,
        None,
        date(2026, 1, 15),
        date(2026, 1, 20),
        False,
        id="R5/0730z-is-previous-pacific-day",
    ),
    # The brief's example: 23:30 PST on Friday 01-09 is Saturday 07:30Z; counts from Friday.
    pytest.param(
        utc(2026, 1, 10, 7, 30),
        CA,
        None,
        date(2026, 1, 14),
        date(2026, 1, 16),
        False,
        id="R5/friday-2330-pacific-is-saturday-utc",
    ),
    # In summer 07:30Z is 00:30 PDT the same day (Tue 06-09): counts from Tuesday.
    pytest.param(
        utc(2026, 6, 9, 7, 30),
        CA,
        None,
        date(2026, 6, 12),
        date(2026, 6, 16),
        False,
        id="R5/0730z-in-summer-is-same-pacific-day",
    ),
    # Any aware offset works: 16:30 in Tokyo on Tue 01-13 is 23:30 PST on Monday 01-12.
    pytest.param(
        datetime(2026, 1, 13, 16, 30, tzinfo=timezone(timedelta(hours=9))),
        CA,
        None,
        date(2026, 1, 15),
        date(2026, 1, 20),
        False,
        id="R5/other-offset-uses-pacific-date",
    ),
    # Requested delivery dates, against a Friday 05-08 approval (target 05-13, due 05-15).
    pytest.param(
        pacific(2026, 5, 8, 10),
        CA,
        date(2026, 5, 20),
        date(2026, 5, 13),
        date(2026, 5, 20),
        False,
        id="R5/requested-later-becomes-due",
    ),
    pytest.param(
        pacific(2026, 5, 8, 10),
        CA,
        date(2026, 5, 23),
        date(2026, 5, 13),
        date(2026, 5, 23),
        False,
        id="R5/requested-later-saturday-kept-as-asked",
    ),
    pytest.param(
        pacific(2026, 5, 8, 10),
        CA,
        date(2026, 5, 12),
        date(2026, 5, 13),
        date(2026, 5, 15),
        True,
        id="R5/requested-earlier-is-expedite",
    ),
    pytest.param(
        pacific(2026, 5, 8, 10),
        CA,
        date(2026, 5, 14),
        date(2026, 5, 13),
        date(2026, 5, 15),
        True,
        id="R5/requested-between-target-and-due-is-expedite",
    ),
    pytest.param(
        pacific(2026, 5, 8, 10),
        CA,
        date(2026, 5, 15),
        date(2026, 5, 13),
        date(2026, 5, 15),
        False,
        id="R5/requested-equal-to-due",
    ),
    # Overridden holiday lists.
    pytest.param(
        pacific(2026, 11, 25, 9),
        NO_HOLIDAYS,
        None,
        date(2026, 11, 30),
        date(2026, 12, 2),
        False,
        id="R5/override-empty-thanksgiving-is-business-day",
    ),
    # Fri 05-08: Mon 11, Tue 12, Wed 13 closed, Thu 14 (+3), Fri 15, Mon 18 (+5).
    pytest.param(
        pacific(2026, 5, 8, 10),
        CUSTOM,
        None,
        date(2026, 5, 14),
        date(2026, 5, 18),
        False,
        id="R5/override-custom-date-is-holiday",
    ),
    # Fri 05-22: the configured list does not hold Memorial Day, so Mon 05-25 counts.
    pytest.param(
        pacific(2026, 5, 22, 10),
        CUSTOM,
        None,
        date(2026, 5, 27),
        date(2026, 5, 29),
        False,
        id="R5/override-replaces-default-memorial-day",
    ),
    pytest.param(
        pacific(2026, 5, 22, 10),
        CA,
        None,
        date(2026, 5, 28),
        date(2026, 6, 1),
        False,
        id="R5/default-skips-memorial-day",
    ),
]


@pytest.mark.parametrize(
    ("approved_at", "calendar", "requested", "target", "due", "expedite"), TURNAROUND_CASES
)
def test_turnaround(
    approved_at: datetime,
    calendar: BusinessCalendar,
    requested: date | None,
    target: date,
    due: date,
    expedite: bool,
) -> None:
    got = turnaround(approved_at, calendar, requested)
    assert got == Turnaround(target=target, due=due, expedite=expedite, requested=requested)
    assert got.target <= got.due
    assert calendar.is_business_day(got.target)


def test_turnaround_days_are_configurable() -> None:
    # Fri 05-08 with a 1/2-day turnaround: Mon 05-11 and Tue 05-12.
    got = turnaround(pacific(2026, 5, 8, 10), CA, target_days=1, due_days=2)
    assert (got.target, got.due) == (date(2026, 5, 11), date(2026, 5, 12))
    assert (TARGET_BUSINESS_DAYS, DUE_BUSINESS_DAYS) == (3, 5)


# --- is_overdue ---------------------------------------------------------------------------

DUE = date(2026, 5, 15)  # a Friday, in PDT (UTC-7)

OVERDUE_CASES = [
    # (now, delivered, expected)
    pytest.param(pacific(2026, 5, 14, 12), False, False, id="R5/overdue-before-due-day-no"),
    pytest.param(pacific(2026, 5, 15, 0, 0), False, False, id="R5/overdue-due-day-start-no"),
    # 23:59 PDT on the due day is already 06:59Z the next day: still the due day.
    pytest.param(utc(2026, 5, 16, 6, 59), False, False, id="R5/overdue-due-day-late-utc-next"),
    pytest.param(utc(2026, 5, 16, 7, 0), False, True, id="R5/overdue-next-pacific-day-yes"),
    pytest.param(pacific(2026, 5, 18, 9), False, True, id="R5/overdue-next-business-day-yes"),
    pytest.param(pacific(2026, 5, 16, 9), True, False, id="R5/overdue-delivered-never"),
    pytest.param(pacific(2027, 5, 16, 9), True, False, id="R5/overdue-delivered-long-after"),
]


@pytest.mark.parametrize(("now", "delivered", "expected"), OVERDUE_CASES)
def test_is_overdue(now: datetime, delivered: bool, expected: bool) -> None:
    assert is_overdue(DUE, now, delivered) is expected


# --- Programming and configuration errors -------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error"),
    [
        pytest.param(
            lambda: turnaround(datetime(2026, 5, 8, 10), CA), ValueError, id="R5/naive-approval"
        ),
        pytest.param(
            lambda: is_overdue(DUE, datetime(2026, 5, 16), False), ValueError, id="R5/naive-now"
        ),
        pytest.param(
            lambda: is_overdue(DUE, datetime(2026, 5, 16), True),
            ValueError,
            id="R5/naive-now-even-if-delivered",
        ),
        pytest.param(
            lambda: CA.add_business_days(date(2026, 5, 8), -1), ValueError, id="R5/negative-n"
        ),
        pytest.param(
            lambda: turnaround(pacific(2026, 5, 8), CA, target_days=6, due_days=5),
            ValueError,
            id="R5/target-after-due-days",
        ),
        pytest.param(
            lambda: turnaround(pacific(2026, 5, 8), CA, target_days=-1),
            ValueError,
            id="R5/negative-target-days",
        ),
        pytest.param(
            lambda: CA.is_business_day(datetime(2026, 5, 8, 10, tzinfo=UTC)),
            TypeError,
            id="R5/datetime-is-not-a-day",
        ),
        pytest.param(
            lambda: BusinessCalendar(holidays=frozenset({datetime(2026, 5, 8, tzinfo=UTC)})),
            TypeError,
            id="R5/configured-holiday-must-be-a-date",
        ),
    ],
)
def test_programming_errors_raise(call: Callable[[], object], error: type[Exception]) -> None:
    with pytest.raises(error):
        call()


def test_calendars_compare_by_configured_list_not_cache() -> None:
    warm = BusinessCalendar()
    warm.is_business_day(date(2026, 11, 26))  # fills the per-year cache
    assert warm == BusinessCalendar() and hash(warm) == hash(BusinessCalendar())
    assert BusinessCalendar(holidays=frozenset()) != BusinessCalendar()


# --- Properties ---------------------------------------------------------------------------

days_2025_2031 = st.dates(min_value=date(2025, 1, 1), max_value=date(2031, 12, 31))
calendars = st.sampled_from([CA, NO_HOLIDAYS, CUSTOM])


@settings(max_examples=300, deadline=None)
@given(start=days_2025_2031, n=st.integers(min_value=0, max_value=300), calendar=calendars)
def test_add_business_days_lands_on_a_business_day_and_inverts(
    start: date, n: int, calendar: BusinessCalendar
) -> None:
    """R5: the n-th business day after start is a business day, n of them away."""
    end = calendar.add_business_days(start, n)
    if n >= 1:
        assert end > start
        assert calendar.is_business_day(end)
        # And it is the first such day: the day before it holds one business day fewer.
        assert calendar.business_days_between(start, end - timedelta(days=1)) == n - 1
    else:
        assert end == start
    assert calendar.business_days_between(start, end) == n


@settings(max_examples=200, deadline=None)
@given(
    start=days_2025_2031,
    span=st.integers(min_value=-10, max_value=800),
    calendar=calendars,
)
def test_business_days_between_counts_day_by_day(
    start: date, span: int, calendar: BusinessCalendar
) -> None:
    """The whole-week shortcut agrees with counting each day of (start, end]."""
    end = start + timedelta(days=span)
    expected = sum(
        1 for i in range(1, span + 1) if calendar.is_business_day(start + timedelta(days=i))
    )
    assert calendar.business_days_between(start, end) == expected


@settings(max_examples=200, deadline=None)
@given(
    approved_at=st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2031, 12, 31), timezones=st.just(UTC)
    ),
    requested=st.none() | days_2025_2031,
)
def test_turnaround_invariants(approved_at: datetime, requested: date | None) -> None:
    """R5 for any approval instant and requested date."""
    got = turnaround(approved_at, CA, requested)
    approval_day = approved_at.astimezone(PACIFIC).date()
    computed_due = CA.add_business_days(approval_day, DUE_BUSINESS_DAYS)
    assert CA.business_days_between(approval_day, got.target) == TARGET_BUSINESS_DAYS
    assert CA.is_business_day(got.target)
    assert got.target <= computed_due <= got.due
    assert got.expedite == (requested is not None and requested < computed_due)
    assert got.due == (max(requested, computed_due) if requested is not None else computed_due)
