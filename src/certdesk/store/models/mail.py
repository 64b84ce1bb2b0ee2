"""Notices and mail (R9): the mail queue, each person's mail preferences, webhooks and
their deliveries.
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

from certdesk.core.notices import NoticeState
from certdesk.store.models.base import Base
from certdesk.store.types import StrEnumText, UTCDateTime


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
