"""ACME accounts (RFC 8555 §7.3, R17): registration with EAB, lookup, contacts, deactivation.

The protocol front end (certdesk/acme) checks the JWS; this module decides whether an
account may exist: the EAB key must be known, unrevoked, unexpired, unbound, of a
self-managed organization, and the front end's proof (the inner JWS's HMAC) must hold under
that key. Binding the key and creating the account happen in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row
from sqlalchemy.orm import Session

from certdesk.core.access import Action, Actor, Role, authorize
from certdesk.core.accounts import normalize_email
from certdesk.core.acme_states import AccountStatus
from certdesk.errors import Conflict, InvalidInput, NotFound, Unauthorized
from certdesk.services.audit import AuditService
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.services.visibility import listed_org_id
from certdesk.store import acme_reads
from certdesk.store import acme_server as acme_store
from certdesk.store import orgs as org_store
from certdesk.store.models import AcmeAccount

MAX_CONTACTS = 10


@dataclass(frozen=True)
class AccountView:
    id: int
    org_id: int
    org_code: str
    status: AccountStatus
    jwk: str  # the account's public key as JSON
    thumbprint: str
    contacts: tuple[str, ...]
    eab_kid: str
    created_at: datetime
    deactivated_at: datetime | None

    def actor(self) -> Actor:
        """The principal an account acts as: a delegated administrator of its organization
        (R17), so that issuance and revocation apply R2 and R11 as they do for people."""
        return Actor(name=f"acme:account:{self.id}", role=Role.DELEGATED_ADMIN, org_id=self.org_id)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "org": self.org_code,
            "status": str(self.status),
            "contacts": list(self.contacts),
            "eab_kid": self.eab_kid,
            "thumbprint": self.thumbprint,
            "created_at": self.created_at,
            "deactivated_at": self.deactivated_at,
        }


def _view(row: AcmeAccount | Row[Any], org_code: str) -> AccountView:
    """The account from its ORM row or a Core row of the same columns (acme_reads.account)."""
    return AccountView(
        row.id,
        row.org_id,
        org_code,
        row.status,
        row.jwk,
        row.thumbprint,
        tuple(row.contacts),
        row.eab_kid,
        row.created_at,
        row.deactivated_at,
    )


def check_contacts(contacts: Sequence[str]) -> tuple[str, ...]:
    """RFC 8555 §7.3: contacts are ``mailto:`` URLs; anything else is refused."""
    if len(contacts) > MAX_CONTACTS:
        raise InvalidInput("acme.invalid_contact", f"at most {MAX_CONTACTS} contacts")
    out = []
    for contact in contacts:
        if not isinstance(contact, str) or not contact.startswith("mailto:"):
            raise InvalidInput(
                "acme.unsupported_contact", f"only mailto: contacts are supported, not {contact!r}"
            )
        address = contact.removeprefix("mailto:")
        # One plain address (the rule for every address certdesk mails: core/accounts.py),
        # and no hfields ("?subject=…", RFC 6068 §2) or percent-encoding, which a mailto URL
        # gives other meanings: notices go to the address, never to a URL's extras.
        try:
            plain = "?" not in address and "%" not in address and bool(normalize_email(address))
        except InvalidInput:
            plain = False
        if not plain:
            raise InvalidInput("acme.invalid_contact", f"{contact!r} is not one e-mail address")
        out.append(contact)
    return tuple(out)


@dataclass(frozen=True)
class Registration:
    """What newAccount asks for, checked by the front end (RFC 8555 §7.3)."""

    jwk: str
    thumbprint: str
    contacts: tuple[str, ...]
    eab_kid: str
    # Checks the inner JWS's MAC under the EAB key and that it signs this account key; raises.
    prove: Callable[[bytes], None]


# Called in keyChange's transaction with the account (its new key set), its old thumbprint
# and the moment: what else changes with the key (services/acme/persist.py).
KeyChangeHook = Callable[[Session, AcmeAccount, str, datetime], None]


class AcmeAccounts:
    def __init__(
        self,
        rt: Runtime,
        audit: AuditService,
        box: SecretBox,
        *,
        on_key_change: KeyChangeHook | None = None,
    ) -> None:
        self._rt = rt
        self._audit = audit
        self._box = box
        self._on_key_change = on_key_change

    def find(self, thumbprint: str) -> AccountView | None:
        with self._rt.reads() as s:
            row = acme_store.account_by_thumbprint(s, thumbprint)
            return None if row is None else _view(row, acme_store.org_code(s, row.org_id))

    def current(self, account_id: int) -> AccountView:
        """The account as every signed request reads it: one statement, no ORM object."""
        with self._rt.reading() as conn:
            return current_in(conn, account_id)

    def get(self, account_id: int) -> AccountView:
        with self._rt.reads() as s:
            row = acme_store.account(s, account_id)
            if row is None:
                raise NotFound("acme.account_does_not_exist", "no such account")
            return _view(row, acme_store.org_code(s, row.org_id))

    def register(self, reg: Registration) -> tuple[AccountView, bool]:
        """Create the account (or return the existing one for this key, §7.3.1); True if new."""
        contacts = check_contacts(reg.contacts)
        now = self._rt.clock()
        unusable = Unauthorized(
            "acme.eab_unusable", "the external account binding key is unknown, used or revoked"
        )
        with self._rt.sessions.begin() as s:
            existing = acme_store.account_by_thumbprint(s, reg.thumbprint)
            if existing is not None:
                return _view(existing, acme_store.org_code(s, existing.org_id)), False
            key = acme_store.eab_key(s, reg.eab_kid, for_update=True)
            # One answer for every unusable key, so that kids cannot be probed.
            if key is None or key.revoked_at is not None or key.account_id is not None:
                raise unusable
            if key.expires_at is not None and now >= key.expires_at:
                raise unusable
            reg.prove(self._box.open(key.hmac_sealed))
            org = org_store.by_id(s, key.org_id)
            if org is None or not org.self_managed:
                raise unusable
            row = acme_store.add_account(
                s,
                org_id=org.id,
                thumbprint=reg.thumbprint,
                jwk=reg.jwk,
                contacts=contacts,
                eab_kid=key.kid,
                created_at=now,
            )
            if not acme_store.bind_eab_key(s, key.kid, row.id, now):
                raise unusable
            self._audit.record(
                s,
                f"acme:account:{row.id}",
                "acme.account.create",
                "acme_account",
                row.id,
                organization=org.code,
                eab_kid=key.kid,
                thumbprint=reg.thumbprint,
            )
            return _view(row, org.code), True

    def update_contacts(self, account_id: int, contacts: Sequence[str]) -> AccountView:
        checked = check_contacts(contacts)
        with self._rt.sessions.begin() as s:
            row = self._live(s, account_id)
            acme_store.set_contacts(row, checked)
            self._audit.record(
                s,
                f"acme:account:{row.id}",
                "acme.account.update",
                "acme_account",
                row.id,
                contacts=len(checked),
            )
            return _view(row, acme_store.org_code(s, row.org_id))

    def change_key(self, account_id: int, jwk: str, thumbprint: str) -> AccountView:
        """RFC 8555 §7.3.5: the account's key becomes ``jwk``; refused (409, with the other
        account's number) when another account already has that key."""
        with self._rt.sessions.begin() as s:
            row = self._live(s, account_id)
            other = acme_store.account_by_thumbprint(s, thumbprint)
            if other is not None:
                raise Conflict(
                    "acme.key_in_use",
                    "another account already uses this key",
                    account_id=other.id,
                )
            old = row.thumbprint
            acme_store.set_key(row, jwk, thumbprint)
            self._audit.record(
                s,
                f"acme:account:{row.id}",
                "acme.account.key_change",
                "acme_account",
                row.id,
                old_thumbprint=old,
                thumbprint=thumbprint,
            )
            if self._on_key_change is not None:
                self._on_key_change(s, row, old, self._rt.clock())
            return _view(row, acme_store.org_code(s, row.org_id))

    def deactivate_own(self, account_id: int) -> AccountView:
        """RFC 8555 §7.3.6: the client deactivates its own account."""
        return self._deactivate(f"acme:account:{account_id}", account_id)

    def deactivate(self, actor: Actor, account_id: int) -> AccountView:
        """Cert services (any organization) or a delegated administrator (its own)."""
        with self._rt.reads() as s:
            row = acme_store.account(s, account_id)
            if row is None or not (actor.is_global or actor.org_id == row.org_id):
                raise NotFound("acme.account_unknown", f"no ACME account {account_id}")
            authorize(actor, Action.ACME_MANAGE, row.org_id)
        return self._deactivate(actor, account_id)

    def _deactivate(self, actor: Actor | str, account_id: int) -> AccountView:
        with self._rt.sessions.begin() as s:
            row = self._live(s, account_id)
            acme_store.deactivate_account(row, self._rt.clock())
            code = acme_store.org_code(s, row.org_id)
            self._audit.record(
                s, actor, "acme.account.deactivate", "acme_account", row.id, organization=code
            )
            return _view(row, code)

    def _live(self, s: Session, account_id: int) -> AcmeAccount:
        row = acme_store.account(s, account_id, for_update=True)
        if row is None:
            raise NotFound("acme.account_unknown", f"no ACME account {account_id}")
        if row.status is not AccountStatus.VALID:
            raise Conflict("acme.account_deactivated", f"ACME account {account_id} is deactivated")
        return row

    def list(self, actor: Actor, org_code: str | None = None) -> list[AccountView]:
        with self._rt.reads() as s:
            org_id = listed_org_id(s, actor, org_code)
            authorize(actor, Action.ACME_READ, org_id)
            return [_view(row, code) for row, code in acme_store.accounts(s, org_id)]


class KeyChanged(Exception):
    """The account's key is no longer the one the caller knew (a keyChange elsewhere)."""


def current_in(conn: Connection, account_id: int, thumbprint: str | None = None) -> AccountView:
    """The account read on ``conn``; with ``thumbprint``, :class:`KeyChanged` unless its key
    is still that one (a signed request verified under the key it knew: Nonces.use_signed)."""
    row = acme_reads.account(conn, account_id)
    if row is None:
        raise NotFound("acme.account_does_not_exist", "no such account")
    if thumbprint is not None and row.thumbprint != thumbprint:
        raise KeyChanged
    return _view(row, row.org_code)
