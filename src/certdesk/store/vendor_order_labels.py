"""What a vendor order's result and notices name: the organization, the vendor, the case,
the certificate it renews (RFC 9773 ``replaces``) and the certificate it got.

Reads only; the order rows themselves are in :mod:`certdesk.store.vendor_orders`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, Table, select

from certdesk.store.models import Case, CertificateRow, Issuer, Organization, Submittal
from certdesk.store.vendor_orders import Order

_ISSUERS = cast("Table", Issuer.__table__)
_ORGS = cast("Table", Organization.__table__)
_CERTS = cast("Table", CertificateRow.__table__)


@dataclass(frozen=True)
class OrderLabels:
    """What an order's result names: the organization's code, the vendor's name, and the
    certificate it renews (for RFC 9773 ``replaces``)."""

    org_code: str
    issuer_slug: str
    replaces_der: bytes | None
    serial: str | None  # the certificate's serial once issued


def labels(conn: Connection, order: Order) -> OrderLabels:
    org_code = conn.execute(select(_ORGS.c.code).where(_ORGS.c.id == order.org_id)).scalar_one()
    slug = conn.execute(
        select(_ISSUERS.c.slug).where(_ISSUERS.c.id == order.issuer_id)
    ).scalar_one()
    replaces = None
    if order.renewal_of is not None:
        replaces = conn.execute(
            select(_CERTS.c.der).where(_CERTS.c.id == order.renewal_of)
        ).scalar_one_or_none()
    serial = None
    if order.certificate_id is not None:
        serial = conn.execute(
            select(_CERTS.c.serial).where(_CERTS.c.id == order.certificate_id)
        ).scalar_one_or_none()
    return OrderLabels(org_code, slug, replaces, serial)


@dataclass(frozen=True)
class TroubleFacts:
    """What a notice about an order's trouble names: the vendor, the organization, the case."""

    issuer_slug: str
    issuer_name: str
    org_code: str
    org_name: str
    case_number: str | None


def trouble_facts(conn: Connection, order: Order) -> TroubleFacts:
    issuer = conn.execute(
        select(_ISSUERS.c.slug, _ISSUERS.c.name).where(_ISSUERS.c.id == order.issuer_id)
    ).one()
    org = conn.execute(select(_ORGS.c.code, _ORGS.c.name).where(_ORGS.c.id == order.org_id)).one()
    case_number = None
    if order.submittal_id is not None:
        subs, cases = cast("Table", Submittal.__table__), cast("Table", Case.__table__)
        case_number = conn.execute(
            select(cases.c.number)
            .join(subs, subs.c.case_id == cases.c.id)
            .where(subs.c.id == order.submittal_id)
        ).scalar_one_or_none()
    return TroubleFacts(issuer.slug, issuer.name, org.code, org.name, case_number)


def certificate_of(conn: Connection, cert_id: int) -> tuple[bytes, str | None]:
    """``(der, chain_pem)`` of a stored vendor certificate."""
    row = conn.execute(select(_CERTS.c.der, _CERTS.c.chain_pem).where(_CERTS.c.id == cert_id)).one()
    return row.der, row.chain_pem
