"""R5 performance (certdesk.core.sla): a delivered case against its target and due dates.

The dates are worked out by hand on the 2026 California calendar of the ``holidays``
package: Thanksgiving (Thu 2026-11-26) and the day after (Fri 2026-11-27) are holidays, so a
case approved on Thanksgiving has its target on Wed 2026-12-02 (+3) and is due on Fri
2026-12-04 (+5).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from certdesk.core.calendar import PACIFIC, BusinessCalendar, turnaround
from certdesk.core.sla import SlaCount, Timeliness, percent, timeliness

CA = BusinessCalendar()
THANKSGIVING = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)  # 10:00 Pacific
TARGET = date(2026, 12, 2)
DUE = date(2026, 12, 4)


def pacific(month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=PACIFIC)


def test_the_dates_used_here_are_the_ones_turnaround_gives() -> None:
    dates = turnaround(THANKSGIVING, CA)
    assert (dates.target, dates.due) == (TARGET, DUE)


@pytest.mark.parametrize(
    ("delivered_at", "due", "expected"),
    [
        pytest.param(pacific(11, 26, 16), DUE, Timeliness(0, True, True), id="R5/same-day"),
        # Fri 11-27 is a holiday: Monday 11-30 is the first business day.
        pytest.param(pacific(11, 27), DUE, Timeliness(0, True, True), id="R5/holiday-counts-0"),
        pytest.param(pacific(11, 30), DUE, Timeliness(1, True, True), id="R5/first-business-day"),
        pytest.param(pacific(12, 2, 16), DUE, Timeliness(3, True, True), id="R5/on-target-day"),
        # 23:30 Pacific on the target day is 07:30Z the next day: still the target day.
        pytest.param(
            pacific(12, 2, 23, 30), DUE, Timeliness(3, True, True), id="R5/target-day-late-evening"
        ),
        pytest.param(pacific(12, 3), DUE, Timeliness(4, False, True), id="R5/after-target"),
        pytest.param(pacific(12, 4, 16), DUE, Timeliness(5, False, True), id="R5/on-due-day"),
        pytest.param(pacific(12, 7, 9), DUE, Timeliness(6, False, False), id="R5/late"),
        # A requested later delivery date became the due date (R5): on time by it.
        pytest.param(
            pacific(12, 9), date(2026, 12, 10), Timeliness(8, False, True), id="R5/requested-later"
        ),
    ],
)
def test_timeliness(delivered_at: datetime, due: date, expected: Timeliness) -> None:
    assert timeliness(THANKSGIVING, delivered_at, TARGET, due, CA) == expected


def test_the_approval_counts_from_its_pacific_date() -> None:
    # Friday 2026-12-04 23:30 Pacific is Saturday 07:30Z: the count starts on Friday, so
    # Monday 12-07 is one business day later, not zero.
    approved = datetime(2026, 12, 5, 7, 30, tzinfo=UTC)
    dates = turnaround(approved, CA)
    got = timeliness(approved, pacific(12, 7), dates.target, dates.due, CA)
    assert got == Timeliness(1, True, True)


def test_a_naive_instant_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="naive"):
        timeliness(THANKSGIVING, datetime(2026, 12, 1), TARGET, DUE, CA)


@pytest.mark.parametrize(
    ("part", "whole", "expected"),
    [
        pytest.param(0, 0, None, id="pct/nothing-delivered"),
        pytest.param(0, 3, 0.0, id="pct/none"),
        pytest.param(3, 3, 100.0, id="pct/all"),
        pytest.param(1, 3, 33.3, id="pct/third"),
        pytest.param(2, 3, 66.7, id="pct/two-thirds-rounds-up"),
        pytest.param(1, 8, 12.5, id="pct/exact"),
        pytest.param(1, 16, 6.3, id="pct/half-rounds-up"),  # 6.25
    ],
)
def test_percent(part: int, whole: int, expected: float | None) -> None:
    assert percent(part, whole) == expected


def test_percent_refuses_more_than_the_whole() -> None:
    with pytest.raises(ValueError, match="part <= whole"):
        percent(4, 3)


def test_counts_add_up() -> None:
    on_time = Timeliness(2, True, True)
    in_due = Timeliness(5, False, True)
    late = Timeliness(7, False, False)
    dmv = SlaCount().plus(on_time).plus(late)
    chp = SlaCount().plus(in_due)
    total = dmv + chp
    assert total == SlaCount(delivered=3, within_target=1, within_due=2, business_days=14)
    assert (total.late, total.within_target_pct, total.within_due_pct) == (1, 33.3, 66.7)
    assert total.mean_business_days == 4.7  # 14 / 3
    assert SlaCount().mean_business_days is None
    assert SlaCount().within_target_pct is None
