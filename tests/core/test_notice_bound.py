"""R9: the stored bound of a certificate's next expiry notice (issue 16) is never later than
the first instant the rule makes a notice due, and is that instant (so it is also tight)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from certdesk.core.calendar import expiry_instant
from certdesk.core.lifecycle import (
    REASON_EXPIRED,
    LifecyclePolicy,
    expiry_notices_due,
    expiry_reason,
    next_expiry_notice_at,
)

POLICY = LifecyclePolicy()
ISSUED = datetime(2027, 3, 1, 18, 30, tzinfo=UTC)  # 10:30 Pacific, before a DST switch
REASONS = [*(expiry_reason(n) for n in POLICY.notice_days), REASON_EXPIRED]
TICK = timedelta(microseconds=1)


def _first_due(not_after: datetime, done: frozenset[str], issued_at: datetime) -> datetime | None:
    """The first instant at which the rule returns something, by walking the candidates."""
    instants = sorted(
        {not_after + TICK}
        | {
            not_after - timedelta(days=n) + timedelta(hours=h)
            for n in range(92)
            for h in (-1, 0, 1)
        }
    )
    for at in instants:
        if expiry_notices_due(not_after, at, done, POLICY, issued_at=issued_at):
            # The rule changes only at moments: step back to the earliest one that counts.
            return min(
                (m.due_at if m.reason != REASON_EXPIRED else not_after)
                for m in expiry_notices_due(not_after, at, done, POLICY, issued_at=issued_at)
            )
    return None


@pytest.mark.parametrize("days", [1, 7, 10, 46, 90, 100, 199], ids=lambda d: f"R9/{d}-day")
@pytest.mark.parametrize(
    "done",
    [
        pytest.param(frozenset(), id="nothing-sent"),
        pytest.param(frozenset(REASONS[:3]), id="first-three-sent"),
        pytest.param(frozenset(REASONS[::2]), id="every-other-sent"),
        pytest.param(frozenset(REASONS[:-1]), id="all-but-expired-sent"),
        pytest.param(frozenset(REASONS), id="everything-sent"),
    ],
)
def test_the_bound_is_the_first_instant_something_is_due(days: int, done: frozenset[str]) -> None:
    final = (ISSUED - timedelta(hours=8)).date() + timedelta(days=days)
    not_after = expiry_instant(final)
    bound = next_expiry_notice_at(not_after, done, POLICY, issued_at=ISSUED)
    assert bound == _first_due(not_after, done, ISSUED)
    if bound is not None:
        assert not expiry_notices_due(not_after, bound - TICK, done, POLICY, issued_at=ISSUED)


@pytest.mark.parametrize(
    "hours_after_issue",
    [pytest.param(h, id=f"R9/issued-{h}h-before-the-17:00-moment") for h in (-2, 0, 1, 6)],
)
def test_a_moment_before_tracking_started_is_never_the_bound(hours_after_issue: int) -> None:
    # A 90-day certificate issued around 17:00 Pacific: its 90-day moment is that 17:00.
    not_after = expiry_instant(datetime(2027, 6, 1).date())
    moment_90 = not_after - timedelta(days=90)
    issued_at = moment_90 + timedelta(hours=hours_after_issue)
    bound = next_expiry_notice_at(not_after, (), POLICY, issued_at=issued_at)
    for at in itertools.chain([moment_90], (moment_90 + timedelta(days=k) for k in range(40))):
        found = expiry_notices_due(not_after, at, (), POLICY, issued_at=issued_at)
        assert bool(found) == (bound is not None and bound <= at)
