"""Tests for the expiry hour (R7) and validity maxima (R13) in certdesk.core.calendar.

R13 default: without ``days`` a certificate gets the CA/B Forum maximum minus one day (BR
6.3.2: SHOULD NOT exceed 199/99/46 days, MUST NOT exceed 200/100/47), and its inclusive span
stays within that default; a lower operator maximum is the default as it is. An explicit
``days`` may still use the whole limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certdesk.core.calendar import (
    PACIFIC,
    Validity,
    expiry_instant,
    max_validity_days,
    parse_day,
    validity_for,
)
from certdesk.errors import InvalidInput, PolicyRefusal

SECOND = timedelta(seconds=1)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def assert_validity_invariants(v: Validity, limit: int) -> None:
    """What must hold for every certificate: R7 expiry hour, R13 inclusive maximum."""
    assert v.not_before.tzinfo is UTC and v.not_after.tzinfo is UTC
    assert v.not_before.microsecond == 0
    assert v.not_after > v.not_before
    assert v.not_after.astimezone(PACIFIC).time() == time(17, 0, 0)
    # BR 1.6.1 / RFC 5280 §4.1.2.5: both ends count, hence the extra second.
    assert v.not_after - v.not_before + SECOND <= timedelta(days=limit)
    assert v.inclusive_seconds <= limit * 86400


# --- R7: 17:00 America/Los_Angeles on the final day --------------------------------------

# 2026 DST: spring forward Sunday 2026-03-08 02:00 PST, fall back Sunday 2026-11-01 02:00 PDT.
EXPIRY_CASES = [
    pytest.param(date(2026, 1, 15), utc(2026, 1, 16, 1), id="R7/pst-winter"),
    pytest.param(date(2026, 7, 1), utc(2026, 7, 2, 0), id="R7/pdt-summer"),
    pytest.param(date(2026, 3, 7), utc(2026, 3, 8, 1), id="R7/pst-day-before-spring-forward"),
    pytest.param(date(2026, 3, 8), utc(2026, 3, 9, 0), id="R7/spring-forward-day-is-pdt"),
    pytest.param(date(2026, 3, 9), utc(2026, 3, 10, 0), id="R7/pdt-day-after-spring-forward"),
    pytest.param(date(2026, 10, 31), utc(2026, 11, 1, 0), id="R7/pdt-day-before-fall-back"),
    pytest.param(date(2026, 11, 1), utc(2026, 11, 2, 1), id="R7/fall-back-day-is-pst"),
    pytest.param(date(2026, 11, 2), utc(2026, 11, 3, 1), id="R7/pst-day-after-fall-back"),
    pytest.param(date(2025, 12, 31), utc(2026, 1, 1, 1), id="R7/new-years-eve-rolls-utc-year"),
    pytest.param(date(2028, 2, 29), utc(2028, 3, 1, 1), id="R7/leap-day"),
]


@pytest.mark.parametrize(("final_day", "expected"), EXPIRY_CASES)
def test_expiry_instant_is_17h_pacific_in_utc(final_day: date, expected: datetime) -> None:
    got = expiry_instant(final_day)
    assert got == expected
    assert got.tzinfo is UTC
    local = got.astimezone(PACIFIC)
    assert (local.date(), local.time()) == (final_day, time(17, 0, 0))


# --- R13: CA/Browser Forum ballot SC-081 maxima ------------------------------------------

MAX_DAYS_CASES = [
    pytest.param(utc(2025, 1, 1), 398, id="R13/2025-398"),
    pytest.param(utc(2026, 3, 14, 23, 59, 59), 398, id="R13/last-second-before-sc081-398"),
    pytest.param(
        datetime(2026, 3, 14, 23, 59, 59, 999999, tzinfo=UTC), 398, id="R13/last-microsecond-398"
    ),
    pytest.param(utc(2026, 3, 15), 200, id="R13/2026-03-15-200"),
    pytest.param(utc(2027, 3, 14), 200, id="R13/2027-03-14-200"),
    pytest.param(utc(2027, 3, 15), 100, id="R13/2027-03-15-100"),
    pytest.param(utc(2029, 3, 14), 100, id="R13/2029-03-14-100"),
    pytest.param(utc(2029, 3, 15), 47, id="R13/2029-03-15-47"),
    pytest.param(utc(2035, 6, 1), 47, id="R13/far-future-47"),
    # The steps take effect at 00:00 UTC, whatever offset the caller's instant carries.
    pytest.param(
        datetime(2026, 3, 14, 17, 0, tzinfo=timezone(timedelta(hours=-7))),
        200,
        id="R13/pacific-evening-is-utc-next-day",
    ),
    pytest.param(
        datetime(2026, 3, 15, 8, 59, tzinfo=timezone(timedelta(hours=9))),
        398,
        id="R13/tokyo-morning-is-utc-previous-day",
    ),
]


@pytest.mark.parametrize(("issued_at", "expected"), MAX_DAYS_CASES)
def test_max_validity_days(issued_at: datetime, expected: int) -> None:
    assert max_validity_days(issued_at) == expected


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: max_validity_days(datetime(2026, 6, 1)), id="R13/max-naive"),
        pytest.param(lambda: validity_for(datetime(2026, 6, 1)), id="R13/validity-naive"),
        pytest.param(
            lambda: validity_for(utc(2026, 6, 1), operator_max_days=0),
            id="R13/operator-max-zero-is-config-error",
        ),
    ],
)
def test_programming_errors_raise_value_error(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        call()


# --- R7 + R13: validity_for -------------------------------------------------------------

VALIDITY_CASES = [
    # (issued_at, days, operator_max_days, expected not_after, limit, expected Validity.days)
    # When days is None, the expected Validity.days is the default, and the inclusive span
    # must stay within it as well as within the limit.
    pytest.param(
        utc(2026, 1, 10, 18),
        90,
        None,
        utc(2026, 4, 11, 0),
        398,
        90,
        id="R7/issued-pst-expires-pdt",
    ),
    pytest.param(
        utc(2026, 7, 1, 18),
        150,
        None,
        utc(2026, 11, 29, 1),
        200,
        150,
        id="R7/issued-pdt-expires-pst",
    ),
    pytest.param(
        # Default 199 days (200 - 1). 00:00 PDT 07-01 + 199 days is 2027-01-16; 17:00 PST
        # there (01:00Z on 01-17) is 199 days 18 h away: one step back, to 17:00 PST 01-15.
        utc(2026, 7, 1, 7),
        None,
        None,
        utc(2027, 1, 16, 1),
        200,
        199,
        id="R13/default-is-limit-steps-back-one-day",
    ),
    pytest.param(
        # 18:00 PDT on 06-30 (01:00Z on 07-01): the Pacific date, not the UTC date, counts.
        # 17:00 PST 199 days later (01-15, 01:00Z on 01-16) is exactly 199 days away (the
        # fall-back hour cancels the hour before 18:00), so the inclusive second pushes it
        # over the 199-day default: one step back, to 17:00 PST on 01-14.
        utc(2026, 7, 1, 1),
        None,
        None,
        utc(2027, 1, 15, 1),
        200,
        199,
        id="R13/fall-back-hour-plus-inclusive-second-steps-back",
    ),
    pytest.param(
        # 18:00 PST on 01-09; the operator maximum (100) is the default as it is, and the
        # spring-forward hour makes the span shorter: no step back.
        utc(2026, 1, 10, 2),
        None,
        100,
        utc(2026, 4, 20, 0),
        100,
        100,
        id="R13/operator-max-pst-to-pdt-fits",
    ),
    pytest.param(
        # 00:00 PST on 01-10 + 100 days at 17:00 PDT is 100 days 16 h: one step back.
        utc(2026, 1, 10, 8),
        None,
        100,
        utc(2026, 4, 20, 0),
        100,
        100,
        id="R13/operator-max-pst-to-pdt-steps-back",
    ),
    pytest.param(
        # An explicit shorter validity is a calendar date: 30 days 9 h is fine below the limit.
        utc(2026, 7, 1, 15),
        30,
        None,
        utc(2026, 8, 1, 0),
        200,
        30,
        id="R13/explicit-days-below-limit-not-shortened",
    ),
    pytest.param(
        # 18:30 PDT: one day later at 17:00 is still in the future.
        utc(2026, 7, 1, 1, 30),
        1,
        None,
        utc(2026, 7, 2, 0),
        200,
        1,
        id="R7/one-day-issued-after-17h",
    ),
    pytest.param(
        # 09:00 PDT with a 1-day operator maximum: tomorrow 17:00 is 32 h away, so today.
        utc(2026, 7, 1, 16),
        1,
        1,
        utc(2026, 7, 2, 0),
        1,
        1,
        id="R13/one-day-limit-expires-same-day",
    ),
    pytest.param(
        utc(2026, 3, 14, 23, 59, 59),
        398,
        None,
        utc(2027, 4, 16, 0),
        398,
        398,
        id="R13/last-second-before-sc081-gets-398",
    ),
    pytest.param(
        # 00:00Z on 2029-03-15 is 17:00 PDT on 03-14: default 46 days (47 - 1). 17:00 PDT on
        # 04-29 (00:00Z on 04-30) is exactly 46 days away; the inclusive second makes it one
        # too many: one step back, to 17:00 PDT on 04-28.
        utc(2029, 3, 15),
        None,
        None,
        utc(2029, 4, 29, 0),
        47,
        46,
        id="R13/2029-default-47-days",
    ),
    pytest.param(
        # The operator allows more than the CA/B Forum does: the CA/B maximum wins, and the
        # default is one day inside it (99). 13:00 PDT 06-01 + 99 days is 17:00 PDT on 09-08,
        # 99 days 4 h away: one step back, to 17:00 PDT on 09-07 (00:00Z on 09-08).
        utc(2027, 6, 1, 20),
        None,
        365,
        utc(2027, 9, 8, 0),
        100,
        99,
        id="R13/operator-max-above-cabf-is-capped",
    ),
    # 15:59:59 PST on 2026-11-26 (23:59:59Z, the same date in UTC and in Pacific), limit 200.
    # 17:00 PDT is 16:00 PST, so 17:00 on issue day + N is N days + 1 s away (+1 s inclusive).
    pytest.param(
        # The whole maximum may still be asked for: 17:00 PDT on 2027-06-14 is 200 days 2 s
        # inclusive, one step back to 06-13 (00:00Z on 06-14) is 199 days 2 s, within 200.
        utc(2026, 11, 26, 23, 59, 59),
        200,
        None,
        utc(2027, 6, 14, 0),
        200,
        200,
        id="R13/explicit-200-days-still-allowed-2026-11-26",
    ),
    pytest.param(
        # The default on the same instant: 199 days, so 17:00 PDT on 06-13 (199 days 2 s
        # inclusive) is stepped back to 06-12 (00:00Z on 06-13), 198 days 2 s inclusive.
        utc(2026, 11, 26, 23, 59, 59),
        None,
        None,
        utc(2027, 6, 13, 0),
        200,
        199,
        id="R13/default-within-199-days-2026-11-26",
    ),
    pytest.param(
        # An explicit 199 is a calendar date checked against the 200-day limit only: 17:00
        # PDT on 06-13 fits (199 days 2 s inclusive), a day later than the default.
        utc(2026, 11, 26, 23, 59, 59),
        199,
        None,
        utc(2027, 6, 14, 0),
        200,
        199,
        id="R13/explicit-199-days-is-not-the-default-2026-11-26",
    ),
]


@pytest.mark.parametrize(
    ("issued_at", "days", "operator_max_days", "expected_not_after", "limit", "expected_days"),
    VALIDITY_CASES,
)
def test_validity_for(
    issued_at: datetime,
    days: int | None,
    operator_max_days: int | None,
    expected_not_after: datetime,
    limit: int,
    expected_days: int,
) -> None:
    v = validity_for(issued_at, days, operator_max_days)
    assert v.not_before == issued_at
    assert v.not_after == expected_not_after
    assert v.days == expected_days
    assert_validity_invariants(v, limit)
    if days is None:
        assert_validity_invariants(v, expected_days)  # the default's span stays within it


def test_explicit_maximum_is_longer_than_the_default_on_2026_11_26() -> None:
    """BR 6.3.2: the default stays within 199 days inclusive, an explicit 200 may exceed it."""
    issued = utc(2026, 11, 26, 23, 59, 59)
    explicit = validity_for(issued, 200)
    default = validity_for(issued)
    assert (explicit.days, default.days) == (200, 199)
    assert timedelta(days=199) < explicit.not_after - explicit.not_before + SECOND
    assert explicit.inclusive_seconds <= 200 * 86400
    assert default.inclusive_seconds <= 199 * 86400
    assert explicit.not_after - default.not_after == timedelta(days=1)


def test_not_before_is_truncated_to_whole_seconds() -> None:
    v = validity_for(datetime(2026, 6, 1, 12, 34, 56, 789_000, tzinfo=UTC), 10)
    assert v.not_before == utc(2026, 6, 1, 12, 34, 56)


def test_non_utc_issue_instant_is_returned_in_utc() -> None:
    issued = datetime(2026, 6, 1, 9, 0, tzinfo=PACIFIC)
    v = validity_for(issued, 10)
    assert v.not_before == utc(2026, 6, 1, 16) and v.not_before.tzinfo is UTC
    assert v.not_after == utc(2026, 6, 12, 0)


REFUSALS = [
    # (issued_at, days, operator_max_days, code, words expected in the reason)
    pytest.param(
        utc(2026, 6, 1), 0, None, "validity.too_short", "at least 1 day", id="R13/zero-days-refused"
    ),
    pytest.param(
        utc(2026, 6, 1),
        -5,
        None,
        "validity.too_short",
        "at least 1 day",
        id="R13/negative-days-refused",
    ),
    pytest.param(
        utc(2026, 6, 1),
        201,
        None,
        "validity.too_long",
        "CA/Browser Forum maximum of 200 days",
        id="R13/201-days-after-2026-03-15",
    ),
    pytest.param(
        utc(2026, 3, 15),
        398,
        None,
        "validity.too_long",
        "CA/Browser Forum maximum of 200 days",
        id="R13/398-days-on-2026-03-15",
    ),
    pytest.param(
        utc(2029, 3, 15),
        48,
        None,
        "validity.too_long",
        "CA/Browser Forum maximum of 47 days",
        id="R13/48-days-in-2029",
    ),
    pytest.param(
        utc(2026, 6, 1),
        91,
        90,
        "validity.too_long",
        "operator's maximum of 90 days",
        id="R13/operator-max-90",
    ),
    pytest.param(
        utc(2026, 1, 5),
        399,
        400,
        "validity.too_long",
        "CA/Browser Forum maximum of 398 days",
        id="R13/operator-above-cabf-cites-cabf",
    ),
    pytest.param(
        # 17:00:00 PDT exactly with a 1-day maximum: the only 17:00 that fits is "now".
        utc(2026, 7, 2, 0),
        1,
        1,
        "validity.too_short",
        "no 17:00 Pacific expiry",
        id="R13/one-day-limit-at-exactly-17h-has-no-expiry",
    ),
]


@pytest.mark.parametrize(("issued_at", "days", "operator_max_days", "code", "words"), REFUSALS)
def test_validity_refusals(
    issued_at: datetime, days: int, operator_max_days: int | None, code: str, words: str
) -> None:
    with pytest.raises(PolicyRefusal) as caught:
        validity_for(issued_at, days, operator_max_days)
    assert caught.value.code == code
    assert caught.value.rule == "R13"
    assert words in caught.value.detail


@pytest.mark.parametrize(
    ("issued_at", "operator_max_days", "limit", "default", "expected_not_after"),
    [
        # All issued at 08:00 PDT: 17:00 on issue day + N is N days 9 h away, one step back.
        pytest.param(
            utc(2026, 6, 1, 15),
            90,
            90,
            90,
            utc(2026, 8, 30, 0),
            id="R13/operator-90-below-cabf-200",
        ),
        pytest.param(
            utc(2025, 6, 1, 15),
            200,
            200,
            200,
            utc(2025, 12, 18, 1),
            id="R13/operator-200-below-cabf-398",
        ),
        pytest.param(
            utc(2029, 6, 1, 15), 30, 30, 30, utc(2029, 7, 1, 0), id="R13/operator-30-below-cabf-47"
        ),
        # Not below: an operator maximum equal to the CA/B one is the CA/B maximum, whose
        # default is one day inside it (BR 6.3.2).
        pytest.param(
            utc(2029, 6, 1, 15), 47, 47, 46, utc(2029, 7, 17, 0), id="R13/operator-equal-to-cabf"
        ),
    ],
)
def test_operator_maximum_below_cabf_is_the_default(
    issued_at: datetime,
    operator_max_days: int,
    limit: int,
    default: int,
    expected_not_after: datetime,
) -> None:
    v = validity_for(issued_at, operator_max_days=operator_max_days)
    assert v.days == default
    assert v.not_after == expected_not_after
    assert_validity_invariants(v, limit)
    assert_validity_invariants(v, default)


# --- Properties over 2025-2031 ------------------------------------------------------------

issue_instants = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2031, 12, 31, 23, 59, 59),
    timezones=st.just(UTC),
)


@settings(max_examples=400, deadline=None)
@given(
    issued_at=issue_instants,
    days=st.none() | st.integers(min_value=-2, max_value=420),
    operator_max_days=st.none() | st.integers(min_value=1, max_value=420),
)
def test_validity_never_exceeds_limit(
    issued_at: datetime, days: int | None, operator_max_days: int | None
) -> None:
    """R13 inclusive maximum and R7 expiry hour, for any instant, days and operator limit."""
    cabf = max_validity_days(issued_at)
    limit = cabf if operator_max_days is None else min(cabf, operator_max_days)
    # BR 6.3.2: the default is one day inside the CA/B maximum; a lower operator maximum is
    # the default as it is. An explicit request is held to the limit only.
    default = limit - 1 if limit == cabf else limit
    wanted = default if days is None else days
    bound = default if days is None else limit
    try:
        v = validity_for(issued_at, days, operator_max_days)
    except PolicyRefusal as refusal:
        assert refusal.rule == "R13"
        if refusal.code == "validity.too_long":
            assert wanted > limit
        else:
            assert refusal.code == "validity.too_short"
            local = issued_at.replace(microsecond=0).astimezone(PACIFIC)
            assert wanted < 1 or (limit == 1 and local.time() == time(17, 0, 0))
        return
    assert 1 <= wanted <= limit
    assert v.days == wanted
    assert_validity_invariants(v, limit)
    assert_validity_invariants(v, bound)
    # The final day is issue day + days, stepped back only when that would exceed the bound.
    issue_day = v.not_before.astimezone(PACIFIC).date()
    final_day = v.not_after.astimezone(PACIFIC).date()
    asked_day = issue_day + timedelta(days=wanted)
    if final_day != asked_day:
        assert final_day == asked_day - timedelta(days=1)
        assert expiry_instant(asked_day) - v.not_before + SECOND > timedelta(days=bound)


@pytest.mark.parametrize(
    ("text", "what", "result"),
    [
        pytest.param(" 2026-11-26 ", "", date(2026, 11, 26), id="day/spaces-ignored"),
        pytest.param(
            "2026-13-01", "the start date", "the start date '2026-13-01' is not", id="bad/month"
        ),
        pytest.param("26.11.2026", "", "'26.11.2026' is not a date (YYYY-MM-DD)", id="bad/format"),
        pytest.param("", "", "'' is not a date", id="bad/empty"),
    ],
)
def test_parse_day(text: str, what: str, result: date | str) -> None:
    if isinstance(result, date):
        assert parse_day(text, "x.day", what) == result
        return
    with pytest.raises(InvalidInput, match=re.escape(result)) as caught:
        parse_day(text, "x.day", what)
    assert caught.value.code == "x.day"
