"""A notice that cannot be delivered is told to cert services, once (R9, issue 14).

Two things fail a notice for good at the mail server
(:meth:`certdesk.services.lifecycle.mail_queue.QueueSender._refused`): a permanent refusal (a
5yz reply to the recipient or the message, RFC 5321 §4.2.1: an unknown mailbox, a domain that
takes no mail), at once, without retries; and temporary refusals (4yz: a full mailbox, a
greylisting server) that go on until ``CERTDESK_NOTICE_MAX_ATTEMPTS`` attempts are used up,
the backoff between them growing to hours. (An unreachable server never fails a notice: every
message would fail alike, so they all wait for it.) Nobody who should hear of the
certificate or case then does, so in the same transaction this module
queues an ``undeliverable#<notice id>`` notice about the same subject to cert services
(``CERTDESK_CERT_SERVICES_EMAIL`` and every operator account), role ``escalation`` — the
same escalation a certificate without any usable contact gets
(:mod:`certdesk.services.lifecycle.notice_roles`) — and appends the audit event
``notice.undeliverable`` (R15). The notices' once-only key (subject, address, reason) makes
it one message per failed notice and address, whatever happens later; the next pass sends
it like any waiting notice. The failure, the escalation and the audit event commit together,
and the failure is written only where the sender still holds the notice's claim, so a worker
killed at any point and restarted tells cert services exactly once. An escalation that
itself fails, either way, is not escalated again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.orm import Session

from certdesk.config import Settings
from certdesk.core.mail_kinds import Role
from certdesk.core.notices import NoticeState, Undelivered
from certdesk.services.audit import AuditService
from certdesk.services.lifecycle.notice_mail import NoticeItem
from certdesk.services.lifecycle.notice_roles import Audience, recipients
from certdesk.services.lifecycle.renewals import WORKER
from certdesk.services.runtime import Runtime
from certdesk.store import mail_queue as store

__all__ = [
    "UNDELIVERABLE",
    "Undeliverable",
    "is_escalation",
    "told_of_failure",
    "undeliverable_reason",
]

UNDELIVERABLE = "undeliverable"

log = structlog.get_logger("certdesk.notices")


def is_escalation(reason: str) -> bool:
    """Whether a queued message is itself the telling of an undeliverable one (never told
    about again when it fails)."""
    return reason.startswith(f"{UNDELIVERABLE}#")


def told_of_failure(s: Session, settings: Settings, failed_to: str) -> list[str]:
    """Whom a message that failed for good is told to: cert services' mailbox and every
    operator, each usable address, never the address that failed."""
    found = recipients([(Role.ESCALATION, Audience(s, settings).operators())])
    return [r.email for r in found if r.problem is None and r.email.lower() != failed_to.lower()]


def undeliverable_reason(notice_id: int) -> str:
    """The escalation's reason: part of its once-only key, never changed."""
    return f"{UNDELIVERABLE}#{notice_id}"


class Undeliverable:
    """Queues the escalation of notices that failed for good and audits it, in the caller's
    transaction."""

    def __init__(self, rt: Runtime, audit: AuditService) -> None:
        self._rt = rt
        self._audit = audit

    def record(self, s: Session, refused: Sequence[NoticeItem], at: datetime, why: str) -> int:
        """Escalate ``refused`` (just failed for good in ``s``, ``why`` as their
        ``last_error`` says: refused, or their attempts used up); how many were queued."""
        failure = Undelivered.of(why, 0)
        queued = 0
        for item in refused:
            if is_escalation(item.reason):
                continue  # cert services' own address failed its escalation: nothing to add
            told = told_of_failure(s, self._rt.settings, item.contact_email)
            rows = [self._row(item, to, at) for to in told]
            queued += len(store.insert_new(s, rows))
            if not told:
                log.warning("no cert services address for an undeliverable notice", id=item.id)
            self._audit.record(
                s,
                WORKER,
                "notice.undeliverable",
                "notice",
                item.id,
                to=item.contact_email,
                reason=item.reason,
                cause="refused" if failure.permanent else "retries exhausted",
                error=failure.said,
                subject=f"{item.subject_type} {item.subject_id}",
                told=told,
            )
        return queued

    def _row(self, item: NoticeItem, to: str, at: datetime) -> dict[str, Any]:
        return {
            "subject_type": item.subject_type,
            "subject_id": item.subject_id,
            "contact_email": to,
            "reason": undeliverable_reason(item.id),
            "due_at": at,
            "late": False,
            "attempts": 0,
            "next_attempt_at": at,
            "last_error": "",
            "claimed_by": None,
            "claim_expires_at": None,
            "subject": "",
            "created_at": at,
            "sent_at": None,
            "status": NoticeState.PENDING,
            "role": Role.ESCALATION,
            "digest": False,
        }
