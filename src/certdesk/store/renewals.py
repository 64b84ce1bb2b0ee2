"""The renewal worker's queries (R6, RFC 9773): which certificates may be due for renewal,
their renewal cases, and the certificates their renewals replaced.

As in :mod:`certdesk.store.lifecycle`, candidates are read by indexed columns or bounded
ranges and the exact decision is taken by :mod:`certdesk.core.lifecycle`; every state change
is a conditional ``UPDATE`` whose row count tells the caller whether *this* transaction made
it (and must write the audit event).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, extract, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from certdesk.core.certificates import CertStatus
from certdesk.core.issuers import Backend
from certdesk.core.workflow import CaseType, State
from certdesk.store.models import Case, CaseEvent, CertificateRow, Issuer, Organization

# A case in neither state is still being worked (a delivered one in its R8 window too).
FINISHED_STATES = (State.CLOSED, State.CANCELLED)

_UNIX_EPOCH_JULIAN_DAY = 2440587.5


def _epoch_seconds(s: Session, column: Any) -> ColumnElement[Any]:
    """``column`` as seconds since 1970 on either backend (for arithmetic between columns)."""
    if s.get_bind().dialect.name == "postgresql":
        return extract("epoch", column)
    # SQLite stores UTC as ``YYYY-MM-DD HH:MM:SS.ffffff`` text, which julianday() reads.
    return (func.julianday(column) - _UNIX_EPOCH_JULIAN_DAY) * 86400.0


# --- renewal (R6) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RenewalCandidate:
    """A certificate whose renewal may be due; core.lifecycle.renewal_plan decides."""

    id: int
    serial: str
    org_id: int
    not_before: datetime
    not_after: datetime
    case_id: int


_CANDIDATE_COLUMNS = (
    CertificateRow.id,
    CertificateRow.serial,
    CertificateRow.org_id,
    CertificateRow.not_before,
    CertificateRow.not_after,
    CertificateRow.case_id,
)


def _renewable(now: datetime) -> list[ColumnElement[bool]]:
    # Only certificates delivered through a case renew through a case: a certificate issued
    # directly (a delegated administrator, an ACME client, an operator's script) is renewed
    # by whoever issued it, who gets the notices (R9). An active certificate past notAfter
    # is about to be marked expired, not renewed.
    return [
        CertificateRow.status == CertStatus.ACTIVE,
        CertificateRow.renewal_case_id.is_(None),
        CertificateRow.case_id.is_not(None),
        CertificateRow.not_after > now,
    ]


def renewal_candidates(
    s: Session,
    now: datetime,
    *,
    turnaround_before: datetime,
    lifetime_fraction: float,
    after_id: int = 0,
    limit: int = 2000,
) -> list[RenewalCandidate]:
    """Renewable certificates whose renewal can have opened by ``now``: the next ``limit``
    by id after ``after_id`` (keyset pages, so a caller reads any number in bounded memory).

    A superset of the due ones, from two bounds that hold whatever the calendar:

    * the turnaround point (R5 + margin): due exactly for ``not_after < turnaround_before``
      (:func:`certdesk.core.lifecycle.turnaround_due_before`), an index range;
    * the lifetime point, ``notBefore + fraction * validity``, compared in SQL with a day of
      slack (the core decides to the second).

    A customer's requested date is the third reason (:func:`requested_renewals`).
    """
    nb = _epoch_seconds(s, CertificateRow.not_before)
    na = _epoch_seconds(s, CertificateRow.not_after)
    lifetime_bound = (now + timedelta(days=1)).astimezone(UTC).timestamp()
    stmt = (
        select(*_CANDIDATE_COLUMNS)
        .where(
            *_renewable(now),
            CertificateRow.id > after_id,
            or_(
                CertificateRow.not_after < turnaround_before,
                nb * (1 - lifetime_fraction) + na * lifetime_fraction <= lifetime_bound,
            ),
        )
        .order_by(CertificateRow.id)
        .limit(limit)
    )
    return [
        RenewalCandidate(r.id, r.serial, r.org_id, r.not_before, r.not_after, r.case_id)
        for r in s.execute(stmt)
    ]


def requested_renewals(s: Session, now: datetime) -> list[tuple[RenewalCandidate, date]]:
    """Renewable certificates whose delivering case carries a requested renewal date, with
    that date (``ix_cases_renewal_requested``: few cases carry one)."""
    stmt = (
        select(*_CANDIDATE_COLUMNS, Case.renewal_requested)
        .join(Case, Case.id == CertificateRow.case_id)
        .where(*_renewable(now), Case.renewal_requested.is_not(None))
        .order_by(CertificateRow.id)
    )
    return [
        (RenewalCandidate(r.id, r.serial, r.org_id, r.not_before, r.not_after, r.case_id), day)
        for r in s.execute(stmt)
        if (day := r.renewal_requested) is not None
    ]


def vendor_renewals(s: Session, now: datetime) -> list[tuple[RenewalCandidate, datetime]]:
    """Renewable certificates whose vendor asked for a renewal by now (RFC 9773), with the
    start of the vendor's window."""
    stmt = (
        select(*_CANDIDATE_COLUMNS, CertificateRow.vendor_renew_at)
        .where(*_renewable(now), CertificateRow.vendor_renew_at <= now)
        .order_by(CertificateRow.id)
    )
    return [
        (RenewalCandidate(r.id, r.serial, r.org_id, r.not_before, r.not_after, r.case_id), at)
        for r in s.execute(stmt)
        if (at := r.vendor_renew_at) is not None
    ]


def renewal_info_due(s: Session, now: datetime, limit: int) -> list[tuple[int, int, bytes]]:
    """(certificate id, issuer id, DER) of active vendor certificates whose renewal
    information is due to be asked (never asked, or its retry time has come)."""
    stmt = (
        select(CertificateRow.id, CertificateRow.issuer_id, CertificateRow.der)
        .join(Issuer, Issuer.id == CertificateRow.issuer_id)
        .where(
            Issuer.backend == Backend.ACME,
            CertificateRow.status == CertStatus.ACTIVE,
            CertificateRow.not_after > now,
            CertificateRow.der.is_not(None),
            or_(CertificateRow.vendor_info_at.is_(None), CertificateRow.vendor_info_at <= now),
        )
        .order_by(CertificateRow.vendor_info_at.is_not(None), CertificateRow.vendor_info_at)
        .limit(limit)
    )
    return [(r.id, r.issuer_id, r.der) for r in s.execute(stmt) if r.der is not None]


def set_renewal_info(
    s: Session, cert_id: int, *, renew_at: datetime | None, ask_again_at: datetime
) -> None:
    """Record what the vendor said: its window's start (None: no window) and the next ask."""
    s.execute(
        update(CertificateRow)
        .where(CertificateRow.id == cert_id)
        .values(vendor_renew_at=renew_at, vendor_info_at=ask_again_at)
    )


def open_renewal_case(s: Session, cert_id: int) -> Case | None:
    """An unfinished renewal case about certificate ``cert_id`` (opened by hand, or by a
    worker that died before linking it), oldest first."""
    return s.scalars(
        select(Case)
        .where(
            Case.target_cert_id == cert_id,
            Case.type == CaseType.RENEWAL,
            Case.state.not_in(FINISHED_STATES),
        )
        .order_by(Case.id)
        .limit(1)
    ).first()


def link_renewal(s: Session, cert_id: int, case_id: int) -> bool:
    """Record that ``case_id`` is certificate ``cert_id``'s renewal case, once (R6).

    True only for the transaction that set it. ``renewal_case_id`` is also unique, so no
    case can be the renewal of two certificates.
    """
    result = s.execute(
        update(CertificateRow)
        .where(CertificateRow.id == cert_id, CertificateRow.renewal_case_id.is_(None))
        .values(renewal_case_id=case_id)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class WorkerRenewal:
    """A renewal case the worker opened that still needs its next step."""

    number: str
    state: str
    auto_approve: bool


def renewals_to_advance(s: Session, opened_by: str) -> list[WorkerRenewal]:
    """Renewal cases ``opened_by`` the worker still in draft, or awaiting approval in an
    organization that approves unchanged renewals automatically (both cheap: by state)."""
    rows = s.execute(
        select(Case.number, Case.state, Organization.auto_approve_renewals)
        .join(Organization, Organization.id == Case.org_id)
        .where(
            Case.type == CaseType.RENEWAL,
            Case.opened_by == opened_by,
            or_(
                Case.state == State.DRAFT,
                and_(
                    Case.state == State.PENDING_APPROVAL,
                    Organization.auto_approve_renewals.is_(True),
                ),
            ),
        )
        .order_by(Case.id)
    )
    return [WorkerRenewal(r.number, r.state, bool(r.auto_approve_renewals)) for r in rows]


def edited(s: Session, case_id: int) -> bool:
    """Whether anyone revised the case after it was opened (an ``edit`` in its history)."""
    return (
        s.scalar(
            select(func.count())
            .select_from(CaseEvent)
            .where(CaseEvent.case_id == case_id, CaseEvent.event == "edit")
        )
        or 0
    ) > 0


@dataclass(frozen=True)
class Replacement:
    old_id: int
    old_serial: str
    new_serial: str


def replaced_certificates(s: Session, limit: int) -> list[Replacement]:
    """Active certificates whose renewal has been delivered: to be marked superseded.

    The replacement names the old one in ``renewal_of`` and is active, and it was delivered
    by a renewal case, or issued directly (a direct issuance is its own delivery). A
    replacement on the *same* case is an R8 reissue, and a ``change`` case's replacement is
    revoked at close (services/casework/reissue.py, closing.py); neither is handled here.
    """
    old = aliased(CertificateRow)
    new = aliased(CertificateRow)
    rows = s.execute(
        select(old.id, old.serial, new.serial)
        .join(new, new.renewal_of == old.id)
        .outerjoin(Case, Case.id == new.case_id)
        .where(
            old.status == CertStatus.ACTIVE,
            new.status == CertStatus.ACTIVE,
            or_(old.case_id.is_(None), new.case_id.is_(None), old.case_id != new.case_id),
            or_(
                new.case_id.is_(None),
                and_(Case.type == CaseType.RENEWAL, Case.delivered_at.is_not(None)),
            ),
        )
        .order_by(old.id)
        .limit(limit)
    )
    return [Replacement(r[0], r[1], r[2]) for r in rows]


def mark_superseded(s: Session, cert_id: int) -> bool:
    result = s.execute(
        update(CertificateRow)
        .where(CertificateRow.id == cert_id, CertificateRow.status == CertStatus.ACTIVE)
        .values(status=CertStatus.SUPERSEDED)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
