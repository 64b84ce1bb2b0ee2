"""The certificate inventory: finding certificates, their renewals and expiries, and the
revocations and retirements recorded on them.

How a certificate enters it (a ``signing`` intent, then the signed bytes; a vendor's arrival)
is :mod:`certdesk.store.issuance`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Connection, Table, bindparam, select, update
from sqlalchemy.orm import Session

from certdesk.core.certificates import BOOKKEEPING, CertStatus
from certdesk.store.models import Case, CertificateName, CertificateRow, Submittal

# On a Core connection, like the issuance hot path's statements (store/issuance.py): the
# intent checks a renewal's owner with it, in the intent's own transaction.
_CERTS = cast("Table", CertificateRow.__table__)
_OWNER_OF = select(_CERTS.c.id, _CERTS.c.org_id).where(_CERTS.c.serial == bindparam("serial"))


def owner_of(conn: Connection, serial: str) -> tuple[int, int] | None:
    """``(id, org_id)`` of the certificate with this serial, if there is one."""
    row = conn.execute(_OWNER_OF, {"serial": serial}).first()
    return None if row is None else (row.id, row.org_id)


def by_serial(s: Session, serial: str, *, for_update: bool = False) -> CertificateRow | None:
    q = select(CertificateRow).where(CertificateRow.serial == serial)
    if for_update:
        q = q.with_for_update()
    return s.scalars(q).one_or_none()


def revoked_of(s: Session, issuer_id: int) -> list[CertificateRow]:
    return list(
        s.scalars(
            select(CertificateRow)
            .where(
                CertificateRow.issuer_id == issuer_id, CertificateRow.status == CertStatus.REVOKED
            )
            .order_by(CertificateRow.id)
        )
    )


@dataclass(frozen=True)
class CertQuery:
    org_id: int | None = None
    name: str | None = None
    # Substring search, lower-case: a name containing it ("dmv.ca.gov" finds
    # www.dmv.ca.gov) or a serial containing it.
    text: str | None = None
    status: CertStatus | None = None
    expiring_before: datetime | None = None
    after_id: int | None = None  # keyset cursor: rows with a smaller id (newest first)
    limit: int = 100
    # "active" past notAfter counts as expired until the worker marks it: the SQL twin of
    # certdesk.core.certificates.status_at.
    now: datetime | None = None


def search(s: Session, q: CertQuery) -> list[CertificateRow]:
    """Newest first; ``after_id`` continues a previous page (keyset pagination)."""
    stmt = select(CertificateRow).order_by(CertificateRow.id.desc()).limit(q.limit)
    if q.org_id is not None:
        stmt = stmt.where(CertificateRow.org_id == q.org_id)
    if q.status is CertStatus.ACTIVE and q.now is not None:
        stmt = stmt.where(
            CertificateRow.status == CertStatus.ACTIVE, CertificateRow.not_after > q.now
        )
    elif q.status is CertStatus.EXPIRED and q.now is not None:
        stmt = stmt.where(
            (CertificateRow.status == CertStatus.EXPIRED)
            | ((CertificateRow.status == CertStatus.ACTIVE) & (CertificateRow.not_after <= q.now))
        )
    elif q.status is not None:
        stmt = stmt.where(CertificateRow.status == q.status)
    else:
        # Intents and voided serials are bookkeeping, not inventory.
        stmt = stmt.where(CertificateRow.status.not_in(BOOKKEEPING))
    if q.expiring_before is not None:
        stmt = stmt.where(CertificateRow.not_after <= q.expiring_before)
    if q.after_id is not None:
        stmt = stmt.where(CertificateRow.id < q.after_id)
    if q.name is not None:
        stmt = stmt.where(
            CertificateRow.id.in_(
                select(CertificateName.cert_id).where(CertificateName.name == q.name)
            )
        )
    if q.text:
        stmt = stmt.where(
            CertificateRow.id.in_(
                select(CertificateName.cert_id).where(
                    CertificateName.name.contains(q.text, autoescape=True)
                )
            )
            | CertificateRow.serial.contains(q.text, autoescape=True)
        )
    return list(s.scalars(stmt))


def revoked_since(s: Session, issuer_id: int, since: datetime) -> list[str]:
    """Serials of ``issuer_id`` revoked at or after ``since``."""
    return list(
        s.scalars(
            select(CertificateRow.serial).where(
                CertificateRow.issuer_id == issuer_id,
                CertificateRow.status == CertStatus.REVOKED,
                CertificateRow.revoked_at >= since,
            )
        )
    )


def expiries(s: Session, org_id: int | None, after: datetime, until: datetime) -> list[datetime]:
    """notAfter of the active certificates expiring in (after, until], of one org or all."""
    stmt = select(CertificateRow.not_after).where(
        CertificateRow.status == CertStatus.ACTIVE,
        CertificateRow.not_after > after,
        CertificateRow.not_after <= until,
    )
    if org_id is not None:
        stmt = stmt.where(CertificateRow.org_id == org_id)
    return list(s.scalars(stmt))


def soonest(
    s: Session, org_id: int | None, after: datetime, until: datetime, limit: int
) -> list[CertificateRow]:
    """The active certificates expiring in (after, until], soonest first."""
    stmt = (
        select(CertificateRow)
        .where(
            CertificateRow.status == CertStatus.ACTIVE,
            CertificateRow.not_after > after,
            CertificateRow.not_after <= until,
        )
        .order_by(CertificateRow.not_after, CertificateRow.id)
        .limit(limit)
    )
    if org_id is not None:
        stmt = stmt.where(CertificateRow.org_id == org_id)
    return list(s.scalars(stmt))


def renewals_of(s: Session, cert_id: int) -> list[CertificateRow]:
    """The certificates issued as renewals (or reissues) of ``cert_id``, oldest first;
    intents and voided serials excluded."""
    return list(
        s.scalars(
            select(CertificateRow)
            .where(
                CertificateRow.renewal_of == cert_id,
                CertificateRow.status.not_in(BOOKKEEPING),
            )
            .order_by(CertificateRow.id)
        )
    )


def delivering_case(s: Session, cert_id: int) -> str | None:
    """The number of the case whose submittal delivered certificate ``cert_id``, if any."""
    return s.scalar(
        select(Case.number)
        .join(Submittal, Submittal.case_id == Case.id)
        .where(Submittal.certificate_id == cert_id)
        .limit(1)
    )


def by_id(s: Session, cert_id: int) -> CertificateRow | None:
    return s.get(CertificateRow, cert_id)


def mark_revoked(row: CertificateRow, *, at: datetime, reason: str) -> None:
    """Record the revocation of ``row`` (locked by the caller, not revoked yet)."""
    row.status = CertStatus.REVOKED
    row.revoked_at = at
    row.revocation_reason = reason
    row.retire_at = None  # revoked: a scheduled retirement is done


def schedule_retirement(row: CertificateRow, at: datetime) -> None:
    """Revoke ``row`` (superseded) once ``at`` has passed: the worker's durable intent."""
    row.retire_at = at


def due_retirements(s: Session, now: datetime, limit: int = 100) -> list[str]:
    """Serials whose scheduled retirement is due, oldest first."""
    stmt = (
        select(CertificateRow.serial)
        .where(CertificateRow.retire_at.is_not(None), CertificateRow.retire_at <= now)
        .order_by(CertificateRow.retire_at, CertificateRow.id)
        .limit(limit)
    )
    return list(s.scalars(stmt))


def clear_retirement(s: Session, serial: str) -> None:
    """The retirement of ``serial`` happened (or was overtaken): forget the intent."""
    s.execute(update(CertificateRow).where(CertificateRow.serial == serial).values(retire_at=None))


def set_cost(row: CertificateRow, cents: int | None) -> None:
    """R11: what ``row`` costs its organization (None: self-managed, no cost recorded)."""
    row.cost_cents = cents


def of_case(s: Session, case_id: int) -> list[CertificateRow]:
    """Every certificate linked to the case, current and replaced, oldest first."""
    return list(
        s.scalars(
            select(CertificateRow)
            .where(CertificateRow.case_id == case_id)
            .order_by(CertificateRow.id)
        )
    )


def unlinked_candidates(
    s: Session, org_id: int, first_name: str, since: datetime
) -> list[CertificateRow]:
    """Active certificates of ``org_id`` naming ``first_name``, signed since ``since`` and
    linked to no case: where a fulfilment that crashed before linking left its certificate."""
    return list(
        s.scalars(
            select(CertificateRow)
            .where(
                CertificateRow.org_id == org_id,
                CertificateRow.case_id.is_(None),
                CertificateRow.status == CertStatus.ACTIVE,
                CertificateRow.signing_started_at >= since,
                CertificateRow.id.in_(
                    select(CertificateName.cert_id).where(CertificateName.name == first_name)
                ),
            )
            .order_by(CertificateRow.id)
        )
    )
