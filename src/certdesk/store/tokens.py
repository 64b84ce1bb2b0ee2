"""API tokens."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from certdesk.store.models import ApiToken


def by_prefix(s: Session, prefix: str) -> ApiToken | None:
    return s.scalars(select(ApiToken).where(ApiToken.prefix == prefix)).one_or_none()


def count_live(s: Session, role: str) -> int:
    return (
        s.scalar(
            select(func.count())
            .select_from(ApiToken)
            .where(
                ApiToken.role == role,
                ApiToken.revoked_at.is_(None),
                ApiToken.user_id.is_(None),  # login sessions are not API tokens
            )
        )
        or 0
    )
