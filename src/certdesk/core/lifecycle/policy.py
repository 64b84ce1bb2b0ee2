"""The operator's lifecycle settings (R5, R6, R8, R9), checked when they are built."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from certdesk.core.calendar import DUE_BUSINESS_DAYS
from certdesk.core.workflow import WINDOW_DAYS

# R9: renewal notices 90/60/30/14/7/1 days before expiry (configurable).
DEFAULT_NOTICE_DAYS: tuple[int, ...] = (90, 60, 30, 14, 7, 1)


@dataclass(frozen=True)
class LifecyclePolicy:
    """The operator's lifecycle settings; every field has the default the rules name.

    ``notice_days`` is normalised to distinct values, largest first. Invalid settings raise
    ``ValueError`` when the policy is built: they are configuration errors, caught at start-up.
    """

    # R9: thresholds for renewal notices, in calendar days before expiry.
    notice_days: tuple[int, ...] = DEFAULT_NOTICE_DAYS
    # R6: the new certificate is delivered at least this many days before the old expires.
    renewal_margin_days: int = 7
    # R5: the business days a renewal case needs, from opening to its due date. The count
    # starts on the day the case opens, as if it were approved that day; an organisation
    # whose renewals wait for approvals should add those days here.
    due_business_days: int = DUE_BUSINESS_DAYS
    # R6 (issue 4): short-lived certificates renew at this fraction of their validity.
    lifetime_fraction: float = 2 / 3
    # R8: the window after delivery in which a case can still test, revoke or change.
    window_days: int = WINDOW_DAYS
    # R9: the "window closing" notice goes out this many days before the window closes.
    window_closing_notice_days: int = 3
    # R9: a notice sent later than its moment plus this grace is marked late.
    late_grace: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        days = tuple(self.notice_days)
        for n in days:
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"notice_days must be whole days of at least 1, got {n!r}")
        object.__setattr__(self, "notice_days", tuple(sorted(set(days), reverse=True)))
        if self.renewal_margin_days < 0:
            raise ValueError(
                f"renewal_margin_days must be at least 0, got {self.renewal_margin_days}"
            )
        if self.due_business_days < 0:
            raise ValueError(f"due_business_days must be at least 0, got {self.due_business_days}")
        if not (0 < self.lifetime_fraction < 1) or not math.isfinite(self.lifetime_fraction):
            raise ValueError(
                f"lifetime_fraction must be between 0 and 1 (exclusive), "
                f"got {self.lifetime_fraction}"
            )
        if self.window_days < 1:
            raise ValueError(f"window_days must be at least 1, got {self.window_days}")
        if not 0 <= self.window_closing_notice_days < self.window_days:
            raise ValueError(
                "window_closing_notice_days must be at least 0 and less than window_days "
                f"({self.window_days}), got {self.window_closing_notice_days}"
            )
        if self.late_grace < timedelta(0):
            raise ValueError(f"late_grace must not be negative, got {self.late_grace}")
