"""R8/R9: when a delivered case's window closes, and when its "window closing" notice is due."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from certdesk.core.lifecycle.expiry import NoticeDue, due_notice
from certdesk.core.lifecycle.instants import require_aware
from certdesk.core.lifecycle.policy import LifecyclePolicy
from certdesk.core.workflow import window_ends_at

# A stable notice reason: part of the exactly-once key (case, contact, reason) recorded by the
# worker, so it must never change once notices have been sent.
REASON_WINDOW_CLOSING = "window.closing"


def window_end(delivered_at: datetime, policy: LifecyclePolicy) -> datetime:
    """When a delivered case's R8 window closes under ``policy`` (``window_days`` later)."""
    return window_ends_at(require_aware(delivered_at, "delivered_at"), policy.window_days)


def window_closing_notice_at(window_ends: datetime, policy: LifecyclePolicy) -> datetime:
    """When the "window closing" notice is due: ``window_closing_notice_days`` before the end.

    Counted in whole 24-hour days, the way :func:`certdesk.core.workflow.window_ends_at`
    counts the window itself, so "3 days before" is exactly 72 hours before it closes.
    """
    end = require_aware(window_ends, "window_ends")
    return end - timedelta(days=policy.window_closing_notice_days)


def window_closing_notice_due(
    window_ends: datetime,
    now: datetime,
    already_sent: Collection[str],
    policy: LifecyclePolicy,
) -> NoticeDue | None:
    """The case's "window closing" notice if it is due at ``now`` and not yet sent (R8, R9).

    Like expiry notices it is never skipped: a worker that was down past the window's end
    still sends it once, marked late (the notice then says the window has closed).
    """
    at = require_aware(now, "now")
    moment = window_closing_notice_at(window_ends, policy)
    if REASON_WINDOW_CLOSING in already_sent or at < moment:
        return None
    return due_notice(REASON_WINDOW_CLOSING, moment, at, policy)
