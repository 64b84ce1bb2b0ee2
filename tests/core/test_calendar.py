"""Tests for the expiry hour (R7) and validity maxima (R13) in certdesk.core.calendar."""

from __future__ import annotations

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
    validity_for,
)
from certdesk.errors import PolicyRefusal

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
    # (issued_at, days, operator_max_days, expected not_after, limit)
    pytest.param(
        utc(2026, 1, 10, 18),
        90,
        None,
        utc(2026, 4, 11, 0),
        398,
        id="R7/issued-pst-expires-pdt",
    ),
    pytest.param(
        utc(2026, 7, 1, 18),
        150,
        None,
        utc(2026, 11, 29, 1),
        200,
        id="R7/issued-pdt-expires-pst",
    ),
    pytest.param(
        # 00:00 PDT + 200 days lands at 17:00 PST, 200 days 18 h later: one step back.
        utc(2026, 7, 1, 7),
        None,
        None,
        utc(2027, 1, 17, 1),
        200,
        id="R13/default-is-limit-steps-back-one-day",
    ),
    pytest.param(
        # 18:00 PDT on 06-30 (01:00Z on 07-01): the Pacific date, not the UTC date, counts.
        # 17:00 PST 200 days later is exactly 200 days away (the fall-back hour cancels the
        # hour before 18:00), so the inclusive second pushes it over: one step back.
        utc(2026, 7, 1, 1),
        None,
        None,
        utc(2027, 1, 16, 1),
        200,
        id="R13/fall-back-hour-plus-inclusive-second-steps-back",
    ),
    pytest.param(
        # 18:00 PST on 01-09; the spring-forward hour makes the span shorter: no step back.
        utc(2026, 1, 10, 2),
        None,
        100,
        utc(2026, 4, 20, 0),
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
        id="R13/operator-max-pst-to-pdt-steps-back",
    ),
    pytest.param(
        # An explicit shorter validity is a calendar date: 30 days 9 h is fine below the limit.
        utc(2026, 7, 1, 15),
        30,
        None,
        utc(2026, 8, 1, 0),
        200,
        id="R13/explicit-days-below-limit-not-shortened",
    ),
    pytest.param(
        # 18:30 PDT: one day later at 17:00 is still in the future.
        utc(2026, 7, 1, 1, 30),
        1,
        None,
        utc(2026, 7, 2, 0),
        200,
        id="R7/one-day-issued-after-17h",
    ),
    pytest.param(
        # 09:00 PDT with a 1-day operator maximum: tomorrow 17:00 is 32 h away, so today.
        utc(2026, 7, 1, 16),
        1,
        1,
        utc(2026, 7, 2, 0),
        1,
        id="R13/one-day-limit-expires-same-day",
    ),
    pytest.param(
        utc(2026, 3, 14, 23, 59, 59),
        398,
        None,
        utc(2027, 4, 16, 0),
        398,
        id="R13/last-second-before-sc081-gets-398",
    ),
    pytest.param(
        utc(2029, 3, 15),
        None,
        None,
        utc(2029, 4, 30, 0),
        47,
        id="R13/2029-default-47-days",
    ),
    pytest.param(
        # The operator allows more than the CA/B Forum does: the CA/B maximum wins.
        utc(2027, 6, 1, 20),
        None,
        365,
        utc(2027, 9, 9, 0),
        100,
        id="R13/operator-max-above-cabf-is-capped",
    ),
]


@pytest.mark.parametrize(
    ("issued_at", "days", "operator_max_days", "expected_not_after", "limit"), VALIDITY_CASES
)
def test_validity_for(
    issued_at: datetime,
    days: int | None,
    operator_max_days: int | None,
    expected_not_after: datetime,
    limit: int,
) -> None:
    v = validity_for(issued_at, days, operator_max_days)
    assert v.not_before == issued_at
    assert v.not_after == expected_not_after
    assert v.days == (limit if days is None else days)
    assert_validity_invariants(v, limit)


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
    ("issued_at", "operator_max_days", "limit"),
    [
        pytest.param(utc(2026, 6, 1, 15), 90, 90, id="R13/operator-90-below-cabf-200"),
        pytest.param(utc(2025, 6, 1, 15), 200, 200, id="R13/operator-200-below-cabf-398"),
        pytest.param(utc(2029, 6, 1, 15), 30, 30, id="R13/operator-30-below-cabf-47"),
        pytest.param(utc(2029, 6, 1, 15), 47, 47, id="R13/operator-equal-to-cabf"),
    ],
)
def test_operator_maximum_below_cabf_is_the_default(
    issued_at: datetime, operator_max_days: int, limit: int
) -> None:
    v = validity_for(issued_at, operator_max_days=operator_max_days)
    assert v.days == limit
    assert_validity_invariants(v, limit)


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
    wanted = limit if days is None else days
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
    # The final day is issue day + days, stepped back only when that would exceed the limit.
    issue_day = v.not_before.astimezone(PACIFIC).date()
    final_day = v.not_after.astimezone(PACIFIC).date()
    asked_day = issue_day + timedelta(days=wanted)
    if final_day != asked_day:
        assert final_day == asked_day - timedelta(days=1)
        assert expiry_instant(asked_day) - v.not_before + SECOND > timedelta(days=limit)
