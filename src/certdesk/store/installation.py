"""Installation facts (one row each): recorded once, never overwritten."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from certdesk.store.models import InstallationFact

SECRETBOX_FINGERPRINT = "secretbox.fingerprint"


def read(s: Session, name: str) -> str | None:
    return s.scalar(select(InstallationFact.value).where(InstallationFact.name == name))


def record_once(sessions: sessionmaker[Session], name: str, value: str, at: datetime) -> str:
    """Record ``value`` unless a value is there already; returns the value that stands.

    Two processes recording at once: one insert wins, the other reads the winner's value.
    """
    with sessions() as s:
        existing = read(s, name)
    if existing is not None:
        return existing
    try:
        with sessions.begin() as s:
            s.add(InstallationFact(name=name, value=value, recorded_at=at))
    except IntegrityError:
        pass
    with sessions() as s:
        stored = read(s, name)
    assert stored is not None
    return stored
