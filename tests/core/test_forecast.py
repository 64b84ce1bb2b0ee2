"""The dashboard's weekly forecast (R6 looks ahead the same way): pure counting."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from certdesk.core.forecast import weekly

NOW = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


def at(days: float) -> datetime:
    return NOW + timedelta(days=days)


@pytest.mark.parametrize(
    ("expiries", "days", "counts"),
    [
        pytest.param([], 14, [0, 0], id="empty/every-week-present"),
        pytest.param([at(0.5), at(6.9), at(7)], 14, [2, 1], id="week/boundary-at-7-days"),
        pytest.param([at(0), at(-1)], 7, [0], id="past-and-now/not-counted"),
        pytest.param([at(14), at(14.01)], 14, [0, 1], id="horizon/inclusive-end-only"),
        pytest.param([at(119.9)], 120, [0] * 17 + [1], id="120-days/18-weeks-last-partial"),
    ],
)
def test_r6_weekly_counts(expiries: list[datetime], days: int, counts: list[int]) -> None:
    weeks = weekly(expiries, NOW, days)
    assert [w.count for w in weeks] == counts
    assert weeks[0].start == NOW.date()
    assert all(b.start - a.start == timedelta(days=7) for a, b in itertools.pairwise(weeks))


def test_r6_weekly_refuses_an_empty_horizon() -> None:
    with pytest.raises(ValueError, match="at least one day"):
        weekly([], NOW, 0)
