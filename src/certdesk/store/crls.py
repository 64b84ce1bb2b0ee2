"""Published CRLs."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from certdesk.store.models import CrlRow


def latest(s: Session, issuer_id: int) -> CrlRow | None:
    return s.scalars(
        select(CrlRow).where(CrlRow.issuer_id == issuer_id).order_by(CrlRow.number.desc())
    ).first()
