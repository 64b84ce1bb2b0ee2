"""Vendor CAs reached over ACME (R16): their accounts, durable orders, the challenges
certdesk answers for them as a client, and the contracts with the vendors.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from certdesk.core.issuers import OrderState, Solver
from certdesk.store.models.base import Base
from certdesk.store.types import StrEnumText, UTCDateTime


class AcmeIssuerRow(Base):
    """A vendor CA over ACME: its directory, the certdesk account there, how challenges are
    answered. The account key and the solver's secret are sealed (services/secretbox.py); the
    EAB HMAC key is used once, at registration, and never stored.
    """

    __tablename__ = "acme_issuers"

    issuer_id: Mapped[int] = mapped_column(
        ForeignKey("issuers.id", ondelete="CASCADE"), primary_key=True
    )
    directory_url: Mapped[str] = mapped_column(String(500))
    # PEM: the CA bundle that verifies the directory's TLS certificate (None: the system's).
    ca_bundle_pem: Mapped[str | None] = mapped_column(Text)
    # PEM: the roots a vendor's chain must build to before a certificate is stored (R16).
    anchors_pem: Mapped[str] = mapped_column(Text)
    eab_kid: Mapped[str] = mapped_column(String(200))
    account_url: Mapped[str] = mapped_column(String(500))
    account_key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    # A rollover's new key (RFC 8555 §7.3.5), sealed and stored before the vendor is asked;
    # it replaces account_key_sealed once the vendor took it (None: no rollover under way).
    next_account_key_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    solver: Mapped[Solver] = mapped_column(StrEnumText(Solver, 16))
    # The solver's settings (dns-01: server, port, TSIG key name and algorithm, zones;
    # http-01: webroot); its secret (the TSIG key) is sealed in solver_secret_sealed.
    solver_config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    solver_secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    # certdesk certificate type → the vendor's ACME profile (draft-ietf-acme-profiles).
    profiles: Mapped[dict[str, str] | None] = mapped_column(JSON)
    # Pre-storage lint findings (ca/vendor_lint codes) this vendor's certificates may carry:
    # for a lab CA only; None: every finding refuses a certificate.
    lint_tolerate: Mapped[list[str] | None] = mapped_column(JSON)


class VendorOrder(Base):
    """One order at a vendor CA, written before the first request (write-ahead, R16).

    ``state`` is certdesk's (:class:`OrderState`); ``vendor_status`` the order's own status
    at the vendor (RFC 8555 §7.1.6) as last seen, ``problem`` the vendor's last problem
    document. ``submittal_id`` is unique: one order per submittal, ever (a failed order is
    replaced by a new row only when cert services ask again).
    """

    __tablename__ = "vendor_orders"
    __table_args__ = (
        Index("ix_vendor_orders_state_retry", "state", "retry_after"),
        Index("ix_vendor_orders_submittal", "submittal_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("issuers.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    submittal_id: Mapped[int | None] = mapped_column(ForeignKey("submittals.id"))
    names: Mapped[str] = mapped_column(Text)  # comma-separated, R1-normalized
    key_type: Mapped[str] = mapped_column(String(16))
    platform: Mapped[str] = mapped_column(String(16))
    profile: Mapped[str] = mapped_column(String(32))
    csr_der: Mapped[bytes] = mapped_column(LargeBinary)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    max_days: Mapped[int] = mapped_column(Integer)  # R13 at the time of the request
    renewal_of: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    requested_by: Mapped[str] = mapped_column(String(200))
    account_url: Mapped[str] = mapped_column(String(500))
    order_url: Mapped[str | None] = mapped_column(String(500))
    state: Mapped[OrderState] = mapped_column(StrEnumText(OrderState, 16))
    vendor_status: Mapped[str | None] = mapped_column(String(16))
    problem: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    retry_after: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Which process drives the order right now, and until when (a worker that dies lets go).
    lease_holder: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AcmeChallenge(Base):
    """An http-01 answer certdesk serves at ``/.well-known/acme-challenge/<token>``
    (RFC 8555 §8.3) while a vendor validates one of certdesk's orders.

    Written by whichever process drives the order, read by whichever serves HTTP; withdrawn
    once the authorization is final, and past ``expires_at`` neither served nor kept.
    """

    __tablename__ = "acme_challenges"
    __table_args__ = (Index("ix_acme_challenges_expires_at", "expires_at"),)

    token: Mapped[str] = mapped_column(String(128), primary_key=True)
    # RFC 8555 §8.1: token "." base64url(JWK thumbprint); not a secret (the vendor and
    # anyone on the path see it), but only meaningful to the account that ordered.
    key_authorization: Mapped[str] = mapped_column(String(300))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class VendorContract(Base):
    """Cert services' contract with a certificate vendor: licences bought and the dates it
    runs. With ``issuer_id`` the licences in use are counted from the inventory (the vendor
    CA's certificates in force); without, ``licences_used`` is what cert services record."""

    __tablename__ = "vendor_contracts"
    __table_args__ = (Index("ix_vendor_contracts_ends_on", "ends_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vendor: Mapped[str] = mapped_column(String(200))
    number: Mapped[str] = mapped_column(String(100), unique=True)
    issuer_id: Mapped[int | None] = mapped_column(ForeignKey("issuers.id"))
    licences_total: Mapped[int] = mapped_column(Integer)
    licences_used: Mapped[int | None] = mapped_column(Integer)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
