"""R9: when a certificate is expired, and which of its expiry notices are due at an instant.

A notice is due at the expiry's Pacific wall-clock time (17:00 under R7) N calendar days
earlier. A threshold already past when certdesk started tracking the certificate is never
due; every other one stays due until it is recorded as sent, and is marked late when sent
more than ``late_grace`` after its moment.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from certdesk.core.lifecycle.instants import days_before, require_aware
from certdesk.core.lifecycle.policy import LifecyclePolicy

# Stable notice reasons. They are part of the exactly-once key (certificate or case, contact,
# reason) recorded by the worker, so they must never change once notices have been sent.
REASON_EXPIRED = "expired"


def expiry_reason(days: int) -> str:
    """The reason key of the notice sent ``days`` days before expiry: ``expiry.30``."""
    return f"expiry.{days}"


@dataclass(frozen=True)
class NoticeDue:
    """A notice the worker must send now, once (R9)."""

    reason: str  # stable key of the exactly-once record: "expiry.30", "expired", …
    due_at: datetime  # aware UTC: the moment the notice became due
    late: bool  # the moment passed more than the policy's late_grace ago


def expired(not_after: datetime, now: datetime) -> bool:
    """Whether a certificate is expired at ``now``.

    The validity period includes ``notAfter`` itself (RFC 5280 §4.1.2.5), so a certificate
    is expired only strictly after it.
    """
    return require_aware(now, "now") > require_aware(not_after, "not_after")


def expiry_notice_at(not_after: datetime, days: int) -> datetime:
    """The moment the notice ``days`` days before expiry is due (R9).

    The expiry's Pacific wall-clock time (17:00 under R7), ``days`` calendar days earlier:
    at that moment exactly ``days`` days are left, so the subject line is true.
    """
    return days_before(require_aware(not_after, "not_after"), days)


def due_notice(reason: str, due_at: datetime, now: datetime, policy: LifecyclePolicy) -> NoticeDue:
    """The notice ``reason`` due from ``due_at``, late when ``now`` is past the policy's grace."""
    return NoticeDue(reason=reason, due_at=due_at, late=now > due_at + policy.late_grace)


def expiry_notices_due(
    not_after: datetime,
    now: datetime,
    already_sent: Collection[str],
    policy: LifecyclePolicy,
    *,
    issued_at: datetime,
) -> list[NoticeDue]:
    """The expiry notices of one certificate (for one contact) due at ``now`` (R9).

    ``issued_at`` is when certdesk started tracking the certificate: its ``notBefore`` when
    certdesk issued it, the import time for an imported one. It is required so that no
    caller can forget it and flood contacts with notices for thresholds that were already
    past (a 47-day certificate has no 90- or 60-day notice; an import 20 days before
    expiry gets none of 90, 60 or 30).

    1. Each threshold N of ``policy.notice_days`` is due from :func:`expiry_notice_at`
       (``expiry.N``), unless that moment is not after ``issued_at``.
    2. ``expired`` is due once the certificate is :func:`expired`, with ``due_at`` equal to
       ``not_after``, unless ``not_after`` is not after ``issued_at``.
    3. A reason in ``already_sent`` is never returned. Everything else stays due until it
       is recorded as sent, so a worker that was stopped over several thresholds sends each
       missed one once, marked ``late`` — even after the certificate expired, when the
       notice says so. Folding several into one message is the sender's job (digests).
    4. The result is ordered by ``due_at``, oldest first.
    """
    end = require_aware(not_after, "not_after")
    at = require_aware(now, "now")
    tracked_from = require_aware(issued_at, "issued_at")
    sent = frozenset(already_sent)

    moments = [(expiry_reason(n), expiry_notice_at(end, n)) for n in policy.notice_days]
    due = [
        due_notice(reason, moment, at, policy)
        for reason, moment in moments
        if reason not in sent and tracked_from < moment <= at
    ]
    if REASON_EXPIRED not in sent and tracked_from < end and expired(end, at):
        due.append(due_notice(REASON_EXPIRED, end, at, policy))
    return sorted(due, key=lambda n: n.due_at)


def next_expiry_notice_at(
    not_after: datetime,
    done: Collection[str],
    policy: LifecyclePolicy,
    *,
    issued_at: datetime,
) -> datetime | None:
    """The earliest instant from which :func:`expiry_notices_due` can return something for a
    certificate whose ``done`` reasons are recorded; None when nothing is left to send (R9).

    It is a lower bound the worker stores per certificate, so that a pass reads only the
    certificates with something due (``next <= now``) instead of every one: for every
    ``now`` before it, :func:`expiry_notices_due` with the same ``done`` returns nothing. The
    ``expired`` notice counts from ``not_after`` itself (it is due strictly after it).
    Nothing here depends on ``now``, so a clock that goes back, or a worker down for days,
    never skips a notice: whatever became due since is found by the next pass, once.
    """
    end = require_aware(not_after, "not_after")
    tracked_from = require_aware(issued_at, "issued_at")
    sent = frozenset(done)
    moments = [
        moment
        for reason, moment in (
            (expiry_reason(n), expiry_notice_at(end, n)) for n in policy.notice_days
        )
        if reason not in sent and tracked_from < moment
    ]
    if REASON_EXPIRED not in sent and tracked_from < end:
        moments.append(end)
    return min(moments, default=None)
