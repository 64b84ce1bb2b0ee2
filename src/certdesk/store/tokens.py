"""API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Connection, Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from certdesk.store.compiled import Compiled, end_read
from certdesk.store.models import ApiToken, Organization

_TOKENS = cast("Table", ApiToken.__table__)
# Every API request authenticates: a statement compiled once per dialect and run on the
# DBAPI cursor of a Core connection (store/compiled.py), about half the cost of executing it
# through SQLAlchemy. Revocation is read as a flag: the raw cursor would hand SQLite's
# timestamp back as text, and only whether it is set matters here.
_C_CREDENTIALS = Compiled(
    select(
        _TOKENS.c.prefix,
        _TOKENS.c.token_hash,
        _TOKENS.c.role,
        _TOKENS.c.org_id,
        _TOKENS.c.revoked_at.is_not(None),
        _TOKENS.c.user_id,
    ).where(_TOKENS.c.prefix == bindparam("prefix"))
)


@dataclass(frozen=True)
class Credentials:
    """What checking a bearer token needs from its row."""

    prefix: str
    token_hash: str
    role: str
    org_id: int | None
    revoked: bool
    user_id: int | None  # set for a login session (R10)


def by_prefix(s: Session, prefix: str) -> ApiToken | None:
    return s.scalars(select(ApiToken).where(ApiToken.prefix == prefix)).one_or_none()


def credentials(conn: Connection, prefix: str) -> Credentials | None:
    """The token's row, read on a connection with no transaction of its own (rt.reading)."""
    cursor = _C_CREDENTIALS.execute(conn, {"prefix": prefix})
    row = cursor.fetchone()
    cursor.close()
    end_read(conn)
    if row is None:
        return None
    token_prefix, token_hash, role, org_id, revoked, user_id = row
    return Credentials(token_prefix, token_hash, role, org_id, bool(revoked), user_id)


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


def touch(s: Session, prefix: str, at: datetime) -> None:
    """Record a console session's latest request (the idle timeout counts from it)."""
    s.execute(update(ApiToken).where(ApiToken.prefix == prefix).values(last_seen_at=at))


def api_tokens(s: Session, org_id: int | None = None) -> list[tuple[ApiToken, str | None]]:
    """API tokens (never login sessions), newest first, each with its organization's code.

    ``org_id`` keeps one organization's tokens; None lists every token, global ones included.
    """
    q = (
        select(ApiToken, Organization.code)
        .outerjoin(Organization, Organization.id == ApiToken.org_id)
        .where(ApiToken.user_id.is_(None))
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    if org_id is not None:
        q = q.where(ApiToken.org_id == org_id)
    return [(token, code) for token, code in s.execute(q)]


def api_token_for_update(s: Session, prefix: str) -> ApiToken | None:
    """The API token ``prefix``, locked; None for an unknown prefix or a login session."""
    return s.scalars(
        select(ApiToken)
        .where(ApiToken.prefix == prefix, ApiToken.user_id.is_(None))
        .with_for_update()
    ).one_or_none()


def add_token(
    s: Session,
    *,
    prefix: str,
    token_hash: str,
    role: str,
    org_id: int | None,
    label: str,
    at: datetime,
    user_id: int | None = None,
    expires_at: datetime | None = None,
) -> None:
    """An API token, or a person's login session (``user_id``); only the secret's hash."""
    s.add(
        ApiToken(
            prefix=prefix,
            token_hash=token_hash,
            role=role,
            org_id=org_id,
            label=label,
            created_at=at,
            user_id=user_id,
            expires_at=expires_at,
        )
    )


def revoke(token: ApiToken, at: datetime) -> None:
    token.revoked_at = at
