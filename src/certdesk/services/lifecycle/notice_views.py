"""What people see of the notices (R9): the list with its states, and a preview of what a
certificate's contacts would be sent (part of :class:`certdesk.services.lifecycle.notices.
NoticeService`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.lifecycle import (
    REASON_EXPIRED,
    LifecyclePolicy,
    expiry_notice_at,
    expiry_reason,
)
from certdesk.core.notices import LISTED_STATES, NoticeState, shown_state
from certdesk.errors import InvalidInput
from certdesk.notify.rendering import NoticeTemplates, TemplateFailure
from certdesk.services.casework.casefile import load_case
from certdesk.services.lifecycle.notice_mail import NoticeItem, Subjects, context
from certdesk.services.lifecycle.notice_plan import NoticePlanner
from certdesk.services.runtime import Runtime
from certdesk.services.visibility import visible_cert
from certdesk.store import notice_reads as reads
from certdesk.store.models import CertificateRow
from certdesk.store.notices import CERTIFICATE

_REASON = re.compile(r"^(expiry\.[1-9][0-9]{0,3}|expired)$")
MAX_PAGE = 500


@dataclass(frozen=True)
class NoticeView:
    id: int
    subject_type: str
    subject: str  # the certificate's serial or the case's number
    reason: str
    contact_email: str
    status: NoticeState  # as shown: a pending notice that failed before is retrying
    late: bool
    attempts: int
    due_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str
    mail_subject: str
    created_at: datetime

    def as_dict(self) -> dict[str, object]:
        def iso(d: datetime | None) -> str | None:
            return d.isoformat().replace("+00:00", "Z") if d else None

        out: dict[str, object] = dict(self.__dict__)
        for k in ("due_at", "next_attempt_at", "sent_at", "created_at"):
            out[k] = iso(out[k])  # type: ignore[arg-type]
        return out


@dataclass(frozen=True)
class NoticePage:
    items: list[NoticeView]
    next_cursor: str | None


@dataclass(frozen=True)
class PreviewMail:
    to: str
    reason: str
    late: bool
    subject: str
    text: str
    html: str
    problem: str | None  # why this recipient would get nothing (the notice would fail)

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class NoticeReads:
    """Listing and previewing notices; sends nothing."""

    _rt: Runtime
    policy: LifecyclePolicy
    planner: NoticePlanner
    templates: NoticeTemplates
    _service: dict[str, str]

    def search(
        self,
        actor: Actor,
        *,
        cert: str | None = None,
        case: str | None = None,
        status: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> NoticePage:
        """Notices visible to ``actor`` (operators and auditors: all; others: their
        organization's), newest first."""
        if status is not None and status not in LISTED_STATES:
            raise InvalidInput(
                "notice.status",
                f"unknown status {status!r}; use one of " + ", ".join(LISTED_STATES),
            )
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput("page.limit", f"limit must be between 1 and {MAX_PAGE}")
        before = None
        if cursor:
            if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 18:
                raise InvalidInput("page.cursor", "invalid page cursor")
            before = int(cursor)
        authorize(actor, Action.CERT_READ, actor.org_id)
        with self._rt.reads() as s:
            cert_id = case_id = None
            if cert is not None:
                row = self._cert(s, actor, cert)
                cert_id = row.id
            if case is not None:
                case_id = load_case(s, actor, case, Action.CASE_READ).id
            rows = reads.search(
                s,
                reads.NoticeQuery(
                    org_id=None if actor.is_global else actor.org_id,
                    cert_id=cert_id,
                    case_id=case_id,
                    status=status,
                    before_id=before,
                    limit=limit,
                ),
            )
            labels = reads.subject_labels(s, rows)
        items = [
            NoticeView(
                id=n.id,
                subject_type=n.subject_type,
                subject=labels.get((n.subject_type, n.subject_id), str(n.subject_id)),
                reason=n.reason,
                contact_email=n.contact_email,
                status=shown_state(n.status, n.last_error),
                late=n.late,
                attempts=n.attempts,
                due_at=n.due_at,
                next_attempt_at=n.next_attempt_at,
                sent_at=n.sent_at,
                last_error=n.last_error,
                mail_subject=n.subject,
                created_at=n.created_at,
            )
            for n in rows
        ]
        return NoticePage(items, str(rows[-1].id) if len(rows) == limit else None)

    def preview(self, actor: Actor, serial: str, reason: str | None = None) -> list[PreviewMail]:
        """What each contact of certificate ``serial`` would get for ``reason`` (default: the
        next expiry notice), rendered as it would be sent at its moment. Sends nothing."""
        now = self._rt.clock()
        if reason is not None and not _REASON.match(reason.strip()):
            raise InvalidInput(
                "notice.reason",
                f"unknown reason {reason!r}; use expiry.N (e.g. expiry.30) or expired",
            )
        with self._rt.reads() as s:
            row = self._cert(s, actor, serial)
            wanted = reason.strip() if reason else self._next_reason(row.not_after, now)
            due_at = (
                row.not_after
                if wanted == REASON_EXPIRED
                else expiry_notice_at(row.not_after, int(wanted.partition(".")[2]))
            )
            recipients = self.planner.certificate_recipients(s, {row.id: row.org_id})[row.id]
            at = max(now, due_at + timedelta(seconds=1) if wanted == REASON_EXPIRED else due_at)
            items = [
                NoticeItem(0, CERTIFICATE, row.id, r.email, wanted, due_at, False)
                for r in recipients
            ]
            subjects = Subjects.load(s, items)
        out: list[PreviewMail] = []
        for r, item in zip(recipients, items, strict=True):
            kind, ctx = context(subjects, item, at, self.policy, self._service)
            try:
                mail = self.templates.mail(self.templates.render(kind, ctx), ctx)
            except TemplateFailure as exc:
                raise InvalidInput("notice.template", str(exc)) from None
            late = bool(ctx["notice"]["late"])
            out.append(
                PreviewMail(r.email, wanted, late, mail.subject, mail.text, mail.html, r.problem)
            )
        return out

    def _cert(self, s: Session, actor: Actor, serial: str) -> CertificateRow:
        """The certificate ``serial`` if ``actor`` may read it; another organization's
        certificate is reported exactly like an unknown one."""
        row = visible_cert(s, actor, serial)
        authorize(actor, Action.CERT_READ, row.org_id, hide=True)
        return row

    def _next_reason(self, not_after: datetime, now: datetime) -> str:
        if now > not_after:
            return REASON_EXPIRED
        upcoming = [
            d for d in sorted(self.policy.notice_days) if expiry_notice_at(not_after, d) >= now
        ]
        # The largest threshold still ahead is the next one to go out.
        return (
            expiry_reason(upcoming[-1]) if upcoming else expiry_reason(min(self.policy.notice_days))
        )

    def status_counts(self) -> dict[str, int]:
        """Notices by status (``retrying`` split from ``pending``) and ``sent_late``; for
        /metrics and /readyz."""
        with self._rt.reads() as s:
            return reads.status_counts(s)
