"""Certificates and who signs them: issuers (the built-in CA's certificates and the
vendor CAs), every certificate of the inventory with its names, and CRLs (R16).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from certdesk.core.issuers import Backend
from certdesk.store.models.base import Base
from certdesk.store.types import StrEnumText, UTCDateTime


class Issuer(Base):
    """Who signs: a CA certificate of the built-in hierarchy (``backend`` ``local``: root or
    issuing intermediate), or a vendor CA reached over ACME (``acme``, see
    :class:`AcmeIssuerRow`). A vendor row has no key file, certificate or validity of its own:
    those columns are NULL for it and set for every ``local`` row.
    """

    __tablename__ = "issuers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(32), unique=True)  # used in /crl/<slug>.crl
    name: Mapped[str] = mapped_column(String(200))
    backend: Mapped[Backend] = mapped_column(
        StrEnumText(Backend, 16), default=Backend.LOCAL, server_default=Backend.LOCAL.value
    )
    is_root: Mapped[bool] = mapped_column(Boolean)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("issuers.id"))
    key_type: Mapped[str | None] = mapped_column(String(16))
    key_file: Mapped[str | None] = mapped_column(String(500))
    cert_der: Mapped[bytes | None] = mapped_column(LargeBinary)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # local: the issuing intermediate in use; acme: the vendor takes new orders (not disabled).
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CertificateRow(Base):
    """One certificate of the inventory, from the moment its serial is reserved.

    status: ``signing`` (intent recorded, not yet signed and stored), ``active``,
    ``superseded`` (still valid, but its renewal was delivered: services/renewals.py),
    ``revoked``, ``expired``, ``void`` (intent left behind by a crash; never delivered).
    """

    __tablename__ = "certificates"
    __table_args__ = (
        Index("ix_certificates_org_status", "org_id", "status"),
        Index("ix_certificates_not_after", "not_after"),
        Index("ix_certificates_status_started", "status", "signing_started_at"),
        Index("ix_certificates_notice_due", "status", "notice_due_at", "id"),
        Index("ix_certificates_status_not_after", "status", "not_after"),
        UniqueConstraint("renewal_case_id", name="uq_certificates_renewal_case"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(String(40), unique=True)  # lower-case hex
    issuer_id: Mapped[int] = mapped_column(ForeignKey("issuers.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    status: Mapped[str] = mapped_column(String(16))
    names: Mapped[str] = mapped_column(Text)  # comma-separated, in certificate order
    key_type: Mapped[str] = mapped_column(String(16))
    platform: Mapped[str] = mapped_column(String(16))
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    # SHA-256 of the TBSCertificate: the built-in CA's linted bytes before signing (DESIGN
    # §3.2); for a vendor's certificate, of the TBS as it arrived (and "" while ordering).
    tbs_sha256: Mapped[str] = mapped_column(String(64))
    der: Mapped[bytes | None] = mapped_column(LargeBinary)
    # A vendor's chain as it arrived (PEM, issuing CA first); None for the built-in CA, whose
    # chain is the issuers hierarchy.
    chain_pem: Mapped[str | None] = mapped_column(Text)
    fingerprint_sha256: Mapped[str | None] = mapped_column(String(64))
    requested_by: Mapped[str] = mapped_column(String(200))
    # host:pid:start-ticks of the process that reserved the serial; lets start-up recovery
    # tell an intent of a dead process from one a live process is signing right now.
    signer: Mapped[str] = mapped_column(String(200))
    signing_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revocation_reason: Mapped[str | None] = mapped_column(String(32))
    void_reason: Mapped[str | None] = mapped_column(Text)
    renewal_of: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", use_alter=True, name="fk_certificates_case")
    )
    cost_cents: Mapped[int | None] = mapped_column(Integer)  # R11, recorded at delivery
    # RFC 9773 (a vendor's certificate): the start of the renewal window the vendor suggests,
    # and when to ask the vendor again (None: not asked yet).
    vendor_renew_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    vendor_info_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # R6: the renewal case opened for this certificate (set once, in the opening transaction).
    renewal_case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", use_alter=True, name="fk_certificates_renewal_case")
    )
    # RFC 9773: cert services asked for early replacement (its renewal window is "now").
    replace_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # R8 (issue 14): replaced by an in-window reissue; the worker revokes it (superseded)
    # once this instant has passed. A durable intent: set with the reissue, cleared with
    # the revocation.
    retire_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # R9 (issue 16): no expiry notice can be due before this instant (NULL: not planned
    # yet). Only the notices planner writes it (store/notice_due.py).
    notice_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CertificateName(Base):
    """One DNS name of a certificate, for lookups by name."""

    __tablename__ = "certificate_names"

    cert_id: Mapped[int] = mapped_column(
        ForeignKey("certificates.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(253), primary_key=True, index=True)


class CrlRow(Base):
    """A CRL as published; the newest per issuer is served."""

    __tablename__ = "crls"
    __table_args__ = (UniqueConstraint("issuer_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("issuers.id"))
    number: Mapped[int] = mapped_column(Integer)
    this_update: Mapped[datetime] = mapped_column(UTCDateTime())
    next_update: Mapped[datetime] = mapped_column(UTCDateTime())
    der: Mapped[bytes] = mapped_column(LargeBinary)
