"""Bearer tokens: ``cd_<prefix>_<secret>``, stored as SHA-256, shown once.

Two kinds share the format and the table. An API token stands for exactly one role (and
organization) until it is revoked. A login session (R10) belongs to a person (``user_id``) and
expires: it stands for that person as they are at each request, so a role change applies at
once and a disabled account's sessions stop working.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from certdesk.core.access import GLOBAL_ROLES, Action, Actor, Role, authorize
from certdesk.core.accounts import primary_role
from certdesk.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from certdesk.services.audit import AuditService
from certdesk.services.runtime import Runtime
from certdesk.services.visibility import listed_org_id, visible_org
from certdesk.store import orgs as org_store
from certdesk.store import tokens as token_store
from certdesk.store import users as user_store
from certdesk.store.models import ApiToken, User

# How stale a console session's ``last_seen_at`` may get before a request rewrites it.
SEEN_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenView:
    """An API token as its administrators see it: never its secret, never its hash."""

    prefix: str
    role: Role
    org_code: str | None
    label: str
    created_at: datetime
    revoked_at: datetime | None

    def as_dict(self) -> dict[str, object]:
        return {
            "prefix": self.prefix,
            "role": str(self.role),
            "org": self.org_code,
            "label": self.label,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


def _token_view(row: ApiToken, org_code: str | None) -> TokenView:
    return TokenView(
        row.prefix, Role(row.role), org_code, row.label, row.created_at, row.revoked_at
    )


@dataclass(frozen=True)
class NewToken:
    secret: str  # shown once, never stored
    prefix: str
    role: Role
    org_code: str | None


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise InvalidInput("token.role", f"unknown role {value!r}; use one of {choices}") from None


def _digest(secret: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(secret.encode()).hexdigest()


def _unknown_token() -> Unauthorized:
    return Unauthorized("auth.token", "missing, unknown or revoked API token")


def _prefix_of(secret: str) -> str:
    """The public prefix of ``cd_<prefix>_<secret>``; refuses anything else."""
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != "cd":
        raise _unknown_token()
    return parts[1]


def _mint() -> tuple[str, str]:
    """A new (prefix, secret) pair: 48 bits of public prefix, 256 bits of secret."""
    prefix = secrets.token_hex(6)
    return prefix, f"cd_{prefix}_{secrets.token_urlsafe(32)}"


def _person(user: User) -> Actor:
    """R10: the person as they are now, not as they were at login: current roles and
    organization (a disabled account never gets this far)."""
    roles = frozenset(Role(r.role) for r in user.roles)
    primary = primary_role(roles)
    return Actor(
        name=f"user:{user.login_id}",
        role=primary,
        org_id=user.org_id,
        user_id=user.id,
        also=roles - {primary},
    )


class TokenService:
    def __init__(self, rt: Runtime, audit: AuditService) -> None:
        self._rt = rt
        self._audit = audit

    def create(
        self, actor: Actor, *, role: Role, org_code: str | None, label: str = ""
    ) -> NewToken:
        if role in GLOBAL_ROLES and org_code:
            raise InvalidInput("token.org", f"a {role} token is not tied to an organization")
        if role not in GLOBAL_ROLES and not org_code:
            raise InvalidInput("token.org", f"a {role} token needs --org")
        with self._rt.sessions.begin() as s:
            org_id = visible_org(s, actor, org_code).id if org_code else None
            authorize(actor, Action.TOKEN_CREATE, org_id)
            if role not in actor.grantable():
                raise Forbidden("token.role", f"a {actor.role} may not create {role} tokens")
            prefix, secret = _mint()
            token_store.add_token(
                s,
                prefix=prefix,
                token_hash=_digest(secret),
                role=str(role),
                org_id=org_id,
                label=label,
                at=self._rt.clock(),
            )
            # The secret is never logged or audited: only its public prefix.
            self._audit.record(
                s, actor, "token.create", "token", prefix, role=str(role), org=org_code, label=label
            )
        return NewToken(secret, prefix, role, org_code)

    def authenticate(self, secret: str) -> Actor:
        """The actor a bearer token stands for; any mismatch is the same 401."""
        # An API token, the common case on every API request, is checked with one Core read.
        with self._rt.reading() as conn:
            token = token_store.credentials(conn, _prefix_of(secret))
        if (
            token is None
            or token.revoked
            or not hmac.compare_digest(token.token_hash, _digest(secret))
        ):
            raise _unknown_token()
        if token.user_id is None:
            return Actor(name=f"token:{token.prefix}", role=Role(token.role), org_id=token.org_id)
        # A login session stands for its person as they are now (R10): read them in full.
        with self._rt.reads() as s:
            return _person(self._session_user(s, self._lookup(s, secret)))

    def console_session(self, secret: str, idle: timedelta) -> Actor:
        """R10: the person behind a console session cookie, or ``session.idle``/``.expired``.

        Only login sessions qualify (an API token in a cookie is refused). A session unused
        for ``idle`` ends for good: it is revoked, so an old cookie cannot come back. The last
        request is recorded at most once per :data:`SEEN_EVERY`, so reading pages does not
        cost a durable write each time.
        """
        now = self._rt.clock()
        with self._rt.reads() as s:
            row = self._lookup(s, secret)
            if row.user_id is None:
                raise _unknown_token()
            user = self._session_user(s, row)
            seen = row.last_seen_at or row.created_at
            actor = _person(user)
        if now - seen > idle:
            with self._rt.sessions.begin() as s:
                live = self._lookup(s, secret)
                token_store.revoke(live, now)
                self._audit.record(
                    s, actor, "session.idle", "user", user.login_id, token=live.prefix
                )
            raise Unauthorized(
                "session.idle",
                f"you were signed out after {int(idle.total_seconds() // 60)} minutes"
                " without activity; sign in again",
            )
        if now - seen >= SEEN_EVERY:
            with self._rt.sessions.begin() as s:
                token_store.touch(s, row.prefix, now)
        return actor

    def open_session(
        self, s: Session, *, user_id: int, role: Role, org_id: int | None, expires_at: datetime
    ) -> tuple[str, str]:
        """R10: a login session for a person, in the caller's transaction; (secret, prefix)."""
        prefix, secret = _mint()
        token_store.add_token(
            s,
            prefix=prefix,
            token_hash=_digest(secret),
            role=str(role),
            org_id=org_id,
            label="login session",
            at=self._rt.clock(),
            user_id=user_id,
            expires_at=expires_at,
        )
        return secret, prefix

    def end_session(self, secret: str) -> None:
        """Log out: revoke the session ``secret``; API tokens are not ended this way."""
        with self._rt.sessions.begin() as s:
            row = self._lookup(s, secret)
            if row.user_id is None:
                raise InvalidInput(
                    "session.not_a_session", "this is an API token, not a login session"
                )
            user = self._session_user(s, row)
            row.revoked_at = self._rt.clock()
            self._audit.record(
                s, _person(user), "session.end", "user", user.login_id, token=row.prefix
            )

    def _lookup(self, s: Session, secret: str) -> ApiToken:
        row = token_store.by_prefix(s, _prefix_of(secret))
        if row is None or row.revoked_at is not None:
            raise _unknown_token()
        if not hmac.compare_digest(row.token_hash, _digest(secret)):
            raise _unknown_token()
        return row

    def _session_user(self, s: Session, row: ApiToken) -> User:
        if row.expires_at is None or self._rt.clock() >= row.expires_at:
            raise Unauthorized("session.expired", "the login session has expired; log in again")
        user = user_store.by_id(s, row.user_id) if row.user_id is not None else None
        if user is None or user.disabled:
            raise Unauthorized("account.disabled", "this account is disabled")
        if not user.roles:
            raise Unauthorized("account.no_roles", "this account holds no role")
        return user

    def has_operator_token(self) -> bool:
        with self._rt.reads() as s:
            return token_store.count_live(s, str(Role.OPERATOR)) > 0

    def revoke(self, actor: Actor, prefix: str) -> TokenView:
        """Revoke the API token ``prefix`` for good (audited ``token.revoke``).

        Cert services revoke any token; a delegated administrator only its own
        organization's. Another organization's token, a global one seen from an agency, and
        a login session (ended by signing out or disabling the person) are all unknown here.
        """
        wanted = prefix.strip().lower()
        with self._rt.sessions.begin() as s:
            row = token_store.api_token_for_update(s, wanted) if wanted else None
            if row is None or not (
                actor.is_global or (row.org_id is not None and row.org_id == actor.org_id)
            ):
                raise NotFound("token.unknown", f"no API token with prefix {prefix!r}")
            authorize(actor, Action.TOKEN_CREATE, row.org_id, hide=True)
            org = org_store.by_id(s, row.org_id) if row.org_id is not None else None
            if row.revoked_at is not None:
                raise Conflict("token.revoked", f"API token {row.prefix} was already revoked")
            row.revoked_at = self._rt.clock()
            view = _token_view(row, org.code if org else None)
            self._audit.record(
                s,
                actor,
                "token.revoke",
                "token",
                row.prefix,
                role=row.role,
                org=view.org_code,
                label=row.label,
            )
            return view

    def list(self, actor: Actor, org_code: str | None = None) -> list[TokenView]:
        """API tokens, newest first, revoked ones included; login sessions never.

        Cert services see every token (or one organization's with ``org_code``); a
        delegated administrator sees its own organization's only.
        """
        authorize(actor, Action.TOKEN_CREATE, actor.org_id)
        with self._rt.reads() as s:
            org_id = listed_org_id(s, actor, org_code)
            return [_token_view(row, code) for row, code in token_store.api_tokens(s, org_id)]
