"""The certificate inventory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from certdesk.store.models import CertificateName, CertificateRow


def add_intent(s: Session, row: CertificateRow, names: Sequence[str]) -> None:
    """Record a reserved serial (status ``signing``) with its names, before anything is signed."""
    s.add(row)
    s.flush()
    s.add_all(CertificateName(cert_id=row.id, name=n) for n in dict.fromkeys(names))


def mark_active(
    s: Session, cert_id: int, *, der: bytes, fingerprint: str, issued_at: datetime
) -> bool:
    """Store the signed bytes; False when the intent is no longer ``signing`` (voided)."""
    result = s.execute(
        update(CertificateRow)
        .where(CertificateRow.id == cert_id, CertificateRow.status == "signing")
        .values(status="active", der=der, fingerprint_sha256=fingerprint, issued_at=issued_at)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def stale_intents(s: Session, started_before: datetime) -> list[CertificateRow]:
    return list(
        s.scalars(
            select(CertificateRow)
            .where(
                CertificateRow.status == "signing",
                CertificateRow.signing_started_at < started_before,
            )
            .with_for_update()
        )
    )


def by_serial(s: Session, serial: str, *, for_update: bool = False) -> CertificateRow | None:
    q = select(CertificateRow).where(CertificateRow.serial == serial)
    if for_update:
        q = q.with_for_update()
    return s.scalars(q).one_or_none()


def revoked_of(s: Session, issuer_id: int) -> list[CertificateRow]:
    return list(
        s.scalars(
            select(CertificateRow)
            .where(CertificateRow.issuer_id == issuer_id, CertificateRow.status == "revoked")
            .order_by(CertificateRow.id)
        )
    )


@dataclass(frozen=True)
class CertQuery:
    org_id: int | None = None
    name: str | None = None
    status: str | None = None
    expiring_before: datetime | None = None
    after_id: int | None = None  # keyset cursor: rows with a smaller id (newest first)
    limit: int = 100
    now: datetime | None = (
        None  # "active" past notAfter counts as expired until the worker marks it
    )


def search(s: Session, q: CertQuery) -> list[CertificateRow]:
    """Newest first; ``after_id`` continues a previous page (keyset pagination)."""
    stmt = select(CertificateRow).order_by(CertificateRow.id.desc()).limit(q.limit)
    if q.org_id is not None:
        stmt = stmt.where(CertificateRow.org_id == q.org_id)
    if q.status == "active" and q.now is not None:
        stmt = stmt.where(CertificateRow.status == "active", CertificateRow.not_after > q.now)
    elif q.status == "expired" and q.now is not None:
        stmt = stmt.where(
            (CertificateRow.status == "expired")
            | ((CertificateRow.status == "active") & (CertificateRow.not_after <= q.now))
        )
    elif q.status is not None:
        stmt = stmt.where(CertificateRow.status == q.status)
    else:
        # Intents and voided serials are bookkeeping, not inventory.
        stmt = stmt.where(CertificateRow.status.not_in(("signing", "void")))
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
    return list(s.scalars(stmt))


def revoked_since(s: Session, issuer_id: int, since: datetime) -> list[str]:
    """Serials of ``issuer_id`` revoked at or after ``since``."""
    return list(
        s.scalars(
            select(CertificateRow.serial).where(
                CertificateRow.issuer_id == issuer_id,
                CertificateRow.status == "revoked",
                CertificateRow.revoked_at >= since,
            )
        )
    )
