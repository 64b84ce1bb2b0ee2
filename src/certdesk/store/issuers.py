"""Issuers: the built-in CA certificates (``local``) and vendor CAs (``acme``).

Readers of the built-in hierarchy get :class:`LocalCa`, whose every column is set; a vendor
row leaves the key file, certificate and validity empty and is read through
:mod:`certdesk.store.vendors`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from certdesk.core.issuers import Backend
from certdesk.store.models import Issuer, VendorOrder


@dataclass(frozen=True)
class LocalCa:
    """A certificate of the built-in hierarchy (root or issuing intermediate)."""

    id: int
    slug: str
    name: str
    is_root: bool
    parent_id: int | None
    key_type: str
    key_file: str
    cert_der: bytes
    not_before: datetime
    not_after: datetime
    active: bool


def _local(row: Issuer | None) -> LocalCa | None:
    if row is None or row.backend is not Backend.LOCAL:
        return None
    if (
        row.key_type is None
        or row.key_file is None
        or row.cert_der is None
        or row.not_before is None
        or row.not_after is None
    ):
        raise ValueError(f"built-in CA row {row.slug!r} lacks its key file or certificate")
    return LocalCa(
        id=row.id,
        slug=row.slug,
        name=row.name,
        is_root=row.is_root,
        parent_id=row.parent_id,
        key_type=row.key_type,
        key_file=row.key_file,
        cert_der=row.cert_der,
        not_before=row.not_before,
        not_after=row.not_after,
        active=row.active,
    )


_LOCAL = Issuer.backend == Backend.LOCAL


def active_intermediate(s: Session) -> LocalCa | None:
    return _local(
        s.scalars(
            select(Issuer)
            .where(_LOCAL, Issuer.is_root.is_(False), Issuer.active.is_(True))
            .order_by(Issuer.id.desc())
        ).first()
    )


def by_slug(s: Session, slug: str) -> LocalCa | None:
    """The built-in CA ``slug`` (None for an unknown slug or a vendor's)."""
    return _local(s.scalars(select(Issuer).where(Issuer.slug == slug)).one_or_none())


def by_id(s: Session, issuer_id: int) -> LocalCa | None:
    """The built-in CA with this id (None for an unknown id or a vendor's)."""
    return _local(s.get(Issuer, issuer_id))


def all_issuers(s: Session) -> list[LocalCa]:
    """Every certificate of the built-in hierarchy, oldest first."""
    rows = s.scalars(select(Issuer).where(_LOCAL).order_by(Issuer.id))
    return [ca for ca in map(_local, rows) if ca is not None]


def slugs(s: Session) -> dict[int, str]:
    """Every issuer's id and slug, vendors included (a certificate shows its issuer)."""
    return {row.id: row.slug for row in s.execute(select(Issuer.id, Issuer.slug))}


def add_local(
    s: Session,
    *,
    slug: str,
    name: str,
    parent_id: int | None,
    key_type: str,
    key_file: str,
    cert_der: bytes,
    not_before: datetime,
    not_after: datetime,
    now: datetime,
) -> LocalCa:
    """Record a new certificate of the built-in hierarchy (active from now on)."""
    row = Issuer(
        slug=slug,
        name=name,
        backend=Backend.LOCAL,
        is_root=parent_id is None,
        parent_id=parent_id,
        key_type=key_type,
        key_file=key_file,
        cert_der=cert_der,
        not_before=not_before,
        not_after=not_after,
        active=True,
        created_at=now,
    )
    s.add(row)
    s.flush()
    ca = _local(row)
    assert ca is not None
    return ca


@dataclass(frozen=True)
class OrderSummary:
    """A submittal's latest order at a vendor, as the case shows it."""

    issuer: str  # the vendor issuer's name (slug)
    state: str  # certdesk's: ordering, pending, issued, failed
    vendor_status: str | None  # the order's status at the vendor (RFC 8555 §7.1.6)
    problem: dict[str, object] | None  # the vendor's last problem document
    updated_at: datetime


def latest_orders(s: Session, submittal_ids: list[int]) -> dict[int, OrderSummary]:
    """Each submittal's most recent vendor order (submittals without one are left out)."""
    if not submittal_ids:
        return {}
    rows = s.execute(
        select(VendorOrder, Issuer.slug)
        .join(Issuer, Issuer.id == VendorOrder.issuer_id)
        .where(VendorOrder.submittal_id.in_(submittal_ids))
        .order_by(VendorOrder.id)
    )
    out: dict[int, OrderSummary] = {}
    for order, slug in rows:
        assert order.submittal_id is not None
        out[order.submittal_id] = OrderSummary(
            issuer=slug,
            state=str(order.state),
            vendor_status=order.vendor_status,
            problem=order.problem,
            updated_at=order.updated_at,
        )
    return out
