"""R9 notices in SQL: what is due but not yet recorded, and whom to tell.

The ``notices`` table is both the exactly-once record and certdesk's one mail queue (its
inserts, claims and outcomes: :mod:`certdesk.store.mail_queue`); this module names the kinds
of rows it holds. The "what is due" queries are anti-joins against that table, so a pass
reads only subjects with something new: a certificate is looked at for ``expiry.N`` when it
is within N days of its expiry, was tracked for longer than that, and has no ``expiry.N`` row
yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, String, and_, case, cast, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from certdesk.core.certificates import CertStatus
from certdesk.core.workflow import State
from certdesk.store.models import (
    Case,
    CaseEvent,
    CertificateRow,
    Contact,
    Notice,
    Submittal,
    SubmittalContact,
)

CERTIFICATE, CASE, ACCOUNT, PERSON = "certificate", "case", "account", "person"
# A notice to cert services about a vendor's order (R16), stored as written like account mail.
VENDOR = "vendor"
# An organization (its contacts changed: the notice to cert services, issue 14).
ORGANIZATION = "organization"
# The subject types whose rows are stored messages, sent by the stored-mail sender.
STORED_MESSAGES = (ACCOUNT, VENDOR)
# The subject types of R9 notices (rendered from templates when sent; ``person``: a warning
# to one person, R10); ``account`` and ``vendor`` rows are stored messages.
NOTICE_SUBJECTS = (CERTIFICATE, CASE, PERSON, ORGANIZATION)
# Certificates that still get expiry notices: revoked ones (including superseded) do not.
NOTICE_CERT_STATUSES = (CertStatus.ACTIVE, CertStatus.EXPIRED)
# R5: cases still being worked can be overdue.
WORKING_STATES = (State.APPROVED, State.IN_PROGRESS)
_CHUNK = 500  # ids per IN (...) list

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = _CHUNK) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _recorded(subject_type: str, subject_id: Any, reason: Any) -> ColumnElement[bool]:
    """A notice row exists for (subject, reason), whoever it went to."""
    return exists().where(
        Notice.subject_type == subject_type,
        Notice.subject_id == subject_id,
        Notice.reason == reason,
    )


def _tracked_from() -> ColumnElement[datetime]:
    # When certdesk started tracking the certificate: the time it was stored (issued or
    # imported), else its notBefore.
    return func.coalesce(CertificateRow.issued_at, CertificateRow.not_before)


def _span_over(s: Session, days: int) -> ColumnElement[bool]:
    """``not_after`` is more than ``days`` days after the certificate was first tracked.

    A coarse filter (the exact rule is :func:`certdesk.core.lifecycle.expiry_notices_due`):
    it keeps certificates too short for a threshold (a 47-day certificate and its 60- and
    90-day notices) from being read again on every pass. SQLite stores UTC datetimes as text
    and compares them as Julian days; PostgreSQL subtracts timestamps.
    """
    if s.get_bind().dialect.name == "sqlite":
        span = func.julianday(CertificateRow.not_after) - func.julianday(_tracked_from())
        return span > days
    return CertificateRow.not_after - _tracked_from() > timedelta(days=days)


# --- what is due ---------------------------------------------------------------------------


def expiry_candidates(s: Session, reason: str, days: int, now: datetime) -> list[int]:
    """Certificates that may owe ``reason`` (``expiry.<days>``) at ``now`` and have no row.

    The moment is ``days`` calendar days before expiry at Pacific wall-clock time, which is
    within an hour of ``days`` times 24 hours: a day of slack on each side keeps the filter safe.
    """
    q = select(CertificateRow.id).where(
        CertificateRow.status.in_(NOTICE_CERT_STATUSES),
        CertificateRow.not_after <= now + timedelta(days=days + 1),
        _span_over(s, days - 1),
        ~_recorded(CERTIFICATE, CertificateRow.id, reason),
    )
    return list(s.scalars(q))


def expired_candidates(s: Session, reason: str, now: datetime) -> list[int]:
    """Certificates past their notAfter without an ``expired`` row."""
    q = select(CertificateRow.id).where(
        CertificateRow.status.in_(NOTICE_CERT_STATUSES),
        CertificateRow.not_after < now,
        ~_recorded(CERTIFICATE, CertificateRow.id, reason),
    )
    return list(s.scalars(q))


@dataclass(frozen=True)
class CertFacts:
    id: int
    serial: str
    names: tuple[str, ...]
    org_id: int
    status: str
    not_after: datetime
    tracked_from: datetime


def cert_facts(s: Session, ids: Sequence[int]) -> list[CertFacts]:
    out: list[CertFacts] = []
    for part in chunks(sorted(ids)):
        rows = s.execute(
            select(
                CertificateRow.id,
                CertificateRow.serial,
                CertificateRow.names,
                CertificateRow.org_id,
                CertificateRow.status,
                CertificateRow.not_after,
                _tracked_from(),
            ).where(CertificateRow.id.in_(part))
        )
        out += [
            CertFacts(i, serial, tuple(names.split(",")), org, status, end, start)
            for i, serial, names, org, status, end, start in rows
        ]
    return out


def recorded_reasons(s: Session, subject_type: str, ids: Sequence[int]) -> dict[int, set[str]]:
    """Subject id → the reasons already recorded for it (for any contact)."""
    out: dict[int, set[str]] = {i: set() for i in ids}
    for part in chunks(sorted(ids)):
        rows = s.execute(
            select(Notice.subject_id, Notice.reason)
            .where(Notice.subject_type == subject_type, Notice.subject_id.in_(part))
            .distinct()
        )
        for subject_id, reason in rows:
            out[subject_id].add(reason)
    return out


@dataclass(frozen=True)
class EventFacts:
    event_id: int
    case_id: int
    event: str
    to_state: str
    at: datetime


def _event_reason_sql() -> ColumnElement[str]:
    # The SQL twin of certdesk.core.notices.case_event_reason, for the anti-join.
    family = case(
        (CaseEvent.event == "submit", literal("case.submitted#")),
        (CaseEvent.event == "reject", literal("case.rejected#")),
        (CaseEvent.event == "fulfil", literal("case.delivered#")),
        else_=literal("case.approved#"),
    )
    return family.concat(cast(CaseEvent.id, String))


def case_event_candidates(s: Session) -> list[EventFacts]:
    """Case history events that are mailed (R9) and have no notice row yet."""
    mailed = or_(
        CaseEvent.event.in_(("submit", "reject", "fulfil")),
        and_(CaseEvent.event.in_(("approve", "route")), CaseEvent.to_state == State.APPROVED),
    )
    rows = s.execute(
        select(CaseEvent.id, CaseEvent.case_id, CaseEvent.event, CaseEvent.to_state, CaseEvent.at)
        .where(mailed, ~_recorded(CASE, CaseEvent.case_id, _event_reason_sql()))
        .order_by(CaseEvent.id)
    )
    return [EventFacts(*row) for row in rows]


def overdue_candidates(s: Session, reason: str, today: date) -> list[tuple[int, date]]:
    """(case id, due date) of cases being worked past their due date, not yet noticed."""
    rows = s.execute(
        select(Case.id, Case.due_date).where(
            Case.state.in_(WORKING_STATES),
            Case.due_date.is_not(None),
            Case.due_date < today,
            ~_recorded(CASE, Case.id, reason),
        )
    )
    return [(case_id, due) for case_id, due in rows if due is not None]


def window_candidates(
    s: Session, reason: str, latest_end: datetime
) -> list[tuple[int, datetime, datetime | None]]:
    """(case id, window end, closed at) of delivered cases whose window ends by
    ``latest_end`` and that have no "window closing" row.

    A case closed before its window ended (by the agency or cert services) needs no warning;
    one closed by the worker when the window ran out still gets it, late.
    """
    rows = s.execute(
        select(Case.id, Case.window_ends_at, Case.closed_at).where(
            Case.window_ends_at.is_not(None),
            Case.window_ends_at <= latest_end,
            or_(Case.state == State.DELIVERED, Case.closed_at >= Case.window_ends_at),
            ~_recorded(CASE, Case.id, reason),
        )
    )
    return [(case_id, end, closed) for case_id, end, closed in rows if end is not None]


# --- recipients ------------------------------------------------------------------------------


def submittal_contacts_of_certs(
    s: Session, cert_ids: Sequence[int]
) -> dict[int, list[tuple[str, str]]]:
    """Certificate id → (name, email) of the contacts on the submittals that got it."""
    return _submittal_contacts(s, Submittal.certificate_id, cert_ids)


def submittal_contacts_of_cases(
    s: Session, case_ids: Sequence[int]
) -> dict[int, list[tuple[str, str]]]:
    """Case id → (name, email) of the contacts on the case's submittals."""
    return _submittal_contacts(s, Submittal.case_id, case_ids)


def _submittal_contacts(
    s: Session, key: Any, ids: Sequence[int]
) -> dict[int, list[tuple[str, str]]]:
    """``key`` (a submittal column) → (name, email) of the contacts on those submittals."""
    out: dict[int, list[tuple[str, str]]] = {i: [] for i in ids}
    for part in chunks(sorted(ids)):
        rows = s.execute(
            select(key, Contact.name, Contact.email)
            .join(SubmittalContact, SubmittalContact.submittal_id == Submittal.id)
            .join(Contact, Contact.id == SubmittalContact.contact_id)
            .where(key.in_(part))
            .order_by(Submittal.id, Contact.id)
        )
        for owner, name, email in rows:
            if owner is not None:
                out[owner].append((name, email))
    return out


def org_contacts(s: Session, org_ids: Iterable[int]) -> dict[int, list[tuple[str, str]]]:
    """Organization id → (name, email) of its organization-level contacts."""
    ids = sorted(set(org_ids))
    out: dict[int, list[tuple[str, str]]] = {i: [] for i in ids}
    for part in chunks(ids):
        rows = s.execute(
            select(Contact.org_id, Contact.name, Contact.email)
            .where(Contact.org_id.in_(part), Contact.org_wide)
            .order_by(Contact.id)
        )
        for org_id, name, email in rows:
            out[org_id].append((name, email))
    return out


def case_orgs(s: Session, case_ids: Sequence[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for part in chunks(sorted(case_ids)):
        out.update(dict(s.execute(select(Case.id, Case.org_id).where(Case.id.in_(part))).all()))
    return out
