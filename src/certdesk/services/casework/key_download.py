"""R12: the one download of a key certdesk generated.

The key leaves encrypted storage once, inside a PKCS#12 protected by the caller's password.
The same transaction that builds the file shreds the key's data key (crypto-shredding,
:mod:`certdesk.services.pki.generated_keys`), so a second attempt is
refused (409) — a lost file means a reissue with a new key. If the response is lost after
that commit, so is the key; that is the price of "the key never leaves encrypted storage
except in a password-protected PKCS#12 download", taken deliberately.
"""

from __future__ import annotations

from cryptography import x509

from certdesk.core import subscriber_keys
from certdesk.core.access import Action, Actor
from certdesk.core.workflow import State
from certdesk.errors import Conflict
from certdesk.services.audit import AuditService
from certdesk.services.casework.cases import CaseService
from certdesk.services.casework.deliveries import submittal_of
from certdesk.services.pki import generated_keys
from certdesk.services.pki.inventory import issuing_chain
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.store import certificates as cert_store
from certdesk.store import submittals as submittal_store

DELIVERED_STATES = (State.DELIVERED, State.CLOSED)


class KeyDownload:
    def __init__(
        self, rt: Runtime, audit: AuditService, cases: CaseService, secretbox: SecretBox
    ) -> None:
        self._rt = rt
        self._audit = audit
        self._cases = cases
        self._box = secretbox

    def download_key(self, actor: Actor, number: str, submittal_id: int, password: str) -> bytes:
        """The submittal's generated key, certificate and chain as a PKCS#12, once."""
        secret = subscriber_keys.bundle_password(password, self._rt.settings.password_min_length)
        now = self._rt.clock()
        with self._cases.locked(actor, number, Action.CASE_OPEN) as (s, case):
            if case.state not in DELIVERED_STATES:
                raise Conflict(
                    "case.not_delivered",
                    f"case {case.number} is {case.state}: nothing was delivered yet",
                )
            sub = submittal_of(s, case, submittal_id)
            if sub.key_downloaded_at is not None:
                raise Conflict(
                    "key.downloaded",
                    f"the private key of submittal {sub.id} was downloaded at"
                    f" {sub.key_downloaded_at:%Y-%m-%d %H:%M}Z and then erased (R12); it cannot"
                    " be downloaded again: reissue the certificate with a new key inside the"
                    " window, or open a new case",
                )
            key_der = generated_keys.open_key(s, self._box, sub.id)
            if key_der is None or sub.certificate_id is None:
                raise Conflict(
                    "key.none",
                    f"submittal {sub.id} was issued from the agency's own CSR: certdesk never"
                    " held its private key",
                )
            row = cert_store.by_id(s, sub.certificate_id)
            assert row is not None and row.der is not None
            bundle = subscriber_keys.pkcs12_bundle(
                key_der,
                x509.load_der_x509_certificate(row.der),
                issuing_chain(s, row),
                secret,
                row.names.split(",")[0],
            )
            generated_keys.shred(s, sub.id)  # R12: its data key dies with this commit
            submittal_store.mark_key_downloaded(sub, now)
            self._audit.record(
                s,
                actor,
                "submittal.key_download",
                "case",
                case.number,
                submittal_id=sub.id,
                serial=row.serial,
            )
        generated_keys.scrub(self._rt)  # its bytes out of the database files, best effort
        return bundle
