"""Tables. Every schema change is also an Alembic migration (STYLE habit 12)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from certdesk.core.acme_states import (
    AccountStatus,
    AuthzStatus,
    ChallengeStatus,
    ChallengeType,
    OrderStatus,
)
from certdesk.core.issuers import Backend, OrderState, Solver
from certdesk.core.notices import NoticeState
from certdesk.core.workflow import State
from certdesk.store.types import StrEnumText, UTCDateTime


class Base(DeclarativeBase):
    pass


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


# --- people and accounts (R10) ---------------------------------------------------------


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


# --- contacts (R9) ---------------------------------------------------------------------


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


# --- cases, submittals, approvals (R3, R4, R5, R8) -------------------------------------


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_org_state", "org_id", "state"),
        Index("ix_cases_state_due", "state", "due_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)  # CS-2026-000123
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    type: Mapped[str] = mapped_column(String(32))
    state: Mapped[State] = mapped_column(StrEnumText(State, 20))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opened_by: Mapped[str] = mapped_column(String(200))
    requested_delivery: Mapped[date | None] = mapped_column(Date)
    expedite: Mapped[bool] = mapped_column(Boolean, default=False)
    approval_steps: Mapped[str] = mapped_column(String(100), default="")  # fixed at submission
    approval_round: Mapped[int] = mapped_column(Integer, default=0)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    target_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    window_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    target_cert_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    # The customer's earlier renewal date for what this case delivered (R6); None: the plan's.
    renewal_requested: Mapped[date | None] = mapped_column(Date, index=True)
    # A fulfilment's or R8 reissue's lease: which process works the case, for whom, until.
    lease_holder: Mapped[str | None] = mapped_column(String(200))
    lease_actor: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What a delegated_admin_setup case creates: {"grants": [...], "admins": [...]} (R2, R10).
    delegated_setup: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The reason a revoke or delete case asks for (BR §7.2.2); None: the case type's default.
    revocation_reason: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseEvent(Base):
    """The case's history: every transition, kept even after a rejection."""

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_case", "case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(20))
    from_state: Mapped[str] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")


class Approval(Base):
    """One approval or rejection (R4), per round of submission."""

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_case", "case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(Integer)
    step: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(200))
    approved: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class Comment(Base):
    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_case", "case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class Submittal(Base):
    """A Security Certificate Submittal (R3): one certificate's requirements."""

    __tablename__ = "submittals"
    __table_args__ = (Index("ix_submittals_case", "case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    names: Mapped[str] = mapped_column(Text)  # comma-separated, normalized
    cert_type: Mapped[str] = mapped_column(String(16))  # single | san | wildcard
    platform: Mapped[str] = mapped_column(String(16))  # dedicated | virtual
    server_software: Mapped[str] = mapped_column(String(100), default="")
    server_version: Mapped[str] = mapped_column(String(50), default="")
    key_type: Mapped[str] = mapped_column(String(16))
    service_option: Mapped[str] = mapped_column(String(16))  # managed | self-managed
    requested_delivery: Mapped[date | None] = mapped_column(Date)
    validity_days: Mapped[int | None] = mapped_column(Integer)
    csr_pem: Mapped[str | None] = mapped_column(Text)
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    # Cert services' choice of issuer for this certificate (None: the grant's, else the
    # organization's).
    issuer_id: Mapped[int | None] = mapped_column(ForeignKey("issuers.id"))
    # R12: a key certdesk generated for the submittal lives in DataKey (crypto-shredded at
    # its one download), never in this row.
    key_downloaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApprovalPolicy(Base):
    """R4: the approvals an organization's cases of one type need (default when absent)."""

    __tablename__ = "approval_policies"

    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    case_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    steps: Mapped[str] = mapped_column(String(100))


class Counter(Base):
    """Named sequences (case numbers per year), incremented under a row lock."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


# --- audit (R15) -----------------------------------------------------------------------


class AuditRow(Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(100))
    summary: Mapped[str] = mapped_column(Text)  # JSON
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The newest audit event; one row, locked by every append (serializes the chain)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


# --- lifecycle (R6, R9) ----------------------------------------------------------------


class Notice(Base):
    """One message in the mail queue: an R9 notice to one contact for one reason, or an
    account mail (R10 enrollment or reset), each recorded at most once.

    The unique key is the exactly-once guarantee: the row is inserted in the transaction that
    claims the send (a notice) or that decided to send it (an account mail), so a second
    worker (or a restarted one) cannot record it again. A notice is rendered from its
    templates when it is sent; an account mail is stored as written (``body_text``,
    ``body_html``), its single-use link sealed in ``sealed_link`` until the mail is settled.
    """

    __tablename__ = "notices"
    __table_args__ = (
        UniqueConstraint("subject_type", "subject_id", "contact_email", "reason"),
        Index("ix_notices_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(16))  # certificate | case | account
    subject_id: Mapped[int] = mapped_column(Integer)
    contact_email: Mapped[str] = mapped_column(String(254))
    reason: Mapped[str] = mapped_column(String(40))  # expiry.30, case.approved, ...
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[NoticeState] = mapped_column(StrEnumText(NoticeState, 16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(Text, default="")
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    subject: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # An account mail as written (empty for a notice, which is rendered when it is sent).
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    # R10: the mail's single-use link token, sealed with the secret box; dropped (NULL) once
    # the mail is sent or failed for good, so the database never holds a usable link.
    sealed_link: Mapped[str | None] = mapped_column(Text)
    # Why this recipient gets the notice (core/mail_kinds.Role): the mail says it in words.
    role: Mapped[str] = mapped_column(String(16), default="contact")
    # The person chose the daily digest for this kind: sent with the day's others, at once.
    digest: Mapped[bool] = mapped_column(Boolean, default=False)


class MailPreference(Base):
    """How one person wants one kind of mail (core/mail_kinds): immediate, digest or off.

    No row: immediate. Safety notices are never "off" (the service refuses it).
    """

    __tablename__ = "mail_preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Webhook(Base):
    """An outbound webhook: an organization's (``org_id``) or cert services' (NULL, every
    organization's events). The HMAC secret is sealed with the secret box."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    label: Mapped[str] = mapped_column(String(200), default="")
    events: Mapped[str] = mapped_column(String(1000), default="")  # comma-separated; "": all
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """One event for one webhook: a durable queue row, recorded once per (webhook, event)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_key"),
        Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_key: Mapped[str] = mapped_column(String(120))  # subject type:id:reason
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)  # the JSON body, exactly as signed and sent
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))  # pending | sending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text, default="")
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WorkerBeat(Base):
    """A worker process's heartbeat, for /readyz and /metrics (job lag)."""

    __tablename__ = "worker_beats"

    worker_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_pass_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_pass_seconds: Mapped[float | None] = mapped_column(Float)
    jobs_done: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")


# --- installation ------------------------------------------------------------------------


class InstallationFact(Base):
    """A fact every process of one installation must agree on (the secret-box key's
    fingerprint), so that a host holding other secrets refuses to start."""

    __tablename__ = "installation"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DataKey(Base):
    """R12: a generated subscriber key, sealed under a data key of its own (AES-256-GCM),
    and that data key wrapped by the installation's secret box (core/envelope.py).

    One row per submittal holding a key. Deleting the row at the key's download destroys
    the only copy of the data key, so every remaining copy of the sealed key (old pages,
    WAL, backups) is unreadable even with the secret box (store/data_keys.py).
    """

    __tablename__ = "data_keys"

    submittal_id: Mapped[int] = mapped_column(
        ForeignKey("submittals.id", ondelete="CASCADE"), primary_key=True
    )
    wrapped_data_key: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- the ACME server (RFC 8555, R17) ---------------------------------------------------------
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


# --- vendor challenges ---------------------------------------------------------------------


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


class CtLog(Base):
    """A Certificate Transparency log certdesk follows (issue 15, part 3), and how far.

    ``position`` entries have been read and judged; ``compact_range`` holds the roots of the
    perfect subtrees over those entries (:mod:`certdesk.core.ct_merkle`), so that the next
    entries can be checked against the next signed tree head. ``verified_size`` and
    ``verified_root`` are the last head the entries were proven against. The position moves
    in the transaction that records the findings of the entries it passes.
    """

    __tablename__ = "ct_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(String(500))
    tiled: Mapped[bool] = mapped_column(Boolean)  # static-CT (c2sp.org/static-ct-api)
    public_key_der: Mapped[bytes] = mapped_column(LargeBinary)
    log_id: Mapped[str] = mapped_column(String(64))  # hex SHA-256 of the key (RFC 6962 §3.2)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    compact_range: Mapped[list[str]] = mapped_column(JSON)
    verified_size: Mapped[int] = mapped_column(BigInteger, default=0)
    verified_root: Mapped[str] = mapped_column(String(64))
    head_size: Mapped[int | None] = mapped_column(BigInteger)  # the last head seen
    head_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # its timestamp
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CtFinding(Base):
    """A certificate or precertificate for state names that certdesk did not issue or import,
    seen in a CT log (R18): one per certificate and organization whose grants cover some of
    its names (``scope`` = that organization's id), or 0 for cert services alone.

    The unique key makes it once: a precertificate and its certificate share ``cert_key``
    (issuer and serial), and the same certificate in a second log adds nothing.
    """

    __tablename__ = "ct_findings"
    __table_args__ = (
        UniqueConstraint("cert_key", "scope"),
        Index("ix_ct_findings_org_found", "org_id", "found_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cert_key: Mapped[str] = mapped_column(String(110))  # sha256(issuer DN) hex ":" serial hex
    scope: Mapped[int] = mapped_column(Integer)  # org id, or 0 (no grant covers the names)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    names: Mapped[str] = mapped_column(Text)  # comma-separated, those of this scope
    precert: Mapped[bool] = mapped_column(Boolean)
    issuer: Mapped[str] = mapped_column(Text)  # RFC 4514
    serial: Mapped[str] = mapped_column(String(80))  # lower-case hex
    sha256: Mapped[str] = mapped_column(String(64))  # of the certificate as logged
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    log_id: Mapped[int] = mapped_column(ForeignKey("ct_logs.id"))
    entry_index: Mapped[int] = mapped_column(BigInteger)
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the entry's timestamp
    found_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- external certificates and endpoint checks (R14, R18) -------------------------------------


class ExternalCertificate(Base):
    """R18: a certificate certdesk did not issue — imported from a file or found on the
    network — kept without a key, attributed to the organization whose grant covers its
    names (None: unassigned, for cert services). One row per certificate (its SHA-256)."""

    __tablename__ = "external_certificates"
    __table_args__ = (
        Index("ix_external_certificates_org", "org_id"),
        Index("ix_external_certificates_not_after", "not_after"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    subject: Mapped[str] = mapped_column(Text)
    issuer_dn: Mapped[str] = mapped_column(Text)
    serial: Mapped[str] = mapped_column(String(64))  # the issuer's serial, lower-case hex
    names: Mapped[str] = mapped_column(Text)  # comma-separated, as in the certificate
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    source: Mapped[str] = mapped_column(String(16))  # import | discovery
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Discovery: the last time any endpoint served it, and when every endpoint stopped.
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    gone_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Adoption: the renewal case that replaces it with a managed certificate.
    adopted_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))


class ExternalContact(Base):
    """R9: who hears about an external certificate (its expiry, endpoint findings)."""

    __tablename__ = "external_contacts"
    __table_args__ = (UniqueConstraint("external_id", "email"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[int] = mapped_column(
        ForeignKey("external_certificates.id", ondelete="CASCADE")
    )
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200), default="")


class EndpointSighting(Base):
    """Discovery: one certificate seen at one endpoint, first and last, and when it was no
    longer there."""

    __tablename__ = "endpoint_sightings"
    __table_args__ = (UniqueConstraint("host", "port", "fingerprint_sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(Integer)
    fingerprint_sha256: Mapped[str] = mapped_column(String(64), index=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    gone_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class EndpointCheck(Base):
    """R14: one verification of an endpoint: what was served and the findings, kept on the
    timeline of the inventory certificate it concerns (managed or external)."""

    __tablename__ = "endpoint_checks"
    __table_args__ = (
        Index("ix_endpoint_checks_cert", "certificate_id", "checked_at"),
        Index("ix_endpoint_checks_external", "external_id", "checked_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(Integer)
    sni: Mapped[str | None] = mapped_column(String(253))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    external_id: Mapped[int | None] = mapped_column(ForeignKey("external_certificates.id"))
    served_sha256: Mapped[str | None] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))  # ok | note | warning | critical
    findings: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)  # unreachable: why


class EndpointFinding(Base):
    """A finding that was mailed, once: the row is inserted in the transaction that queues
    its mail, and its key refuses a second (another worker, a later pass)."""

    __tablename__ = "endpoint_findings"
    __table_args__ = (UniqueConstraint("subject_type", "subject_id", "code", "served_sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(16))  # certificate | external
    subject_id: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(40))
    served_sha256: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- case attachments and vendor contracts (issue 14) ----------------------------------------


class CaseAttachment(Base):
    """A file attached to a case, stored in the database (the seed keeps "everything attached
    to the case"). ``content_type`` is what certdesk recognised in the bytes, never what the
    uploader claimed; ``sha256`` lets parties compare what they downloaded."""

    __tablename__ = "case_attachments"
    __table_args__ = (Index("ix_case_attachments_case", "case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(String(200))
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
