"""Organizations and their people: grants (R2), API tokens, accounts and roles (R10),
and the contacts a submittal names (R9).
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
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from certdesk.store.models.base import Base
from certdesk.store.models.certificates import Issuer
from certdesk.store.types import UTCDateTime


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    self_managed: Mapped[bool] = mapped_column(Boolean, default=False)
    # R11: cost per certificate-year of a managed certificate, in cents (None: the default).
    cost_cents_per_year: Mapped[int | None] = mapped_column(Integer)
    # R6: renewals that change nothing are approved without waiting for people.
    auto_approve_renewals: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The issuer of its certificates (None: the built-in CA's active intermediate).
    issuer_id: Mapped[int | None] = mapped_column(ForeignKey("issuers.id"))

    grants: Mapped[list[GrantRow]] = relationship(
        back_populates="organization", order_by="GrantRow.id", cascade="all, delete-orphan"
    )
    # Loaded by a second SELECT: a joined load would put the issuer on the nullable side of
    # an outer join, which PostgreSQL refuses under the row lock grant changes take.
    issuer: Mapped[Issuer | None] = relationship(lazy="selectin")


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
    # The issuer for certificates under this grant (None: the organization's).
    issuer_id: Mapped[int | None] = mapped_column(ForeignKey("issuers.id"))

    organization: Mapped[Organization] = relationship(back_populates="grants")
    issuer: Mapped[Issuer | None] = relationship(lazy="selectin")


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
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # login sessions
    # A console session's last request, written at most once a minute: the idle timeout.
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class User(Base):
    """A person with a login ID that never expires (R10)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    password_hash: Mapped[str | None] = mapped_column(String(200))  # argon2id; None until enrolled
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary)  # encrypted at rest
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)  # RFC 6238 §5.2 replay guard
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="UserRole.role"
    )


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(32), primary_key=True)

    user: Mapped[User] = relationship(back_populates="roles")


class Enrollment(Base):
    """A single-use, expiring link to set a password (enrollment or reset); stored hashed."""

    __tablename__ = "enrollments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))  # enroll | reset
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Contact(Base):
    """A technical, administrative or billing contact of an organization: a person or a
    mailbox kept once per organization (``address``, the lower-cased email, is unique in it)
    and reused by the submittals that name it (:class:`SubmittalContact`). ``kind`` is the
    contact's usual role; a submittal says which role the contact has there."""

    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_org", "org_id"),
        UniqueConstraint("org_id", "address", name="uq_contacts_org_address"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    kind: Mapped[str] = mapped_column(String(16))  # technical | administrative | billing
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    # The email lower-cased: one contact per address and organization.
    address: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(String(40), default="")
    # R9: hears about every certificate and case of the organization (a contact added to the
    # organization); False: only about the submittals that name it.
    org_wide: Mapped[bool] = mapped_column(Boolean, default=True, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SubmittalContact(Base):
    """R9: an organization contact named on a submittal, in one role (technical,
    administrative or billing); the submittal's certificate's notices go to it."""

    __tablename__ = "submittal_contacts"
    __table_args__ = (Index("ix_submittal_contacts_contact", "contact_id"),)

    submittal_id: Mapped[int] = mapped_column(
        ForeignKey("submittals.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
