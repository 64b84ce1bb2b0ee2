"""The installation itself: the audit chain (R15), facts of this installation, data
keys of generated private keys (R12), and worker heartbeats.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from certdesk.store.models.base import Base
from certdesk.store.types import UTCDateTime


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
