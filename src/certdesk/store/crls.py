"""Published CRLs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from certdesk.store.models import CrlRow


def latest(s: Session, issuer_id: int) -> CrlRow | None:
    return s.scalars(
        select(CrlRow).where(CrlRow.issuer_id == issuer_id).order_by(CrlRow.number.desc())
    ).first()


def current_next_updates(s: Session) -> dict[int, datetime]:
    """Issuer id -> ``nextUpdate`` of its newest CRL (the one served), for every issuer."""
    newest = (
        select(CrlRow.issuer_id, func.max(CrlRow.number).label("number"))
        .group_by(CrlRow.issuer_id)
        .subquery()
    )
    rows = s.execute(
        select(CrlRow.issuer_id, CrlRow.next_update).join(
            newest,
            and_(CrlRow.issuer_id == newest.c.issuer_id, CrlRow.number == newest.c.number),
        )
    )
    return {issuer_id: next_update for issuer_id, next_update in rows}
