"""People, their roles, enrollment links and login sessions (R10)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session, selectinload

from certdesk.core.access import Role
from certdesk.store.models import ApiToken, Enrollment, Organization, User, UserRole


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


def operator_emails(conn: Connection) -> list[str]:
    """The addresses of cert services: every enabled account with the operator role."""
    rows = conn.execute(
        select(User.email)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == Role.OPERATOR, User.disabled.is_(False), User.email != "")
        .distinct()
        .order_by(User.email)
    )
    return [email for (email,) in rows]


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


# --- changes (each on a row the caller read in its write transaction) ------------------------


def add_user(
    s: Session,
    *,
    login_id: str,
    name: str,
    email: str,
    org_id: int | None,
    roles: Sequence[str],
    at: datetime,
) -> User:
    """A new account without a password (it is chosen through an enrollment link, R10)."""
    user = User(
        login_id=login_id,
        name=name,
        email=email,
        org_id=org_id,
        must_change_password=False,
        failed_logins=0,
        totp_enabled=False,
        disabled=False,
        created_at=at,
        roles=[UserRole(role=r) for r in roles],
    )
    s.add(user)
    s.flush()
    return user


def set_disabled(user: User, disabled: bool) -> None:
    user.disabled = disabled


def set_roles(s: Session, user: User, roles: Sequence[str]) -> None:
    """Replace ``user``'s roles with ``roles`` (in that order for the added ones)."""
    # Remove and add only the difference: deleting and re-inserting the same (user, role)
    # key in one flush would collide.
    wanted = set(roles)
    held = {r.role for r in user.roles}
    for row in [r for r in user.roles if r.role not in wanted]:
        user.roles.remove(row)
    for role in roles:
        if role not in held:
            user.roles.append(UserRole(role=role))
    s.flush()


def add_link(
    s: Session, *, user_id: int, token_hash: str, purpose: str, expires_at: datetime, at: datetime
) -> Enrollment:
    """A single-use enrollment or reset link (only its hash), with its id assigned."""
    row = Enrollment(
        user_id=user_id,
        token_hash=token_hash,
        purpose=purpose,
        expires_at=expires_at,
        created_at=at,
    )
    s.add(row)
    s.flush()
    return row


def set_password(user: User, password_hash: str, at: datetime) -> None:
    """A password chosen through a link; it also ends a lockout (R10)."""
    user.password_hash = password_hash
    user.password_changed_at = at
    user.must_change_password = False
    user.failed_logins = 0
    user.locked_until = None


def record_login(user: User, at: datetime, *, new_hash: str | None, changed: bool) -> None:
    """A successful sign-in: failures forgotten; ``new_hash`` a rehash or a changed password
    (``changed``: the person chose it now, which restarts its age, R10)."""
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = at
    if new_hash is not None:
        user.password_hash = new_hash
    if changed:
        user.password_changed_at = at
        user.must_change_password = False


def record_failure(user: User, failures: int, locked_until: datetime | None) -> None:
    """A failed sign-in: the count in a row, and the lockout it started, if any."""
    user.failed_logins = failures
    if locked_until is not None:
        user.locked_until = locked_until


def enable_totp(user: User) -> None:
    user.totp_enabled = True


def use_totp_step(user: User, step: int) -> None:
    """RFC 6238 §5.2: remember the last time step used, so that a code is accepted once."""
    user.totp_last_step = step
