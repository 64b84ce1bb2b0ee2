"""What certdesk sees outside itself (R14, R18): Certificate Transparency logs and
their findings, external certificates and their contacts, endpoint sightings, checks and
findings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
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

from certdesk.store.models.base import Base
from certdesk.store.types import UTCDateTime


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
    # The entry reading started at (0, or the head's size when the log was added).
    first_entry: Mapped[int] = mapped_column(BigInteger, default=0)


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


class DiscoveryJob(Base):
    """A discovery (R18) started through the API or console and run in the background: by
    the serve process that took it, else by a worker (``lease_until`` keeps two apart, and
    a job whose runner died is taken again once its lease ends)."""

    __tablename__ = "discovery_jobs"
    __table_args__ = (Index("ix_discovery_jobs_state", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int | None] = mapped_column(Integer)  # the requester's (None: cert services)
    requested_by: Mapped[str] = mapped_column(String(200))
    roles: Mapped[str] = mapped_column(String(100))  # the requester's, comma-separated
    targets: Mapped[list[str]] = mapped_column(JSON)  # as written by the requester
    total: Mapped[int] = mapped_column(Integer)  # endpoints the targets expand to
    state: Mapped[str] = mapped_column(String(16))  # queued, running, done, failed
    tried: Mapped[int] = mapped_column(Integer, default=0)
    found: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str] = mapped_column(Text, default="")
    runner: Mapped[str] = mapped_column(String(200), default="")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
