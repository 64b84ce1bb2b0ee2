"""dns-persist-01 (draft-ietf-acme-dns-persist, CA/B ballot SC-088): the VA reads the TXT
records at ``_validation-persist.NAME`` (CNAMEs followed as for dns-01) and accepts the
authorization when one of them names this CA's issuer domain and the account, and says
``policy=wildcard`` for a wildcard; the record's rules are core/acme_persist.py's.

The record is read fresh at every validation (§4.2); its ``persistUntil`` bounds the proof:
the validator returns it, and the authorization never outlives it.
"""

from __future__ import annotations

from datetime import datetime

from certdesk.clock import Clock
from certdesk.core.acme_persist import (
    RecordRefused,
    account_uris,
    satisfying,
    validation_name,
)
from certdesk.services.acme.dns01 import txt_values
from certdesk.services.acme.validation import Targets, ValidationFailed, ValidationTask


class DnsPersist01:
    def __init__(
        self, targets: Targets, issuers: tuple[str, ...], hash_prefix: str, clock: Clock
    ) -> None:
        self._resolver = targets.resolver
        self._issuers = issuers
        self._prefix = hash_prefix
        self._clock = clock

    def validate(self, task: ValidationTask) -> datetime | None:
        name = validation_name(task.name)
        values = txt_values(self._resolver, name)
        try:
            record = satisfying(
                values,
                issuers=self._issuers,
                accounts=account_uris(self._prefix, task.name, task.thumbprint, task.account_url),
                wildcard=task.wildcard,
                now=self._clock(),
            )
        except RecordRefused as exc:
            raise ValidationFailed(exc.acme_type, f"{name}: {exc.detail}") from None
        return record.persist_until
