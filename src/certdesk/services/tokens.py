"""API bearer tokens: ``cd_<prefix>_<secret>``, stored as SHA-256, shown once."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from certdesk.core.access import GLOBAL_ROLES, Action, Actor, Role, authorize, sees_org
from certdesk.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from certdesk.services.audit import AuditService
from certdesk.services.runtime import Runtime
from certdesk.store import orgs as org_store
from certdesk.store import tokens as token_store
from certdesk.store.models import ApiToken


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
            org_id = None
            if org_code:
                org = org_store.by_code(s, org_code.strip().lower())
                if org is None or not sees_org(actor, org.id):
                    raise NotFound("org.unknown", f"no organization with code {org_code!r}")
                org_id = org.id
            authorize(actor, Action.TOKEN_CREATE, org_id)
            if role not in actor.grantable():
                raise Forbidden("token.role", f"a {actor.role} may not create {role} tokens")
            prefix = secrets.token_hex(6)
            secret = f"cd_{prefix}_{secrets.token_urlsafe(32)}"
            s.add(
                ApiToken(
                    prefix=prefix,
                    token_hash=_digest(secret),
                    role=str(role),
                    org_id=org_id,
                    label=label,
                    created_at=self._rt.clock(),
                )
            )
            # The secret is never logged or audited: only its public prefix.
            self._audit.record(
                s, actor, "token.create", "token", prefix, role=str(role), org=org_code, label=label
            )
        return NewToken(secret, prefix, role, org_code)

    def authenticate(self, secret: str) -> Actor:
        """The actor a bearer token stands for; any mismatch is the same 401."""
        bad = Unauthorized("auth.token", "missing, unknown or revoked API token")
        parts = secret.split("_", 2)
        if len(parts) != 3 or parts[0] != "cd":
            raise bad
        with self._rt.reads() as s:
            row = token_store.by_prefix(s, parts[1])
            if row is None or row.revoked_at is not None:
                raise bad
            if not hmac.compare_digest(row.token_hash, _digest(secret)):
                raise bad
            return Actor(name=f"token:{row.prefix}", role=Role(row.role), org_id=row.org_id)

    def has_operator_token(self) -> bool:
        with self._rt.reads() as s:
            return token_store.count_live(s, str(Role.OPERATOR)) > 0
