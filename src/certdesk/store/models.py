"""Tables. Every schema change is also an Alembic migration (STYLE habit 12)."""

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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from certdesk.store.types import UTCDateTime


class Base(DeclarativeBase):
    pass


class Issuer(Base):
    """A CA certificate of the built-in hierarchy (root or issuing intermediate)."""

    __tablename__ = "issuers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(32), unique=True)  # used in /crl/<slug>.crl
    name: Mapped[str] = mapped_column(String(200))
    is_root: Mapped[bool] = mapped_column(Boolean)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("issuers.id"))
    key_type: Mapped[str] = mapped_column(String(16))
    key_file: Mapped[str] = mapped_column(String(500))
    cert_der: Mapped[bytes] = mapped_column(LargeBinary)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    self_managed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    grants: Mapped[list[GrantRow]] = relationship(
        back_populates="organization", order_by="GrantRow.id", cascade="all, delete-orphan"
    )


class GrantRow(Base):
    """R2: a zone or host grant held by an organization."""

    __tablename__ = "grants"
    __table_args__ = (UniqueConstraint("org_id", "kind", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(253))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))

    organization: Mapped[Organization] = relationship(back_populates="grants")


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, the secret is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CertificateRow(Base):
    """One certificate of the inventory, from the moment its serial is reserved.

    status: ``signing`` (intent recorded, not yet signed and stored), ``active``,
    ``revoked``, ``expired``, ``void`` (intent left behind by a crash; never delivered).
    """

    __tablename__ = "certificates"
    __table_args__ = (
        Index("ix_certificates_org_status", "org_id", "status"),
        Index("ix_certificates_not_after", "not_after"),
        Index("ix_certificates_status_started", "status", "signing_started_at"),
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
    tbs_sha256: Mapped[str] = mapped_column(String(64))
    der: Mapped[bytes | None] = mapped_column(LargeBinary)
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
