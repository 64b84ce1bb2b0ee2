"""What is shown of a person's account (R10): the view every people service returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from certdesk.core.access import Role
from certdesk.core.accounts import is_locked, ordered_roles, password_expires_at
from certdesk.store import orgs as org_store
from certdesk.store.models import User


@dataclass(frozen=True)
class UserView:
    login_id: str
    name: str
    email: str
    org: str | None
    roles: tuple[Role, ...]
    disabled: bool
    enrolled: bool  # has chosen a password
    totp_enabled: bool
    locked_until: datetime | None  # only while the lock lasts
    password_changed_at: datetime | None
    password_expires_at: datetime | None
    last_login_at: datetime | None
    created_at: datetime

    def as_dict(self) -> dict[str, object]:
        out = dict(self.__dict__)
        out["roles"] = [str(r) for r in self.roles]
        return out


@dataclass(frozen=True)
class PasswordLink:
    """A new account or a reset: the link is shown this once and stored only hashed."""

    user: UserView
    link: str = field(repr=False)
    expires_at: datetime


def view_user(user: User, org_code: str | None, now: datetime, max_age_days: int) -> UserView:
    changed = user.password_changed_at
    return UserView(
        login_id=user.login_id,
        name=user.name,
        email=user.email,
        org=org_code,
        roles=ordered_roles(Role(r.role) for r in user.roles),
        disabled=user.disabled,
        enrolled=user.password_hash is not None,
        totp_enabled=user.totp_enabled,
        locked_until=user.locked_until if is_locked(user.locked_until, now) else None,
        password_changed_at=changed,
        password_expires_at=password_expires_at(changed, max_age_days) if changed else None,
        last_login_at=user.last_login_at,
        created_at=user.created_at,
    )


def read_view(s: Session, user: User, now: datetime, max_age_days: int) -> UserView:
    """``user``'s view, its organization's code read in ``s``."""
    org = org_store.by_id(s, user.org_id) if user.org_id is not None else None
    return view_user(user, org.code if org else None, now, max_age_days)
