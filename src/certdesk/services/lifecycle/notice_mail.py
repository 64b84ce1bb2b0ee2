"""What a notice says: the template context of each notice, and the message that carries it.

A message names every notice it carries in an ``X-Certdesk-Notice`` header (subject, reason,
late) and has a ``Message-ID`` derived from the notice ids alone, so that the one message a
crash can make certdesk send twice (see :mod:`certdesk.services.lifecycle.notices`) goes out
with the same ``Message-ID`` both times and is recognisable as the same message.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from certdesk.core.lifecycle import LifecyclePolicy
from certdesk.core.notices import Undelivered, days_left, is_late, reason_template
from certdesk.notify.messages import Mail
from certdesk.notify.wire import Outgoing, Sender
from certdesk.notify.words import (
    CASE_TYPE_WORDS,
    NOTICE_WORDS,
    ROLE_WORDS,
    actor_words,
    span_words,
)
from certdesk.services.lifecycle.queued_mail import queued_mail
from certdesk.store import mail_queue as queue_store
from certdesk.store import notice_reads as store
from certdesk.store import notice_roles as roles_store
from certdesk.store.models import (
    AuditRow,
    Case,
    CaseEvent,
    CertificateRow,
    Comment,
    Notice,
    Organization,
    User,
)
from certdesk.store.notices import CASE, CERTIFICATE, ORGANIZATION, PERSON


class SubjectGone(Exception):
    """The certificate or case a notice is about no longer exists."""


@dataclass(frozen=True)
class NoticeItem:
    """The fields of a notice that rendering needs (a stored row, or a preview's)."""

    id: int
    subject_type: str
    subject_id: int
    contact_email: str
    reason: str
    due_at: datetime
    late: bool
    role: str = "contact"  # why this person gets it (certdesk.core.mail_kinds.Role)
    digest: bool = False  # deferred to the person's daily digest

    @classmethod
    def of(cls, row: Notice) -> NoticeItem:
        return cls(
            row.id,
            row.subject_type,
            row.subject_id,
            row.contact_email,
            row.reason,
            row.due_at,
            row.late,
            row.role,
            row.digest,
        )


@dataclass
class Subjects:
    """Everything the notices of one batch are about, loaded in a few queries."""

    certs: dict[int, CertificateRow] = field(default_factory=dict)
    cases: dict[int, Case] = field(default_factory=dict)
    events: dict[int, CaseEvent] = field(default_factory=dict)
    orgs: dict[int, Organization] = field(default_factory=dict)
    names: dict[tuple[int, str], str] = field(default_factory=dict)
    delivered: dict[int, list[CertificateRow]] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    users: dict[int, User] = field(default_factory=dict)
    changes: dict[int, AuditRow] = field(default_factory=dict)  # contact changes, by seq
    refused: dict[int, Notice] = field(default_factory=dict)  # escalated notices, by id

    @classmethod
    def load(cls, s: Session, items: Sequence[NoticeItem]) -> Subjects:
        refused = queue_store.by_ids(s, [_refused_id(i) for i in items if _refused_id(i)])
        # An escalation is about the refused notice: what that one needs is loaded instead.
        items = [i for i in items if not _refused_id(i)] + [NoticeItem.of(n) for n in refused]
        cert_ids = [i.subject_id for i in items if i.subject_type == CERTIFICATE]
        case_ids = [i.subject_id for i in items if i.subject_type == CASE]
        event_ids = [
            int(i.reason.partition("#")[2])
            for i in items
            if "#" in i.reason and i.subject_type == CASE and not _on_comment(i.reason)
        ]
        comment_ids = [
            int(i.reason.partition("#")[2])
            for i in items
            if i.subject_type == CASE and _on_comment(i.reason)
        ]
        out = cls()
        out.certs = store.certificates(s, cert_ids)
        out.cases = store.cases(s, case_ids)
        out.events = store.events(s, event_ids)
        out.comments = roles_store.comments(s, comment_ids)
        out.users = roles_store.users(s, [i.subject_id for i in items if i.subject_type == PERSON])
        out.delivered = store.certificates_of_cases(s, list(out.cases))
        out.changes = roles_store.audit_rows(
            s,
            [int(i.reason.partition("#")[2]) for i in items if i.subject_type == ORGANIZATION],
        )
        org_ids = {c.org_id for c in out.certs.values()} | {c.org_id for c in out.cases.values()}
        org_ids |= {i.subject_id for i in items if i.subject_type == ORGANIZATION}
        out.orgs = store.organizations(s, org_ids)
        out.names = store.contact_names(s, org_ids)
        out.refused = {n.id: n for n in refused}
        return out

    def label(self, item: NoticeItem) -> str:
        """``certificate <serial>`` or ``case <number>``."""
        if item.subject_type == CERTIFICATE:
            cert = self.certs.get(item.subject_id)
            return f"certificate {cert.serial if cert else item.subject_id}"
        if item.subject_type == PERSON:
            user = self.users.get(item.subject_id)
            return f"account {user.login_id if user else item.subject_id}"
        if item.subject_type == ORGANIZATION:
            org = self.orgs.get(item.subject_id)
            return f"organization {org.code if org else item.subject_id}"
        case = self.cases.get(item.subject_id)
        return f"case {case.number if case else item.subject_id}"


def _refused_id(item: NoticeItem) -> int:
    """The refused notice an ``undeliverable#<id>`` escalation is about; 0 for others."""
    family, _, rest = item.reason.partition("#")
    return int(rest) if family == "undeliverable" else 0


def _on_comment(reason: str) -> bool:
    return reason.startswith(("case.question#", "case.answered#"))


def _org(org: Organization | None) -> dict[str, Any]:
    return {
        "code": org.code if org else "?",
        "name": org.name if org else "?",
        "self_managed": bool(org and org.self_managed),
    }


def _cert(row: CertificateRow, org: Organization | None, at: datetime) -> dict[str, Any]:
    names = row.names.split(",")
    return {
        "serial": row.serial,
        "primary_name": names[0],
        "names": names,
        "organization": _org(org),
        "not_before": row.not_before,
        "not_after": row.not_after,
        "days_left": days_left(row.not_after, at),
        "expired": at > row.not_after,
        "status": row.status,
    }


def context(
    subjects: Subjects,
    item: NoticeItem,
    at: datetime,
    policy: LifecyclePolicy,
    service: dict[str, str],
    password_max_age: int = 90,
) -> tuple[str, dict[str, Any]]:
    """(template kind, context) of ``item`` rendered at ``at``.

    ``notice.late`` is true when the notice was planned late or is handed over now more than
    the grace after its moment (the SMTP server was down): the reader is told either way.
    """
    kind = reason_template(item.reason)
    if kind == "undeliverable":
        return kind, _undeliverable(subjects, item, at, policy, service, password_max_age)
    late = item.late or is_late(item.due_at, at, policy)
    days = int(item.reason.partition(".")[2]) if kind == "expiry" else None
    ctx: dict[str, Any] = {
        "service": service,
        "now": at,
        "notice": {
            "id": item.id,
            "reason": item.reason,
            "due_at": item.due_at,
            "late": late,
            "days": days,
        },
        "late": late,
    }
    base = service.get("base_url", "").rstrip("/")
    ctx["recipient"] = {"role": item.role, "label": ROLE_WORDS.get(item.role, "")}
    ctx["links"] = {"base": base}
    if item.subject_type == PERSON:
        user = subjects.users.get(item.subject_id)
        if user is None or user.password_changed_at is None:
            raise SubjectGone(f"account {item.subject_id} no longer exists")
        expires = user.password_changed_at + timedelta(days=password_max_age)
        ctx["account"] = {
            "login_id": user.login_id,
            "expires_at": expires,
            "days_left": days_left(expires, at),
        }
        ctx["links"]["password"] = f"{base}/password"
        ctx["contact"] = {"name": user.name, "email": item.contact_email}
        return kind, ctx
    if item.subject_type == ORGANIZATION:
        org = subjects.orgs.get(item.subject_id)
        change = subjects.changes.get(int(item.reason.partition("#")[2]))
        if org is None or change is None:
            raise SubjectGone(f"organization {item.subject_id} or its change no longer exists")
        ctx["organization"] = _org(org)
        ctx["change"] = contact_change(change)
        ctx["links"]["contacts"] = f"{base}/contacts?org={org.code}"
        ctx["contact"] = {"name": "", "email": item.contact_email}
        return kind, ctx
    if item.subject_type == CERTIFICATE:
        cert = subjects.certs.get(item.subject_id)
        if cert is None:
            raise SubjectGone(f"certificate {item.subject_id} no longer exists")
        ctx["certificate"] = _cert(cert, subjects.orgs.get(cert.org_id), at)
        ctx["certificate"]["revocation_reason"] = cert.revocation_reason or ""
        ctx["links"]["certificate"] = f"{base}/certificates/{cert.serial}"
        org_id = cert.org_id
    else:
        case = subjects.cases.get(item.subject_id)
        if case is None:
            raise SubjectGone(f"case {item.subject_id} no longer exists")
        org = subjects.orgs.get(case.org_id)
        event = None
        if _on_comment(item.reason):
            said = subjects.comments.get(int(item.reason.partition("#")[2]))
            if said is not None:
                event = {"at": said.at, "actor": said.actor, "note": said.body, "name": "comment"}
        elif "#" in item.reason:
            row = subjects.events.get(int(item.reason.partition("#")[2]))
            if row is not None:
                event = {"at": row.at, "actor": row.actor, "note": row.note, "name": row.event}
        if event is None:
            event = {"at": item.due_at, "actor": "", "note": "", "name": ""}
        ctx["event"] = event
        ctx["case"] = {
            "number": case.number,
            "title": case.title,
            "type": case.type,
            "state": case.state,
            "organization": _org(org),
            "target_date": case.target_date,
            "due_date": case.due_date,
            "delivered_at": case.delivered_at,
            "window_ends_at": case.window_ends_at,
            "window_closed": case.window_ends_at is not None and at >= case.window_ends_at,
            "certificates": [_cert(c, org, at) for c in subjects.delivered.get(case.id, [])],
        }
        if event["actor"]:
            event["actor"] = actor_words(str(event["actor"]))
        ctx["case"]["type_words"] = CASE_TYPE_WORDS.get(case.type, case.type.replace("_", " "))
        ctx["links"]["case"] = f"{base}/cases/{case.number}"
        ctx["links"]["downloads"] = [
            f"{base}/certificates/{c['serial']}/download" for c in ctx["case"]["certificates"]
        ]
        org_id = case.org_id
    name = subjects.names.get((org_id, item.contact_email.strip().lower()), "")
    ctx["contact"] = {"name": name, "email": item.contact_email}
    return kind, ctx


def _undeliverable(
    subjects: Subjects,
    item: NoticeItem,
    at: datetime,
    policy: LifecyclePolicy,
    service: dict[str, str],
    password_max_age: int,
) -> dict[str, Any]:
    """The escalation of a notice that failed for good: that notice's context (its
    certificate or case), told to cert services, with why it was not delivered (refused, or
    retries used up: how many, over how long) and the server's last reply."""
    row = subjects.refused.get(_refused_id(item))
    if row is None:
        raise SubjectGone(f"notice {_refused_id(item)} no longer exists")
    refused = NoticeItem.of(row)
    kind, ctx = context(subjects, refused, at, policy, service, password_max_age)
    ctx["notice"] = {**ctx["notice"], "id": item.id, "reason": item.reason}
    ctx["recipient"] = {"role": item.role, "label": ROLE_WORDS.get(item.role, "")}
    ctx["contact"] = {"name": "", "email": item.contact_email}
    failure = Undelivered.of(row.last_error, row.attempts)
    ctx["refused"] = {
        "to": refused.contact_email,
        "what": subjects.label(refused),
        "notice": NOTICE_WORDS.get(kind, "notice"),
        "said": failure.said,
        "due_at": refused.due_at,
        "permanent": failure.permanent,
        "attempts": failure.attempts,
        # The notice was queued (and first tried) when it was recorded; the escalation was
        # recorded the moment it was given up.
        "first_at": row.created_at,
        "gave_up_at": item.due_at,
        "period": span_words(item.due_at - row.created_at),
    }
    ctx["late"] = False
    return ctx


_CHANGE_WORDS = {
    "contact.add": "added a contact",
    "contact.change": "changed a contact",
    "contact.remove": "removed a contact",
    "contact.replace": "replaced a contact everywhere",
}
_FIELD_WORDS = {
    "kind": "Role",
    "name": "Name",
    "email": "Email",
    "phone": "Phone",
    "org_wide": "Hears about the whole organization",
}


def contact_change(row: AuditRow) -> dict[str, Any]:
    """What one audited contact change did, in words for the mail (issue 14)."""
    summary = json.loads(row.summary)

    def fields(values: Any) -> list[tuple[str, str]]:
        if not isinstance(values, dict):
            return []
        shown = []
        for key, words in _FIELD_WORDS.items():
            if key in values:
                value = values[key]
                text = ("yes" if value else "no") if isinstance(value, bool) else str(value)
                shown.append((words, text or "(none)"))
        return shown

    return {
        "what": _CHANGE_WORDS.get(row.action, "changed its contacts"),
        "by": actor_words(row.actor),
        "at": row.at,
        "before": fields(summary.get("before")),
        "after": fields(summary.get("after")),
        "replace": row.action == "contact.replace",
        "cases": [str(c) for c in summary.get("cases", [])],
        "certificates": [str(c) for c in summary.get("certificates", [])],
    }


def build_message(
    sender: Sender,
    to: str,
    mail: Mail,
    items: Sequence[tuple[NoticeItem, str, bool]],
    at: datetime,
) -> Outgoing:
    """The message for ``items`` ((notice, subject label, late) each) to ``to``."""
    announced = [
        (
            "X-Certdesk-Notice",
            f"{label}; reason={item.reason}; late={'yes' if late else 'no'}; id={item.id}",
        )
        for item, label, late in items
    ]
    return queued_mail(sender, to, mail, [i.id for i, _, _ in items], at, extra=announced)
