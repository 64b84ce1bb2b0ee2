"""External Account Binding keys (RFC 8555 §7.3.4, R17).

An EAB key ties the one ACME account registered with it to one organization. Cert services
create keys for any organization, a delegated administrator for its own. The HMAC key is
shown once, at creation, and kept only sealed (services/secretbox.py); it is never logged or
audited. A key binds at most one account, ever; a revoked or expired key binds none.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.acme_states import b64url
from certdesk.errors import Conflict, Forbidden, InvalidInput, NotFound
from certdesk.services.audit import AuditService
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.services.visibility import listed_org_id, visible_org
from certdesk.store import acme_server as acme_store
from certdesk.store.models import AcmeEabKey

# The longest an unbound key may stay usable.
MAX_EAB_DAYS = 365


@dataclass(frozen=True)
class NewEabKey:
    kid: str
    hmac_key: str  # base64url; shown once, never stored in clear
    org_code: str
    expires_at: datetime | None


@dataclass(frozen=True)
class EabKeyView:
    """An EAB key as its administrators see it: never the HMAC key."""

    kid: str
    org_code: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    account_id: int | None
    bound_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.account_id is not None:
            return "bound"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "unused"

    def as_dict(self, now: datetime) -> dict[str, object]:
        return {
            "kid": self.kid,
            "org": self.org_code,
            "state": self.state(now),
            "created_by": self.created_by,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "account_id": self.account_id,
            "bound_at": self.bound_at,
        }


def _view(row: AcmeEabKey, org_code: str) -> EabKeyView:
    return EabKeyView(
        row.kid,
        org_code,
        row.created_by,
        row.created_at,
        row.expires_at,
        row.revoked_at,
        row.account_id,
        row.bound_at,
    )


class EabKeys:
    def __init__(self, rt: Runtime, audit: AuditService, box: SecretBox) -> None:
        self._rt = rt
        self._audit = audit
        self._box = box

    def create(self, actor: Actor, org_code: str, *, days: int | None = None) -> NewEabKey:
        """A new key for ``org_code``; its HMAC key is in the result and nowhere else."""
        days = self._rt.settings.acme_eab_days if days is None else days
        if isinstance(days, bool) or not 1 <= days <= MAX_EAB_DAYS:
            raise InvalidInput(
                "acme.eab_days", f"an EAB key expires after 1 to {MAX_EAB_DAYS} days, not {days}"
            )
        now = self._rt.clock()
        hmac_key = _hmac_key()
        kid = "kid-" + secrets.token_hex(12)
        with self._rt.sessions.begin() as s:
            org = visible_org(s, actor, org_code)
            authorize(actor, Action.ACME_MANAGE, org.id)
            # R11: ACME is delegated administration, which only self-managed organizations
            # have; a managed organization's certificates come through cases.
            if not org.self_managed:
                raise Forbidden(
                    "org.managed",
                    f"organization {org.code} is managed: its certificates are issued by cert"
                    " services through a case, not over ACME",
                )
            expires = now + timedelta(days=days)
            acme_store.add_eab_key(
                s,
                kid=kid,
                org_id=org.id,
                hmac_sealed=self._box.seal(hmac_key),
                created_by=actor.name,
                created_at=now,
                expires_at=expires,
            )
            # Only the public kid is audited, never the HMAC key.
            self._audit.record(
                s,
                actor,
                "acme.eab.create",
                "acme_eab_key",
                kid,
                organization=org.code,
                expires_at=expires.isoformat(),
            )
            code = org.code
        return NewEabKey(kid, b64url(hmac_key), code, expires)

    def list(self, actor: Actor, org_code: str | None = None) -> list[EabKeyView]:
        with self._rt.reads() as s:
            org_id = listed_org_id(s, actor, org_code)
            authorize(actor, Action.ACME_READ, org_id)
            return [_view(row, code) for row, code in acme_store.eab_keys(s, org_id)]

    def revoke(self, actor: Actor, kid: str) -> EabKeyView:
        """Revoke a key: it binds no account from now on (an account it bound stays)."""
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            row = acme_store.eab_key(s, kid.strip(), for_update=True)
            if row is None or not (actor.is_global or actor.org_id == row.org_id):
                raise NotFound("acme.eab_unknown", f"no EAB key {kid!r}")
            authorize(actor, Action.ACME_MANAGE, row.org_id)
            if row.revoked_at is not None:
                raise Conflict("acme.eab_revoked", f"EAB key {kid} is already revoked")
            acme_store.revoke_eab_key(row, now)
            code = acme_store.org_code(s, row.org_id)
            self._audit.record(
                s, actor, "acme.eab.revoke", "acme_eab_key", row.kid, organization=code
            )
            return _view(row, code)


def _hmac_key() -> bytes:
    """256 random bits for HS256 (RFC 7518 §3.2: a key at least as long as the hash output),
    drawn again while its base64url text would begin with ``-`` (one key in 64): certbot's
    ``--eab-hmac-key -q3x…`` and other option parsers read such a key as an unknown option
    and stop, which an agency would meet once in 64 keys. It costs under 0.03 bits."""
    while True:
        key = secrets.token_bytes(32)
        if not b64url(key).startswith("-"):
            return key
