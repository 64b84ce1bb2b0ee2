"""People and their accounts (R10): create, list, show, disable, enable, reset, roles, enroll.

A person has a login ID that never expires and is never reused (accounts are disabled, never
deleted), a name, an e-mail address, and either global roles (operator, auditor) or roles in
exactly one organization (requester, approver, delegated_admin; several at once are fine).

Nobody ever sees or sends another person's password (R10). A new account gets a single-use
link, valid for ``enrollment_hours``, to choose one: the link is shown once to whoever created
the account and mailed to the person (through the mail queue, in the same transaction), together
with the operator's training material link. Only the link's SHA-256 is stored. A reset works
the same way; the old password keeps working until the new link is used, so that a reset
requested by mistake (or by someone else) locks nobody out. Issuing a link retires every
earlier unused link of that person: only the newest one works.

Who manages whom: cert services (operator) manage everyone; a delegated administrator manages
the people of its own organization and hands out only organization roles; auditors and
delegated administrators may list (the latter their own organization). People outside the
caller's view are reported as unknown, like other organizations' objects. Nobody disables
their own account or changes their own roles: another administrator must.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certdesk.core.access import Action, Actor, Role, authorize
from certdesk.core.accounts import (
    check_new_password,
    check_roles,
    describe_instant,
    is_locked,
    normalize_email,
    normalize_login_id,
    normalize_name,
    ordered_roles,
    parse_roles,
    password_expires_at,
)
from certdesk.errors import Conflict, Forbidden, NotFound
from certdesk.links import enrollment_link
from certdesk.notify.messages import password_link
from certdesk.services.audit import AuditService
from certdesk.services.people.account_mail import queue_account_mail
from certdesk.services.people.passwords import hash_password
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.services.visibility import listed_org_id, visible_org
from certdesk.store import orgs as org_store
from certdesk.store import users as user_store
from certdesk.store.models import Enrollment, User, UserRole

Purpose = Literal["enroll", "reset"]


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


def token_digest(token: str) -> str:
    # The token carries 256 bits of randomness, so a fast hash is enough (as for API tokens).
    return hashlib.sha256(token.encode()).hexdigest()


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


class AccountService:
    def __init__(self, rt: Runtime, audit: AuditService, secretbox: SecretBox) -> None:
        self._rt = rt
        self._audit = audit
        self._secretbox = secretbox

    # ------------------------------------------------------------------ reading

    def list_users(self, actor: Actor, org_code: str | None = None) -> list[UserView]:
        """Everyone (operator, auditor), or the people of the caller's organization."""
        authorize(actor, Action.USER_READ, actor.org_id)
        with self._rt.reads() as s:
            org_id = listed_org_id(s, actor, org_code)
            codes = user_store.org_codes(s)
            return [self._view(u, codes) for u in user_store.search(s, org_id)]

    def get(self, actor: Actor, login_id: str) -> UserView:
        with self._rt.reads() as s:
            user = self._visible(s, actor, login_id)
            authorize(actor, Action.USER_READ, user.org_id, hide=True)
            return self._view_one(s, user)

    def me(self, actor: Actor) -> UserView:
        """The signed-in person's own account (login sessions only)."""
        if actor.user_id is None:
            raise Forbidden("user.person_only", "only a person signed in with a password has this")
        with self._rt.reads() as s:
            user = user_store.by_id(s, actor.user_id)
            if user is None:
                raise NotFound("user.unknown", "no such user")
            return self._view_one(s, user)

    # ------------------------------------------------------------------ changes

    def has_person_with(self, role: Role) -> bool:
        """Whether any account, disabled or not, holds ``role`` (``init`` asks)."""
        with self._rt.reads() as s:
            return any(r.role == str(role) for u in user_store.search(s) for r in u.roles)

    def create(
        self,
        actor: Actor,
        login_id: str,
        *,
        name: str,
        email: str,
        org_code: str | None,
        roles: Iterable[str],
        mail: bool = True,
    ) -> PasswordLink:
        """A new account and its enrollment link (shown once, mailed to the person unless
        ``mail`` is false: ``init`` prints the first operator's link instead)."""
        authorize(actor, Action.USER_MANAGE, actor.org_id)
        login = normalize_login_id(login_id)
        name = normalize_name(name)
        email = normalize_email(email)
        role_set = check_roles(parse_roles(roles), has_org=bool(org_code))
        self._check_grantable(actor, role_set)
        now = self._rt.clock()
        try:
            with self._rt.sessions.begin() as s:
                org_id = visible_org(s, actor, org_code).id if org_code else None
                authorize(actor, Action.USER_MANAGE, org_id)
                if user_store.by_login(s, login) is not None:
                    raise Conflict(
                        "user.exists", f"login ID {login} is taken (IDs are never reused)"
                    )
                user = User(
                    login_id=login,
                    name=name,
                    email=email,
                    org_id=org_id,
                    must_change_password=False,
                    failed_logins=0,
                    totp_enabled=False,
                    disabled=False,
                    created_at=now,
                    roles=[UserRole(role=str(r)) for r in ordered_roles(role_set)],
                )
                s.add(user)
                s.flush()
                link, expires = self._issue_link(s, user, "enroll", now, mail=mail)
                view = self._view_one(s, user)
                # Never the link's token: it is a credential until used.
                self._audit.record(
                    s,
                    actor,
                    "user.create",
                    "user",
                    login,
                    name=name,
                    email=email,
                    org=view.org,
                    roles=[str(r) for r in view.roles],
                    link_expires_at=expires.isoformat(),
                )
        except IntegrityError:
            raise Conflict("user.exists", f"login ID {login} is taken") from None
        return PasswordLink(view, link, expires)

    def disable(self, actor: Actor, login_id: str) -> UserView:
        """Disable an account: no more logins, and its sessions stop working at once."""
        with self._rt.sessions.begin() as s:
            user = self._managed(s, actor, login_id)
            self._not_self(actor, user, "disable")
            if not user.disabled:
                now = self._rt.clock()
                user.disabled = True
                user_store.end_sessions(s, user.id, now)
                self._audit.record(s, actor, "user.disable", "user", user.login_id)
            return self._view_one(s, user)

    def enable(self, actor: Actor, login_id: str) -> UserView:
        with self._rt.sessions.begin() as s:
            user = self._managed(s, actor, login_id)
            if user.disabled:
                user.disabled = False
                self._audit.record(s, actor, "user.enable", "user", user.login_id)
            return self._view_one(s, user)

    def reset(self, actor: Actor, login_id: str) -> PasswordLink:
        """A new single-use link to choose a password; the old password works until it is used."""
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            user = self._managed(s, actor, login_id)
            if user.disabled:
                raise Conflict(
                    "account.disabled", f"{user.login_id} is disabled; enable the account first"
                )
            link, expires = self._issue_link(s, user, "reset", now)
            self._audit.record(
                s, actor, "user.reset", "user", user.login_id, link_expires_at=expires.isoformat()
            )
            return PasswordLink(self._view_one(s, user), link, expires)

    def set_roles(self, actor: Actor, login_id: str, roles: Iterable[str]) -> UserView:
        """Replace a person's roles; their sessions act with the new ones from the next request."""
        wanted = parse_roles(roles)
        with self._rt.sessions.begin() as s:
            user = self._managed(s, actor, login_id)
            check_roles(wanted, has_org=user.org_id is not None)
            self._check_grantable(actor, wanted)
            self._not_self(actor, user, "change the roles of")
            before = ordered_roles(Role(r.role) for r in user.roles)
            if set(before) != wanted:
                # Remove and add only the difference: deleting and re-inserting the same
                # (user, role) key in one flush would collide.
                for row in [r for r in user.roles if Role(r.role) not in wanted]:
                    user.roles.remove(row)
                for role in ordered_roles(wanted - set(before)):
                    user.roles.append(UserRole(role=str(role)))
                s.flush()
                self._audit.record(
                    s,
                    actor,
                    "user.roles",
                    "user",
                    user.login_id,
                    before=[str(r) for r in before],
                    after=[str(r) for r in ordered_roles(wanted)],
                )
            return self._view_one(s, user)

    def enroll(self, token: str, password: str) -> UserView:
        """Redeem an enrollment or reset link: set the password, use the link up."""
        now = self._rt.clock()
        settings = self._rt.settings
        with self._rt.sessions.begin() as s:
            link = user_store.enrollment_by_hash(s, token_digest(token.strip()))
            if link is None:
                raise NotFound(
                    "enrollment.unknown",
                    "this link is not valid; ask your administrator for a new one",
                )
            if link.used_at is not None:
                raise Conflict(
                    "enrollment.used",
                    "this link has already been used or was replaced by a newer one; ask your"
                    " administrator for a new one",
                )
            if now >= link.expires_at:
                raise Conflict(
                    "enrollment.expired",
                    f"this link expired at {describe_instant(link.expires_at)}; ask your"
                    " administrator for a new one",
                )
            user = user_store.by_id(s, link.user_id)
            if user is None or user.disabled:
                raise Conflict("account.disabled", "this account is disabled")
            check_new_password(
                password, min_length=settings.password_min_length, login_id=user.login_id
            )
            user.password_hash = hash_password(password)
            user.password_changed_at = now
            user.must_change_password = False
            # Choosing a password through a link is also how a locked-out person gets back in.
            user.failed_logins = 0
            user.locked_until = None
            user_store.retire_links(s, user.id, now)  # this one included
            user_store.end_sessions(s, user.id, now)
            self._audit.record(
                s,
                f"user:{user.login_id}",
                "user.enroll",
                "user",
                user.login_id,
                purpose=link.purpose,
            )
            return self._view_one(s, user)

    # ------------------------------------------------------------------ helpers

    def _issue_link(
        self, s: Session, user: User, purpose: Purpose, now: datetime, *, mail: bool = True
    ) -> tuple[str, datetime]:
        settings = self._rt.settings
        user_store.retire_links(s, user.id, now)
        # 256 bits as hex: a token never starts with '-' (which a command line would take for
        # an option) and a double click selects all of it, wherever a person copies it from.
        token = secrets.token_hex(32)
        expires = now + timedelta(hours=settings.enrollment_hours)
        enrollment = Enrollment(
            user_id=user.id,
            token_hash=token_digest(token),
            purpose=purpose,
            expires_at=expires,
            created_at=now,
        )
        s.add(enrollment)
        link = enrollment_link(settings.base_url, token)
        if not mail:
            return link, expires
        message = password_link(
            purpose=purpose,
            name=user.name,
            login_id=user.login_id,
            link=link,
            expires_at=expires,
            training_url=settings.training_url,
        )
        s.flush()  # the link's id names the mail in the queue (its once-only key)
        queue_account_mail(
            s,
            user.email,
            message,
            now,
            box=self._secretbox,
            user_id=user.id,
            reason=f"account.{purpose}#{enrollment.id}",
        )
        return link, expires

    def _visible(self, s: Session, actor: Actor, login_id: str, *, lock: bool = False) -> User:
        user = user_store.by_login(s, login_id.strip().lower(), for_update=lock)
        # Outside the caller's view (another organization, or cert services staff seen from
        # an agency) a person does not exist, as other organizations' objects do not.
        if user is None or not (actor.is_global or user.org_id == actor.org_id):
            raise NotFound("user.unknown", f"no user {login_id!r}")
        return user

    def _managed(self, s: Session, actor: Actor, login_id: str) -> User:
        user = self._visible(s, actor, login_id, lock=True)
        authorize(actor, Action.USER_MANAGE, user.org_id, hide=True)
        self._check_grantable(actor, {Role(r.role) for r in user.roles})
        return user

    @staticmethod
    def _check_grantable(actor: Actor, roles: Iterable[Role]) -> None:
        missing = sorted(set(roles) - actor.grantable())
        if missing:
            raise Forbidden(
                "user.role",
                f"a {actor.role} may not manage {', '.join(missing)} accounts",
            )

    @staticmethod
    def _not_self(actor: Actor, user: User, what: str) -> None:
        if actor.user_id is not None and actor.user_id == user.id:
            raise Conflict(
                "user.self", f"you cannot {what} your own account; ask another administrator"
            )

    def _view(self, user: User, codes: dict[int, str]) -> UserView:
        code = codes.get(user.org_id) if user.org_id is not None else None
        return view_user(user, code, self._rt.clock(), self._rt.settings.password_max_age_days)

    def _view_one(self, s: Session, user: User) -> UserView:
        org = org_store.by_id(s, user.org_id) if user.org_id is not None else None
        return view_user(
            user,
            org.code if org else None,
            self._rt.clock(),
            self._rt.settings.password_max_age_days,
        )
