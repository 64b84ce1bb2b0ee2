"""Keys certdesk generates for managed submittals without a CSR (R12).

A key is generated once per submittal, sealed under a data key of its own
(:mod:`certdesk.services.pki.generated_keys`) and committed **before anything is signed for
it**, so that every certificate issued for the submittal has its key stored — and a
certificate a crashed fulfilment stored but never linked is recognised by that key on the
retry. It leaves encrypted storage only in the one PKCS#12
download (:mod:`.key_download`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from certdesk.core import subscriber_keys
from certdesk.core.access import Action, Actor
from certdesk.core.keys import KeyType
from certdesk.services.audit import AuditService
from certdesk.services.casework.case_issuance import Work
from certdesk.services.casework.cases import CaseService
from certdesk.services.pki import generated_keys
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.store import submittals as submittal_store


class GeneratedKeys:
    def __init__(
        self, rt: Runtime, audit: AuditService, cases: CaseService, secretbox: SecretBox
    ) -> None:
        self._rt = rt
        self._audit = audit
        self._cases = cases
        self._box = secretbox

    def stored(self, item: Work) -> bytes | None:
        """The submittal's stored key (DER), opened; None if it has none."""
        if not item.key_held:
            return None
        with self._rt.reads() as s:
            return generated_keys.open_key(s, self._box, item.submittal_id)

    def generate(self, actor: Actor, number: str, items: Sequence[Work]) -> dict[int, bytes]:
        """New keys for ``items`` (submittals without one), committed in one transaction.

        Returns submittal id → key (DER). The keys are made before the case is locked; a
        submittal that got a key meanwhile keeps that one, and it is returned instead.
        """
        made = {item.submittal_id: subscriber_keys.new_key(item.key_type) for item in items}
        now = self._rt.clock()
        with self._cases.locked(actor, number, Action.CASE_WORK) as (s, case):
            for item in items:
                sub = submittal_store.submittal(s, case.id, item.submittal_id)
                assert sub is not None
                stored = generated_keys.open_key(s, self._box, sub.id)
                if stored is not None:  # stored meanwhile: that one is the key
                    made[sub.id] = stored
                    continue
                generated_keys.keep(s, self._box, sub.id, made[sub.id], now)
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
        """A key for an R8 reissue; kept with :meth:`replace_key` when the replacement is linked."""
        return subscriber_keys.new_key(key_type)

    def replace_key(
        self, s: Session, submittal_id: int, key_der: bytes | None, now: datetime
    ) -> None:
        """R8 reissue, in the linking transaction: the replacement's key kept under a new data
        key, or (the agency's CSR) the replaced key's data key shredded."""
        if key_der is not None:
            generated_keys.keep(s, self._box, submittal_id, key_der, now)
        else:
            generated_keys.shred(s, submittal_id)

    def scrub(self) -> None:
        """After the commit that shredded a data key: its bytes out of the database files."""
        generated_keys.scrub(self._rt)
