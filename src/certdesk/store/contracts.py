"""Vendor contracts of cert services, and the inventory counts their licences come from."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from certdesk.core.certificates import CertStatus
from certdesk.store.models import CertificateRow, Issuer, User, UserRole, VendorContract


def add(s: Session, row: VendorContract) -> VendorContract:
    s.add(row)
    s.flush()
    return row


def every(s: Session) -> list[VendorContract]:
    """All contracts, the one ending first first."""
    return list(
        s.scalars(select(VendorContract).order_by(VendorContract.ends_on, VendorContract.id))
    )


def by_number(s: Session, number: str, *, for_update: bool = False) -> VendorContract | None:
    q = select(VendorContract).where(func.lower(VendorContract.number) == number.strip().lower())
    if for_update:
        q = q.with_for_update()
    return s.scalars(q).one_or_none()


def by_id(s: Session, contract_id: int, *, for_update: bool = False) -> VendorContract | None:
    q = select(VendorContract).where(VendorContract.id == contract_id)
    if for_update:
        q = q.with_for_update()
    return s.scalars(q).one_or_none()


def ending_by(s: Session, last_day: date, first_day: date) -> list[int]:
    """Contracts ending between ``first_day`` and ``last_day`` (both included)."""
    return list(
        s.scalars(
            select(VendorContract.id)
            .where(VendorContract.ends_on >= first_day, VendorContract.ends_on <= last_day)
            .order_by(VendorContract.id)
        )
    )


def certificates_in_force(s: Session, issuer_ids: Sequence[int]) -> dict[int, int]:
    """Issuer id → its certificates in force (active), the licences they hold."""
    if not issuer_ids:
        return {}
    rows = s.execute(
        select(CertificateRow.issuer_id, func.count())
        .where(
            CertificateRow.issuer_id.in_(list(issuer_ids)),
            CertificateRow.status == CertStatus.ACTIVE,
        )
        .group_by(CertificateRow.issuer_id)
    )
    return {issuer_id: n for issuer_id, n in rows}


def issuer_slugs(s: Session, issuer_ids: Sequence[int]) -> dict[int, str]:
    if not issuer_ids:
        return {}
    rows = s.execute(select(Issuer.id, Issuer.slug).where(Issuer.id.in_(list(issuer_ids))))
    return {i: slug for i, slug in rows}


def operator_addresses(s: Session) -> list[str]:
    """The email of every enabled cert services (operator) account."""
    rows = s.scalars(
        select(User.email)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == "operator", User.disabled.is_(False))
        .order_by(User.id)
    )
    return list(dict.fromkeys(rows))
