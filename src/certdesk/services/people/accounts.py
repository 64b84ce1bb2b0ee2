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

__all__ = ["AccountService", "PasswordLink", "UserView", "view_user"]

from collections.abc import Iterable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certdesk.core.access import Action, Actor, Role, authorize
from certdesk.core.accounts import (
    check_roles,
    normalize_email,
    normalize_login_id,
    normalize_name,
    ordered_roles,
    parse_roles,
)
from certdesk.errors import Conflict, Forbidden, NotFound
from certdesk.services.audit import AuditService
from certdesk.services.people.enrollment import Enrollments, issue_link
from certdesk.services.people.users import PasswordLink, UserView, read_view, view_user
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.services.visibility import listed_org_id, visible_org
from certdesk.store import users as user_store
from certdesk.store.models import User


class AccountService(Enrollments):
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
                user = user_store.add_user(
                    s,
                    login_id=login,
                    name=name,
                    email=email,
                    org_id=org_id,
                    roles=[str(r) for r in ordered_roles(role_set)],
                    at=now,
                )
                link, expires = issue_link(
                    s, self._rt.settings, self._secretbox, user, "enroll", now, mail=mail
                )
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
                user_store.set_disabled(user, True)
                user_store.end_sessions(s, user.id, now)
                self._audit.record(s, actor, "user.disable", "user", user.login_id)
            return self._view_one(s, user)

    def enable(self, actor: Actor, login_id: str) -> UserView:
        with self._rt.sessions.begin() as s:
            user = self._managed(s, actor, login_id)
            if user.disabled:
                user_store.set_disabled(user, False)
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
            link, expires = issue_link(s, self._rt.settings, self._secretbox, user, "reset", now)
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
                user_store.set_roles(s, user, [str(r) for r in ordered_roles(wanted)])
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

    # ------------------------------------------------------------------ helpers

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
        return read_view(s, user, self._rt.clock(), self._rt.settings.password_max_age_days)
