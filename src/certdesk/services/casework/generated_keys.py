"""Keys certdesk generates for managed submittals without a CSR (R12).

A key is generated once per submittal, sealed (:class:`SecretBox`) and committed on the
submittal **before anything is signed for it**, so that every certificate issued for the
submittal has its key stored — and a certificate a crashed fulfilment stored but never linked
is recognised by that key on the retry. It leaves encrypted storage only in the one PKCS#12
download (:mod:`.key_download`).
"""

from __future__ import annotations

from collections.abc import Sequence

from certdesk.core import subscriber_keys
from certdesk.core.access import Action, Actor
from certdesk.core.keys import KeyType
from certdesk.services.audit import AuditService
from certdesk.services.casework.case_issuance import Work
from certdesk.services.casework.cases import CaseService
from certdesk.services.secretbox import SecretBox
from certdesk.store import cases as case_store


class GeneratedKeys:
    def __init__(self, audit: AuditService, cases: CaseService, secretbox: SecretBox) -> None:
        self._audit = audit
        self._cases = cases
        self._box = secretbox

    def stored(self, item: Work) -> bytes | None:
        """The submittal's stored key (DER), opened; None if it has none."""
        return self._box.open(item.sealed_key) if item.sealed_key is not None else None

    def generate(self, actor: Actor, number: str, items: Sequence[Work]) -> dict[int, bytes]:
        """New keys for ``items`` (submittals without one), committed in one transaction.

        Returns submittal id → key (DER). The keys are made before the case is locked; a
        submittal that got a key meanwhile keeps that one, and it is returned instead.
        """
        made = {item.submittal_id: subscriber_keys.new_key(item.key_type) for item in items}
        sealed = {sub_id: self._box.seal(key) for sub_id, key in made.items()}
        with self._cases.locked(actor, number, Action.CASE_WORK) as (s, case):
            for item in items:
                sub = case_store.submittal(s, case.id, item.submittal_id)
                assert sub is not None
                if sub.generated_key is not None:  # stored meanwhile: that one is the key
                    made[sub.id] = self._box.open(sub.generated_key)
                    continue
                case_store.store_generated_key(sub, sealed[sub.id])
                self._audit.record(
                    s,
                    actor,
                    "submittal.key_generate",
                    "case",
                    case.number,
                    submittal_id=sub.id,
                    key_type=str(item.key_type),
                )
        return made

    def new_unsaved(self, key_type: KeyType) -> bytes:
        """A key for an R8 reissue; sealed with :meth:`seal` when the replacement is linked."""
        return subscriber_keys.new_key(key_type)

    def seal(self, key_der: bytes) -> bytes:
        return self._box.seal(key_der)
