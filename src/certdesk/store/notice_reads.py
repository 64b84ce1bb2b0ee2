"""Reading recorded notices: what rendering needs about their subjects, and the listings.

The queries that decide what is due are in :mod:`certdesk.store.notices`, the claims in
:mod:`certdesk.store.mail_queue`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from certdesk.core.certificates import BOOKKEEPING
from certdesk.core.notices import LISTED_STATES, NoticeState, shown_state
from certdesk.store.models import (
    Case,
    CaseEvent,
    CertificateRow,
    Contact,
    Notice,
    Organization,
    User,
)
from certdesk.store.notices import (
    CASE,
    CERTIFICATE,
    NOTICE_SUBJECTS,
    ORGANIZATION,
    PERSON,
    chunks,
)

# --- context for rendering -------------------------------------------------------------------


def certificates(s: Session, ids: Sequence[int]) -> dict[int, CertificateRow]:
    out: dict[int, CertificateRow] = {}
    for part in chunks(sorted(set(ids))):
        out.update(
            {c.id: c for c in s.scalars(select(CertificateRow).where(CertificateRow.id.in_(part)))}
        )
    return out


def cases(s: Session, ids: Sequence[int]) -> dict[int, Case]:
    out: dict[int, Case] = {}
    for part in chunks(sorted(set(ids))):
        out.update({c.id: c for c in s.scalars(select(Case).where(Case.id.in_(part)))})
    return out


def events(s: Session, ids: Sequence[int]) -> dict[int, CaseEvent]:
    out: dict[int, CaseEvent] = {}
    for part in chunks(sorted(set(ids))):
        out.update({e.id: e for e in s.scalars(select(CaseEvent).where(CaseEvent.id.in_(part)))})
    return out


def certificates_of_cases(s: Session, case_ids: Sequence[int]) -> dict[int, list[CertificateRow]]:
    """Case id → the certificates it delivered (in the inventory), oldest first."""
    out: dict[int, list[CertificateRow]] = {i: [] for i in case_ids}
    for part in chunks(sorted(set(case_ids))):
        rows = s.scalars(
            select(CertificateRow)
            .where(
                CertificateRow.case_id.in_(part),
                CertificateRow.status.not_in(BOOKKEEPING),
            )
            .order_by(CertificateRow.id)
        )
        for row in rows:
            assert row.case_id is not None
            out[row.case_id].append(row)
    return out


def organizations(s: Session, ids: Iterable[int]) -> dict[int, Organization]:
    wanted = sorted(set(ids))
    out: dict[int, Organization] = {}
    for part in chunks(wanted):
        out.update(
            {o.id: o for o in s.scalars(select(Organization).where(Organization.id.in_(part)))}
        )
    return out


def contact_names(s: Session, org_ids: Iterable[int]) -> dict[tuple[int, str], str]:
    """(organization id, lower-cased email) → the contact's name, for greetings."""
    out: dict[tuple[int, str], str] = {}
    for part in chunks(sorted(set(org_ids))):
        rows = s.execute(
            select(Contact.org_id, Contact.email, Contact.name)
            .where(Contact.org_id.in_(part))
            .order_by(Contact.id.desc())
        )
        for org_id, email, name in rows:
            out[(org_id, email.strip().lower())] = name  # the oldest contact's name wins
    return out


# --- listing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeQuery:
    org_id: int | None = None
    cert_id: int | None = None
    case_id: int | None = None
    status: str | None = None  # pending | retrying | sending | sent | failed
    before_id: int | None = None
    limit: int = 100


def _org_of_subject() -> ColumnElement[int]:
    cert_org = (
        select(CertificateRow.org_id)
        .where(Notice.subject_type == CERTIFICATE, CertificateRow.id == Notice.subject_id)
        .scalar_subquery()
    )
    case_org = (
        select(Case.org_id)
        .where(Notice.subject_type == CASE, Case.id == Notice.subject_id)
        .scalar_subquery()
    )
    org = (
        select(Organization.id)
        .where(Notice.subject_type == ORGANIZATION, Organization.id == Notice.subject_id)
        .scalar_subquery()
    )
    return func.coalesce(cert_org, case_org, org)


def search(s: Session, q: NoticeQuery) -> list[Notice]:
    """Newest first, in keyset pages (R9 notices; account mail is not listed here)."""
    stmt = select(Notice).where(Notice.subject_type.in_(NOTICE_SUBJECTS))
    if q.org_id is not None:
        stmt = stmt.where(_org_of_subject() == q.org_id)
    if q.cert_id is not None:
        stmt = stmt.where(Notice.subject_type == CERTIFICATE, Notice.subject_id == q.cert_id)
    if q.case_id is not None:
        stmt = stmt.where(Notice.subject_type == CASE, Notice.subject_id == q.case_id)
    if q.status == NoticeState.RETRYING:
        stmt = stmt.where(Notice.status == NoticeState.PENDING, Notice.last_error != "")
    elif q.status == NoticeState.PENDING:
        stmt = stmt.where(Notice.status == NoticeState.PENDING, Notice.last_error == "")
    elif q.status is not None:
        stmt = stmt.where(Notice.status == q.status)
    if q.before_id is not None:
        stmt = stmt.where(Notice.id < q.before_id)
    return list(s.scalars(stmt.order_by(Notice.id.desc()).limit(q.limit)))


def subject_labels(s: Session, rows: Sequence[Notice]) -> dict[tuple[str, int], str]:
    """(subject type, id) → the certificate's serial or the case's number."""
    cert_ids = [n.subject_id for n in rows if n.subject_type == CERTIFICATE]
    case_ids = [n.subject_id for n in rows if n.subject_type == CASE]
    out: dict[tuple[str, int], str] = {}
    for part in chunks(sorted(set(cert_ids))):
        for i, serial in s.execute(
            select(CertificateRow.id, CertificateRow.serial).where(CertificateRow.id.in_(part))
        ):
            out[(CERTIFICATE, i)] = serial
    for part in chunks(sorted(set(case_ids))):
        for i, number in s.execute(select(Case.id, Case.number).where(Case.id.in_(part))):
            out[(CASE, i)] = number
    person_ids = [n.subject_id for n in rows if n.subject_type == PERSON]
    for part in chunks(sorted(set(person_ids))):
        for i, login in s.execute(select(User.id, User.login_id).where(User.id.in_(part))):
            out[(PERSON, i)] = login
    org_ids = sorted({n.subject_id for n in rows if n.subject_type == ORGANIZATION})
    for part in chunks(org_ids):
        for i, code in s.execute(
            select(Organization.id, Organization.code).where(Organization.id.in_(part))
        ):
            out[(ORGANIZATION, i)] = code
    return out


def status_counts(s: Session) -> dict[str, int]:
    """Notices by status; ``pending`` rows that failed before are counted as ``retrying``."""
    has_error = Notice.last_error != ""
    notices = Notice.subject_type.in_(NOTICE_SUBJECTS)
    rows = s.execute(
        select(Notice.status, has_error, func.count())
        .where(notices)
        .group_by(Notice.status, has_error)
    )
    out: dict[str, int] = dict.fromkeys(LISTED_STATES, 0)
    for status, errored, n in rows:
        key = shown_state(status, "!" if errored else "")
        out[key] = out.get(key, 0) + n
    late = s.scalar(
        select(func.count())
        .select_from(Notice)
        .where(notices, Notice.status == NoticeState.SENT, Notice.late.is_(True))
    )
    out["sent_late"] = late or 0
    return out
