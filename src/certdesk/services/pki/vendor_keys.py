"""Key rollover of a vendor account (RFC 8555 §7.3.5), crash-safe.

Write-ahead: the new key is generated, sealed and stored beside the current one
(``next_account_key_sealed``) before the vendor is asked; once the vendor took it, one
UPDATE makes it the account key. A crash in between leaves both: the next rollover first
asks the vendor which one it knows and finishes (or forgets) the interrupted one. The vendor
refuses the old key from the moment it answered.
"""

from __future__ import annotations

import base64

from josepy.jwk import JWK

from certdesk.ca.acme.account import key_from_pem, key_to_pem, new_account_key, rollover
from certdesk.ca.acme.problems import Backoff
from certdesk.ca.acme.session import AcmeSession, Endpoint
from certdesk.core.access import Actor
from certdesk.errors import CertdeskError, Conflict, Unavailable
from certdesk.services.audit import AuditService
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.store import vendors as vendor_store
from certdesk.store.vendors import VendorIssuer


class KeyRollover:
    """One rollover of one vendor's account key (the caller checked the actor's right)."""

    def __init__(
        self,
        rt: Runtime,
        audit: AuditService,
        box: SecretBox,
        endpoint: Endpoint,
        backoff: Backoff,
    ) -> None:
        self._rt = rt
        self._audit = audit
        self._box = box
        self._endpoint = endpoint
        self._backoff = backoff

    def run(self, actor: Actor, current: VendorIssuer) -> None:
        """Replace the account key at the vendor (RFC 8555 §7.3.5), audited.

        Write-ahead: the new key is generated, sealed and stored beside the current one
        before the vendor is asked; once the vendor took it, one UPDATE makes it the account
        key. A crash in between leaves both: the next rollover first asks the vendor which
        one it knows and finishes (or forgets) the interrupted one. The old key is refused
        by the vendor from the moment it answered.
        """
        if current.next_account_key_sealed is not None and self._resume(actor, current):
            return
        old_key = key_from_pem(self._box.open(current.account_key_sealed))
        new_key = new_account_key()
        sealed_next = self._box.seal(key_to_pem(new_key))
        with self._rt.sessions.begin() as s:
            if not vendor_store.begin_rollover(
                s, current.id, current=current.account_key_sealed, sealed_next=sealed_next
            ):
                raise Conflict("issuer.changed", f"the issuer {current.slug} changed meanwhile")
        session = AcmeSession(
            self._endpoint,
            old_key,
            account_url=current.account_url,
            backoff=self._backoff,
        )
        try:
            rollover(session, new_key)
        except CertdeskError:
            # The vendor refused or did not answer: nothing changed there, so nothing here.
            with self._rt.sessions.begin() as s:
                vendor_store.drop_rollover(s, current.id)
            raise
        finally:
            session.close()
        self._finish(actor, current, sealed_next, old_key, new_key, resumed=False)

    def _resume(self, actor: Actor, current: VendorIssuer) -> bool:
        """An interrupted rollover: finish it if the vendor took the new key (True), else
        forget it (False: go on with a fresh rollover)."""
        assert current.next_account_key_sealed is not None
        pending = key_from_pem(self._box.open(current.next_account_key_sealed))
        session = AcmeSession(
            self._endpoint,
            pending,
            account_url=current.account_url,
            backoff=self._backoff,
        )
        try:
            session.post_as_get(current.account_url, "checking the account key")
        except Unavailable:
            raise  # the vendor cannot tell us now: decide nothing
        except CertdeskError:
            with self._rt.sessions.begin() as s:
                vendor_store.drop_rollover(s, current.id)
            return False
        finally:
            session.close()
        old_key = key_from_pem(self._box.open(current.account_key_sealed))
        self._finish(
            actor, current, current.next_account_key_sealed, old_key, pending, resumed=True
        )
        return True

    def _finish(
        self,
        actor: Actor,
        current: VendorIssuer,
        sealed_next: bytes,
        old_key: JWK,
        new_key: JWK,
        *,
        resumed: bool,
    ) -> None:
        with self._rt.sessions.begin() as s:
            if not vendor_store.finish_rollover(s, current.id, sealed_next=sealed_next):
                raise Conflict("issuer.changed", f"the issuer {current.slug} changed meanwhile")
            self._audit.record(
                s,
                actor,
                "issuer.rollover",
                "issuer",
                current.slug,
                account_url=current.account_url,
                old_key=_thumbprint(old_key),
                new_key=_thumbprint(new_key),
                resumed=resumed,
            )


def _thumbprint(key: JWK) -> str:
    """The key's RFC 7638 thumbprint (public; names the key in the audit log)."""
    return base64.urlsafe_b64encode(key.thumbprint()).decode().rstrip("=")
