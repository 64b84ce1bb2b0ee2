"""People, their roles, enrollment links and login sessions (R10)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from certdesk.store.models import ApiToken, Enrollment, Organization, User


def by_login(s: Session, login_id: str, *, for_update: bool = False) -> User | None:
    q = select(User).where(User.login_id == login_id).options(selectinload(User.roles))
    if for_update:
        q = q.with_for_update()
    return s.scalars(q).one_or_none()


def by_id(s: Session, user_id: int, *, for_update: bool = False) -> User | None:
    return s.get(User, user_id, options=[selectinload(User.roles)], with_for_update=for_update)


def search(s: Session, org_id: int | None = None) -> list[User]:
    q = select(User).options(selectinload(User.roles)).order_by(User.login_id)
    if org_id is not None:
        q = q.where(User.org_id == org_id)
    return list(s.scalars(q))


def org_codes(s: Session) -> dict[int, str]:
    return {org_id: code for org_id, code in s.execute(select(Organization.id, Organization.code))}


def enrollment_by_hash(s: Session, token_hash: str) -> Enrollment | None:
    return s.scalars(
        select(Enrollment).where(Enrollment.token_hash == token_hash).with_for_update()
    ).one_or_none()


def retire_links(s: Session, user_id: int, now: datetime) -> None:
    """Mark every unused link of a user used: only the newest link ever works."""
    s.execute(
        update(Enrollment)
        .where(Enrollment.user_id == user_id, Enrollment.used_at.is_(None))
        .values(used_at=now)
    )


def end_sessions(s: Session, user_id: int, now: datetime, *, keep_prefix: str = "") -> None:
    """Revoke every live login session of a user (API tokens are not sessions)."""
    s.execute(
        update(ApiToken)
        .where(
            ApiToken.user_id == user_id,
            ApiToken.revoked_at.is_(None),
            ApiToken.prefix != keep_prefix,
        )
        .values(revoked_at=now)
    )
