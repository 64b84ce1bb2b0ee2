"""Which case notices are due, what their reasons are called, and how sending is retried (R9).

The expiry side of R9 (``expiry.N`` and ``expired``) is planned by
:mod:`certdesk.core.lifecycle`; this module adds the case events and the sending rules the
notice service executes. Pure: every function takes the instants it reasons about.

Reasons are part of the exactly-once key (subject, contact, reason) of a recorded notice, so
they never change once notices have been sent:

* ``case.submitted#<event id>``, ``case.approved#<event id>``, ``case.rejected#<event id>``,
  ``case.delivered#<event id>``: one per case history event, so that a second rejection in a
  later approval round is a new notice and a replayed pass is not;
* ``case.overdue``: once per case, when it first is overdue (R5);
* ``window.closing``: once per delivered case (R8, :func:`certdesk.core.lifecycle.
  window_closing_notice_due`);
* ``expiry.N`` and ``expired``: once per certificate (:mod:`certdesk.core.lifecycle`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from certdesk.core.calendar import PACIFIC
from certdesk.core.lifecycle import (
    REASON_EXPIRED,
    REASON_WINDOW_CLOSING,
    LifecyclePolicy,
    NoticeDue,
)
from certdesk.core.workflow import State

__all__ = [
    "CASE_EVENT_REASONS",
    "LISTED_STATES",
    "REASON_OVERDUE",
    "WAITING_STATES",
    "NoticeState",
    "Recipient",
    "Undelivered",
    "case_event_reason",
    "days_left",
    "dedupe_recipients",
    "gave_up_error",
    "is_late",
    "overdue_notice_at",
    "overdue_notice_due",
    "reason_template",
    "refused_error",
    "retry_delay",
    "shown_state",
]

REASON_OVERDUE = "case.overdue"


class NoticeState(StrEnum):
    """The state of a notice or other queued mail: pending, retrying (pending again after a
    failed attempt), sending, sent, or failed for good."""

    # Stored in ``notices.status``, except RETRYING (see shown_state); the API and the CLI
    # use the same strings.

    PENDING = "pending"  # waiting for its first attempt, or for a retry (see RETRYING)
    RETRYING = "retrying"  # shown only, never stored: pending after a failed attempt
    SENDING = "sending"  # claimed by a sender, under a lease
    SENT = "sent"  # accepted by the SMTP server, once
    FAILED = "failed"  # for good: a bad address, a template error, a 5xx, attempts used up
    SKIPPED = "skipped"  # not sent: the person turned this kind of mail off (recorded once)


# What a person may filter notices by, in the order they are offered.
LISTED_STATES = (
    NoticeState.PENDING,
    NoticeState.RETRYING,
    NoticeState.SENDING,
    NoticeState.SENT,
    NoticeState.FAILED,
    NoticeState.SKIPPED,
)
# Not sent yet: waiting in the queue or on its way.
WAITING_STATES = (NoticeState.PENDING, NoticeState.SENDING)


def shown_state(stored: str, last_error: str) -> NoticeState:
    """The state to show: a pending notice that failed before is ``retrying`` (the one place
    that is decided; ``store/notice_reads`` is its SQL twin)."""
    state = NoticeState(stored)
    if state is NoticeState.PENDING and last_error:
        return NoticeState.RETRYING
    return state


# Case history events (certdesk.core.workflow.Event values) that are mailed, by the reason
# family they are mailed under. ``approve`` and ``route`` count only when they leave the case
# approved: the last required approval, or a policy that needs none.
CASE_EVENT_REASONS: dict[str, str] = {
    "submit": "case.submitted",
    "approve": "case.approved",
    "route": "case.approved",
    "reject": "case.rejected",
    "fulfil": "case.delivered",
}
_NEEDS_APPROVED_STATE = frozenset({"approve", "route"})

# Template names per reason family; expiry.N all share one template.
_TEMPLATES = {
    REASON_EXPIRED: "expired",
    REASON_WINDOW_CLOSING: "window_closing",
    REASON_OVERDUE: "case_overdue",
    "case.submitted": "case_submitted",
    "case.approved": "case_approved",
    "case.rejected": "case_rejected",
    "case.delivered": "case_delivered",
    "case.waiting": "case_waiting",
    "case.question": "case_question",
    "case.answered": "case_answered",
    "case.started": "case_started",
    "case.renewal": "case_renewal",
    "revoked": "revoked",
    "contact.changed": "contact_changed",
    # To cert services: the mail server refused a notice for good (undeliverable#<notice id>).
    "undeliverable": "undeliverable",
}


def case_event_reason(event: str, to_state: str, event_id: int) -> str | None:
    """The reason of the notice a case history event causes, or None when it causes none."""
    family = CASE_EVENT_REASONS.get(event)
    if family is None:
        return None
    if event in _NEEDS_APPROVED_STATE and to_state != State.APPROVED:
        return None  # an approval that still waits for another party is not news yet
    return f"{family}#{event_id}"


def reason_template(reason: str) -> str:
    """The template (without extension) a notice of ``reason`` is rendered with.

    Raises ``ValueError`` for a reason certdesk does not send: a programming error.
    """
    if reason.startswith("expiry."):
        return "expiry"
    if reason.startswith("password."):
        return "password_expiry"
    family = reason.partition("#")[0]
    try:
        return _TEMPLATES[family]
    except KeyError:
        raise ValueError(f"no template for notice reason {reason!r}") from None


def is_late(due_at: datetime, at: datetime, policy: LifecyclePolicy) -> bool:
    """R9: a notice handed over more than ``late_grace`` after it became due is late."""
    return at > due_at + policy.late_grace


def overdue_notice_at(due: date) -> datetime:
    """When an undelivered case with due date ``due`` becomes overdue: 00:00 Pacific the
    day after (R5, :func:`certdesk.core.calendar.is_overdue`), as aware UTC."""
    return datetime.combine(due + timedelta(days=1), time(0), tzinfo=PACIFIC).astimezone(UTC)


def overdue_notice_due(
    due: date,
    now: datetime,
    already_sent: Collection[str],
    policy: LifecyclePolicy,
) -> NoticeDue | None:
    """The case's "overdue" notice if it is due at ``now`` and not yet sent.

    The caller asks only about cases that are still being worked (approved or in progress):
    a case delivered before any pass saw it overdue is no longer overdue, and gets its
    "delivered" notice instead.
    """
    if REASON_OVERDUE in already_sent:
        return None
    moment = overdue_notice_at(due)
    if now < moment:
        return None
    return NoticeDue(REASON_OVERDUE, moment, is_late(moment, now, policy))


def days_left(not_after: datetime, now: datetime) -> int:
    """Whole days until ``not_after``, rounded up (0 once it has passed).

    A notice due exactly 30 days before expiry and sent a few hours later still says 30; one
    sent three days late says 27, which is what the reader has left.
    """
    seconds = (not_after - now).total_seconds()
    return max(0, math.ceil(seconds / 86400))


def retry_delay(attempts: int, base: timedelta, cap: timedelta) -> timedelta:
    """Exponential backoff after the ``attempts``-th failed attempt: base, 2·base, 4·base …

    Never more than ``cap``, so a long outage is retried at least that often.
    """
    if attempts < 1:
        return base
    exponent = min(attempts - 1, 32)  # 2**32 times any sane base is far beyond any cap
    return min(base * (1 << exponent), cap)


# Why a message failed for good, as its ``last_error`` says and the escalation to cert
# services reads it back (R9): the server refused it for good (a 5yz reply, RFC 5321
# §4.2.1), or its temporary failures used up ``CERTDESK_NOTICE_MAX_ATTEMPTS``.
_REFUSED = "refused: "
_GAVE_UP = re.compile(r"gave up after (\d+) attempts: ")


def refused_error(said: str) -> str:
    """``last_error`` of a message the server refused for good; ``said`` is its reply."""
    return f"{_REFUSED}{said}"


def gave_up_error(attempts: int, said: str) -> str:
    """``last_error`` of a message given up after ``attempts`` temporary failures, the last
    answered ``said``."""
    return f"gave up after {attempts} attempts: {said}"


@dataclass(frozen=True)
class Undelivered:
    """Why a failed message was not delivered, read from its ``last_error``."""

    permanent: bool  # the server refused it for good; else its retries ran out
    said: str  # the server's last answer (or the last error, when it gave none)
    attempts: int

    @classmethod
    def of(cls, last_error: str, attempts: int) -> Undelivered:
        if last_error.startswith(_REFUSED):
            return cls(True, last_error.removeprefix(_REFUSED), attempts)
        gave_up = _GAVE_UP.match(last_error)
        if gave_up is not None:
            return cls(False, last_error[gave_up.end() :], int(gave_up.group(1)))
        return cls(False, last_error, attempts)


@dataclass(frozen=True)
class Recipient:
    """One person a notice goes to; ``email`` is as recorded, ``problem`` says why it is
    unusable (the notice is then recorded as failed with that reason, R9 visibility)."""

    email: str
    name: str
    problem: str | None = None
    role: str = "contact"  # why they get it (certdesk.core.mail_kinds.Role)


def dedupe_recipients(candidates: Iterable[Recipient]) -> list[Recipient]:
    """The first recipient per address, compared without case; in the order given.

    An address without an ``@`` (bad data) is kept as it is, so that it is reported.
    """
    seen: set[str] = set()
    out: list[Recipient] = []
    for r in candidates:
        key = r.email.strip().lower()
        if key in seen:
            continue
        seen.add(key)
        out.append(r)
    return out
