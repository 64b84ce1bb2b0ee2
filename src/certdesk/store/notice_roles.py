"""The notices by role (issue 14): who holds a role, and the new moments that are mailed.

Like :mod:`certdesk.store.notices`, each "what is due" query is an anti-join against the
``notices`` table (the once-only record), so a pass reads only what has no row yet. The
moments added here are recent ones only (``since``): a comment or a revocation from before
an upgrade is not news to anyone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Exists, String, cast, exists, func, literal, select
from sqlalchemy.orm import Session

from certdesk.core.certificates import CertStatus
from certdesk.core.workflow import State
from certdesk.store.models import (
    ApiToken,
    Approval,
    AuditRow,
    Case,
    CaseEvent,
    CertificateRow,
    Comment,
    MailPreference,
    Notice,
    Organization,
    User,
    UserRole,
)
from certdesk.store.notices import CASE, CERTIFICATE, ORGANIZATION, PERSON, chunks


def _recorded(subject_type: str, subject_id: Any, reason: Any) -> Exists:
    return exists().where(
        Notice.subject_type == subject_type,
        Notice.subject_id == subject_id,
        Notice.reason == reason,
    )


# --- people by role ----------------------------------------------------------------------------


def org_people(
    s: Session, org_ids: Iterable[int], roles: Sequence[str]
) -> dict[int, list[tuple[str, str]]]:
    """Organization id → (name, email) of its enabled people holding one of ``roles``."""
    ids = sorted(set(org_ids))
    out: dict[int, list[tuple[str, str]]] = {i: [] for i in ids}
    for part in chunks(ids):
        rows = s.execute(
            select(User.org_id, User.name, User.email)
            .where(
                User.org_id.in_(part),
                User.disabled.is_(False),
                exists().where(UserRole.user_id == User.id, UserRole.role.in_(list(roles))),
            )
            .order_by(User.id)
        )
        for org_id, name, email in rows:
            if org_id is not None:
                out[org_id].append((name, email))
    return out


def operators(s: Session) -> list[tuple[str, str]]:
    """(name, email) of cert services' enabled people."""
    rows = s.execute(
        select(User.name, User.email)
        .where(
            User.org_id.is_(None),
            User.disabled.is_(False),
            exists().where(UserRole.user_id == User.id, UserRole.role == "operator"),
        )
        .order_by(User.id)
    )
    return [(name, email) for name, email in rows]


def requesters(s: Session, case_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """Case id → (name, email) of the person who opened it (cases opened by the worker or
    a script have none)."""
    out: dict[int, tuple[str, str]] = {}
    for part in chunks(sorted(case_ids)):
        rows = s.execute(
            select(Case.id, User.name, User.email)
            .join(User, User.id == Case.requester_id)
            .where(Case.id.in_(part), User.disabled.is_(False))
        )
        out.update({case_id: (name, email) for case_id, name, email in rows})
    return out


def self_managed(s: Session, org_ids: Iterable[int]) -> set[int]:
    ids = sorted(set(org_ids))
    found: set[int] = set()
    for part in chunks(ids):
        found |= set(
            s.scalars(
                select(Organization.id).where(
                    Organization.id.in_(part), Organization.self_managed.is_(True)
                )
            )
        )
    return found


def preferences(s: Session) -> dict[str, dict[str, str]]:
    """Lower-cased email → {kind: mode} of every enabled person who chose anything."""
    out: dict[str, dict[str, str]] = {}
    rows = s.execute(
        select(User.email, MailPreference.kind, MailPreference.mode)
        .join(User, User.id == MailPreference.user_id)
        .where(User.disabled.is_(False))
        .order_by(User.id)
    )
    for email, kind, mode in rows:
        out.setdefault(email.strip().lower(), {}).setdefault(kind, mode)
    return out


# --- the new moments ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Waiting:
    case_id: int
    org_id: int
    submit_event_id: int
    submitted_at: datetime
    steps: tuple[str, ...]  # the required steps without an approval in this round


def waiting_candidates(s: Session, submitted_before: datetime) -> list[Waiting]:
    """Cases waiting for approval since before ``submitted_before`` (their latest
    submission), whose round has no "waiting" reminder yet, with the steps still open.

    Two statements whatever the number of cases: the latest submission per case with the
    anti-join, then the approvals of those cases' current rounds.
    """
    latest = (
        select(CaseEvent.case_id, func.max(CaseEvent.id).label("event_id"))
        .where(CaseEvent.event == "submit")
        .group_by(CaseEvent.case_id)
        .subquery()
    )
    reason = literal("case.waiting#").concat(cast(latest.c.event_id, String))
    rows = list(
        s.execute(
            select(
                Case.id,
                Case.org_id,
                Case.approval_steps,
                Case.approval_round,
                latest.c.event_id,
                CaseEvent.at,
            )
            .join(latest, latest.c.case_id == Case.id)
            .join(CaseEvent, CaseEvent.id == latest.c.event_id)
            .where(
                Case.state == State.PENDING_APPROVAL,
                CaseEvent.at <= submitted_before,
                ~_recorded(CASE, Case.id, reason),
            )
        )
    )
    approved: dict[tuple[int, int], set[str]] = {}
    for part in chunks(sorted(r[0] for r in rows)):
        for case_id, round_, step in s.execute(
            select(Approval.case_id, Approval.round, Approval.step).where(
                Approval.case_id.in_(part), Approval.approved.is_(True)
            )
        ):
            approved.setdefault((case_id, round_), set()).add(step)
    out: list[Waiting] = []
    for case_id, org_id, steps, round_, event_id, at in rows:
        done = approved.get((case_id, round_), set())
        wanted = tuple(p for p in (x.strip() for x in steps.split(",")) if p and p not in done)
        if wanted:
            out.append(Waiting(case_id, org_id, event_id, at, wanted))
    return out


@dataclass(frozen=True)
class CaseComment:
    comment_id: int
    case_id: int
    actor: str
    at: datetime
    by_operator: bool  # cert services answered (else the agency asked)


def _is_operator(s: Session, actor: str) -> bool:
    kind, _, name = actor.partition(":")
    if kind == "user":
        org = s.execute(select(User.org_id).where(User.login_id == name)).first()
        return org is not None and org[0] is None
    if kind == "token":
        org = s.execute(select(ApiToken.org_id).where(ApiToken.prefix == name)).first()
        return org is not None and org[0] is None
    return True  # the local CLI (cli:operator) and the worker act for cert services


def comment_candidates(s: Session, since: datetime) -> list[CaseComment]:
    """Comments since ``since`` with no question/answer notice yet."""
    rows = s.execute(
        select(Comment.id, Comment.case_id, Comment.actor, Comment.at)
        .where(
            Comment.at >= since,
            ~exists().where(
                Notice.subject_type == CASE,
                Notice.subject_id == Comment.case_id,
                Notice.reason.in_(
                    [
                        literal("case.question#").concat(cast(Comment.id, String)),
                        literal("case.answered#").concat(cast(Comment.id, String)),
                    ]
                ),
            ),
        )
        .order_by(Comment.id)
    )
    return [CaseComment(i, c, a, at, _is_operator(s, a)) for i, c, a, at in rows]


def started_candidates(s: Session, since: datetime) -> list[tuple[int, int, datetime]]:
    """(event id, case id, at) of "work started" events since ``since`` without a notice."""
    reason = literal("case.started#").concat(cast(CaseEvent.id, String))
    rows = s.execute(
        select(CaseEvent.id, CaseEvent.case_id, CaseEvent.at).where(
            CaseEvent.event == "start",
            CaseEvent.at >= since,
            ~_recorded(CASE, CaseEvent.case_id, reason),
        )
    )
    return [(i, c, at) for i, c, at in rows]


@dataclass(frozen=True)
class ContactChange:
    """One audited change of an organization's contacts (issue 14)."""

    seq: int
    org_id: int
    at: datetime


def contact_change_candidates(
    s: Session, actions: Sequence[str], since: datetime
) -> list[ContactChange]:
    """The audited contact changes an agency made since ``since`` without a notice to cert
    services (a change cert services made itself is no news to it)."""
    found = s.execute(
        select(AuditRow.seq, AuditRow.at, AuditRow.summary, AuditRow.actor)
        .where(AuditRow.action.in_(actions), AuditRow.at >= since)
        .order_by(AuditRow.seq)
    ).all()
    rows = [(seq, at, summary) for seq, at, summary, actor in found if not _is_operator(s, actor)]
    if not rows:
        return []
    codes: dict[int, str] = {}
    for seq, _, summary in rows:
        code = json.loads(summary).get("organization") if summary else None
        if isinstance(code, str):
            codes[seq] = code
    ids = dict(
        s.execute(
            select(Organization.code, Organization.id).where(
                Organization.code.in_(sorted(set(codes.values())))
            )
        ).all()
    )
    reasons = [f"contact.changed#{seq}" for seq in codes]
    done: set[tuple[int, str]] = set()
    for part in chunks(reasons):
        done.update(
            s.execute(
                select(Notice.subject_id, Notice.reason).where(
                    Notice.subject_type == ORGANIZATION, Notice.reason.in_(part)
                )
            ).all()
        )
    out: list[ContactChange] = []
    for seq, at, _ in rows:
        org_id = ids.get(codes.get(seq, ""))
        if org_id is not None and (org_id, f"contact.changed#{seq}") not in done:
            out.append(ContactChange(seq, org_id, at))
    return out


def audit_rows(s: Session, seqs: Sequence[int]) -> dict[int, AuditRow]:
    out: dict[int, AuditRow] = {}
    for part in chunks(list(seqs)):
        out.update({r.seq: r for r in s.scalars(select(AuditRow).where(AuditRow.seq.in_(part)))})
    return out


def renewal_candidates(s: Session, reason: str, since: datetime) -> list[tuple[int, datetime]]:
    """(case id, opened at) of renewal cases opened since ``since`` without a notice."""
    rows = s.execute(
        select(Case.id, Case.created_at).where(
            Case.type == "renewal",
            Case.created_at >= since,
            Case.state.not_in((State.CANCELLED, State.DRAFT)),
            ~_recorded(CASE, Case.id, reason),
        )
    )
    return [(i, at) for i, at in rows]


def revoked_candidates(s: Session, reason: str, since: datetime) -> list[tuple[int, int, datetime]]:
    """(certificate id, organization id, revoked at) of certificates revoked since ``since``
    (a renewal's superseded predecessor is not news) without a notice."""
    rows = s.execute(
        select(CertificateRow.id, CertificateRow.org_id, CertificateRow.revoked_at).where(
            CertificateRow.status == CertStatus.REVOKED,
            CertificateRow.revoked_at >= since,
            ~_recorded(CERTIFICATE, CertificateRow.id, reason),
        )
    )
    return [(i, org, at) for i, org, at in rows if at is not None]


@dataclass(frozen=True)
class PasswordHolder:
    user_id: int
    name: str
    email: str
    changed_at: datetime
    recorded: frozenset[str]


def password_holders(
    s: Session, changed_before: datetime, changed_after: datetime
) -> list[PasswordHolder]:
    """Enabled people whose password was set between ``changed_after`` and ``changed_before``
    (so it expires soon, and has not yet), with the password warnings recorded for them."""
    rows = list(
        s.execute(
            select(User.id, User.name, User.email, User.password_changed_at).where(
                User.disabled.is_(False),
                User.password_hash.is_not(None),
                User.password_changed_at.is_not(None),
                User.password_changed_at <= changed_before,
                User.password_changed_at > changed_after,
            )
        )
    )
    recorded: dict[int, set[str]] = {r[0]: set() for r in rows}
    for part in chunks(sorted(recorded)):
        for subject_id, reason in s.execute(
            select(Notice.subject_id, Notice.reason).where(
                Notice.subject_type == PERSON, Notice.subject_id.in_(part)
            )
        ):
            recorded[subject_id].add(reason)
    return [
        PasswordHolder(i, name, email, changed, frozenset(recorded[i]))
        for i, name, email, changed in rows
        if changed is not None
    ]


def users(s: Session, ids: Sequence[int]) -> dict[int, User]:
    out: dict[int, User] = {}
    for part in chunks(sorted(ids)):
        out.update({u.id: u for u in s.scalars(select(User).where(User.id.in_(part)))})
    return out


def comments(s: Session, ids: Sequence[int]) -> dict[int, Comment]:
    out: dict[int, Comment] = {}
    for part in chunks(sorted(ids)):
        out.update({c.id: c for c in s.scalars(select(Comment).where(Comment.id.in_(part)))})
    return out
