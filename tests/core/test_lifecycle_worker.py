"""The pure bound the worker turns into an index range (core.lifecycle.turnaround_due_before).

For every ``now`` and every expiry day around it, a certificate's turnaround point
(:func:`renewal_plan` (a)) is at or before ``now`` exactly when its ``notAfter`` is before the
bound — whatever the time of day of the expiry, across weekends, holidays and DST switches.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certdesk.core.calendar import PACIFIC, BusinessCalendar
from certdesk.core.lifecycle import LifecyclePolicy, renewal_plan, turnaround_due_before

CALENDAR = BusinessCalendar()

NOWS = [
    pytest.param(datetime(2026, 11, 26, 18, 0, tzinfo=UTC), id="thanksgiving"),
    pytest.param(datetime(2026, 12, 24, 8, 0, tzinfo=UTC), id="christmas-eve-midnight-pacific"),
    pytest.param(datetime(2027, 3, 14, 9, 59, tzinfo=UTC), id="dst-start"),
    pytest.param(datetime(2027, 11, 7, 9, 0, tzinfo=UTC), id="dst-end"),
    pytest.param(datetime(2029, 6, 4, 7, 0, tzinfo=UTC), id="monday-00:00-pacific"),
    pytest.param(datetime(2029, 6, 4, 6, 59, 59, tzinfo=UTC), id="sunday-23:59:59-pacific"),
]
POLICIES = [
    pytest.param(LifecyclePolicy(), id="default"),
    pytest.param(LifecyclePolicy(renewal_margin_days=0, due_business_days=0), id="no-margin"),
    pytest.param(LifecyclePolicy(renewal_margin_days=30, due_business_days=10), id="long"),
]
# Expiry times of day: R7's 17:00, and the extremes an imported certificate may have.
HOURS = [time(0, 0), time(16, 59, 59), time(17, 0), time(23, 59, 59)]


def turnaround_at(expiry: datetime, policy: LifecyclePolicy) -> datetime:
    # A long validity, so that only (a) matters; the plan computes (a) regardless.
    return renewal_plan(expiry - timedelta(days=3000), expiry, CALENDAR, policy).turnaround_at


def _check(now: datetime, policy: LifecyclePolicy) -> None:
    bound = turnaround_due_before(now, CALENDAR, policy)
    assert bound.astimezone(PACIFIC).time() == time(0)  # 00:00 Pacific of an expiry date
    today = now.astimezone(PACIFIC).date()
    for offset in range(-5, 80):
        day: date = today + timedelta(days=offset)
        for hour in HOURS:
            expiry = datetime.combine(day, hour, tzinfo=PACIFIC).astimezone(UTC)
            due = turnaround_at(expiry, policy) <= now
            assert due == (expiry < bound), (day, hour, bound)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("now", NOWS)
def test_bound_separates_due_from_not_due(now: datetime, policy: LifecyclePolicy) -> None:
    _check(now, policy)


@given(
    st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2031, 12, 31), timezones=st.just(UTC)
    )
)
def test_bound_holds_at_any_instant(now: datetime) -> None:
    _check(now, LifecyclePolicy())


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        turnaround_due_before(datetime(2027, 1, 1), CALENDAR, LifecyclePolicy())
