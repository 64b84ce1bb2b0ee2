"""The ACME server (RFC 8555, R17): EAB keys, accounts, nonces, orders, authorizations,
challenges and standing DNS-PERSIST-01 records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
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

from certdesk.core.acme_states import (
    AccountStatus,
    AuthzStatus,
    ChallengeStatus,
    ChallengeType,
    OrderStatus,
)
from certdesk.store.models.base import Base
from certdesk.store.types import StrEnumText, UTCDateTime


# Named acme_* after RFC 8555's objects; the challenges table is ``acme_server_challenges`` so
# that it never meets the ACME *client*'s tables (ca/acme, the vendor CAs).
class AcmeEabKey(Base):
    """R17: an External Account Binding key (RFC 8555 §7.3.4) that ties one ACME account to
    one organization. The HMAC key is sealed (services/secretbox.py) and shown once; it binds
    at most one account, ever (``account_id`` is set when it does)."""

    __tablename__ = "acme_eab_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    hmac_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    account_id: Mapped[int | None] = mapped_column(ForeignKey("acme_accounts.id"), unique=True)
    bound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AcmeAccount(Base):
    """An ACME account (RFC 8555 §7.1.2): one public key, one organization (R17)."""

    __tablename__ = "acme_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    # RFC 7638 SHA-256 thumbprint of the account key, base64url: one account per key.
    thumbprint: Mapped[str] = mapped_column(String(64), unique=True)
    jwk: Mapped[str] = mapped_column(Text)  # the public key as JSON (RFC 7517)
    status: Mapped[AccountStatus] = mapped_column(StrEnumText(AccountStatus, 16))
    contacts: Mapped[list[str]] = mapped_column(JSON)
    eab_kid: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AcmeNonce(Base):
    """RFC 8555 §6.5: a nonce handed out and not yet used. Kept in the database so that every
    ``serve`` process accepts the nonces of the others; used by deleting its row (the DELETE
    must hit exactly one row)."""

    __tablename__ = "acme_nonces"

    value: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class AcmeOrder(Base):
    """RFC 8555 §7.1.3. ``status`` holds what finalization recorded (processing, valid,
    invalid) or ``pending``; ready/invalid before finalization are derived
    (core/acme_states.order_status)."""

    __tablename__ = "acme_orders"
    __table_args__ = (
        Index("ix_acme_orders_account", "account_id", "id"),
        # Rate limits count recent orders per account and per organization.
        Index("ix_acme_orders_account_created", "account_id", "created_at"),
        Index("ix_acme_orders_org_created", "org_id", "created_at"),
        Index("ix_acme_orders_replaces", "replaces_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("acme_accounts.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    status: Mapped[OrderStatus] = mapped_column(StrEnumText(OrderStatus, 16))
    names: Mapped[list[str]] = mapped_column(JSON)  # R1-normalized, in request order
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    # RFC 9773 §5: the certificate this order replaces (linked as renewal_of once issued).
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    # draft-aaron-acme-profiles: the profile asked for; None is the default profile.
    profile: Mapped[str | None] = mapped_column(String(32))


class AcmeAuthorization(Base):
    """RFC 8555 §7.1.4: the proof of control of one name, for one order."""

    __tablename__ = "acme_authorizations"
    # Rate limits count an account's pending authorizations.
    __table_args__ = (Index("ix_acme_authorizations_account_status", "account_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("acme_orders.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("acme_accounts.id"))
    name: Mapped[str] = mapped_column(String(253))  # without the wildcard's "*."
    wildcard: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[AuthzStatus] = mapped_column(StrEnumText(AuthzStatus, 16))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AcmeServerChallenge(Base):
    """RFC 8555 §7.1.5 and §8: one way to prove an authorization."""

    __tablename__ = "acme_server_challenges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    authz_id: Mapped[int] = mapped_column(ForeignKey("acme_authorizations.id"), index=True)
    type: Mapped[ChallengeType] = mapped_column(StrEnumText(ChallengeType, 16))
    token: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[ChallengeStatus] = mapped_column(StrEnumText(ChallengeStatus, 16))
    validated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class AcmePersistRecord(Base):
    """A standing dns-persist-01 record (draft-ietf-acme-dns-persist) at
    ``_validation-persist.<name>`` for one account: shown to an administrator or proved by
    the VA. New orders of the account may be proved by it (read fresh from the DNS each
    time); the organization's administrators are warned before ``persist_until``."""

    __tablename__ = "acme_persist_records"
    __table_args__ = (
        UniqueConstraint("account_id", "name", name="uq_acme_persist_records_account_name"),
        Index("ix_acme_persist_records_until", "persist_until"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("acme_accounts.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(253))
    wildcard: Mapped[bool] = mapped_column(Boolean)  # policy=wildcard
    persist_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_valid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The last warning sent before persist_until, in days (core/acme_persist.WARN_DAYS).
    warned_days: Mapped[int | None] = mapped_column(Integer)
    # The account's key changed at this moment (keyChange): the hashed accounturi the record
    # carries is no longer the account's until it is republished (the VA proves it again).
    republish_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
