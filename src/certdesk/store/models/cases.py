"""Cases, their submittals, approvals and history (R3, R4, R5, R8), approval policies,
case numbers and attachments.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from certdesk.core.workflow import State
from certdesk.store.models.base import Base
from certdesk.store.types import StrEnumText, UTCDateTime


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
    # The uploader's organization (None: cert services): whose case editors may delete it.
    uploaded_by_org_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
