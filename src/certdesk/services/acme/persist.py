"""Standing dns-persist-01 records (draft-ietf-acme-dns-persist, R17): what certdesk shows an
administrator to publish, what new orders may be proved by, and the warning before a
record's persistUntil.

1. ``show`` gives the TXT record for one account and one name (within the organization's
   grants, R1/R2) and remembers it, audited; the VA remembers the records it proved too.
2. ``proved`` is newOrder's just-in-time check (§4.4): for each name with a remembered record
   of the account, the record is read fresh from the DNS by the VA — before newOrder's
   transaction, so no transaction waits on the network — and a record that holds makes the
   authorization valid at once. An unknown name costs no lookup.
3. ``warn`` (the worker) queues a mail to the organization's delegated administrators 30, 7
   and 1 days before a record's persistUntil, each stage once, in the transaction that
   records it was sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.orm import Session

from certdesk.core.access import Action, Actor, Role, authorize
from certdesk.core.acme_persist import (
    WARN_DAYS,
    hashed_account_uri,
    record_value,
    validation_name,
    warning_due,
)
from certdesk.core.acme_states import ChallengeType, identifier_base
from certdesk.core.grants import Grant, GrantKind, require_allowed
from certdesk.errors import InvalidInput, NotFound
from certdesk.notify.messages import Mail, persist_record_lapsing, persist_records_rekeyed
from certdesk.services.acme.accounts import AccountView
from certdesk.services.acme.va import account_hash_prefix, account_url, issuer_domain_names
from certdesk.services.acme.validation import ValidationFailed, ValidationTask, Validator
from certdesk.services.audit import AuditService
from certdesk.services.people.account_mail import queue_account_mail
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.services.visibility import listed_org_id
from certdesk.store import acme_persist as persist_store
from certdesk.store import acme_server as acme_store
from certdesk.store import mail_queue as queue
from certdesk.store import orgs as org_store
from certdesk.store import users as user_store
from certdesk.store.models import AcmeAccount, AcmePersistRecord
from certdesk.store.notices import ACCOUNT

log = structlog.get_logger("certdesk.acme")


def _stored(mail: Mail) -> dict[str, str]:
    return {"subject": mail.subject, "body_text": mail.text, "body_html": mail.html}


@dataclass(frozen=True)
class PersistRecordView:
    id: int
    account_id: int
    org_code: str
    name: str
    wildcard: bool
    persist_until: datetime | None
    last_valid_at: datetime | None
    txt_name: str  # _validation-persist.NAME
    txt_value: str  # the RDATA to publish
    # Since when the published record must be replaced by ``txt_value`` (the account's key
    # changed, and with it the hashed accounturi); None once the VA proved it again.
    republish_since: datetime | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "org": self.org_code,
            "name": self.name,
            "wildcard": self.wildcard,
            "persist_until": self.persist_until,
            "last_valid_at": self.last_valid_at,
            "txt_name": self.txt_name,
            "txt_value": self.txt_value,
            "republish_since": self.republish_since,
        }

    def zone_line(self) -> str:
        """The record as a zone-file line."""
        return f'{self.txt_name}. IN TXT "{self.txt_value}"'


class PersistRecords:
    def __init__(
        self,
        rt: Runtime,
        audit: AuditService,
        box: SecretBox,
        validators: dict[ChallengeType, Validator],
    ) -> None:
        self._rt = rt
        self._audit = audit
        self._box = box
        self._validator = validators[ChallengeType.DNSPERSIST01]

    # --- what to publish ------------------------------------------------------------------

    def show(
        self,
        actor: Actor,
        account_id: int,
        domain: str,
        *,
        wildcard: bool = False,
        persist_until: datetime | None = None,
    ) -> PersistRecordView:
        """The record that lets account ``account_id`` prove ``domain`` (``*.domain`` or
        ``wildcard`` for its wildcard too), remembered so that certdesk uses and watches it."""
        settings = self._rt.settings
        now = self._rt.clock()
        text = domain.strip()
        if text.startswith("*."):
            text, wildcard = text[2:], True
        if persist_until is not None and persist_until <= now:
            raise InvalidInput("acme.persist_until_past", "the record's end must be in the future")
        with self._rt.sessions.begin() as s:
            row = acme_store.account(s, account_id)
            if row is None or not (actor.is_global or actor.org_id == row.org_id):
                raise NotFound("acme.account_unknown", f"no ACME account {account_id}")
            authorize(actor, Action.ACME_MANAGE, row.org_id)
            if str(row.status) != "valid":
                raise InvalidInput(
                    "acme.account_deactivated", f"ACME account {account_id} is deactivated"
                )
            grants = [
                Grant(GrantKind(k), n) for k, n in org_store.grants_of(s.connection(), row.org_id)
            ]
            names = [text, f"*.{text}"] if wildcard else [text]
            name = require_allowed(
                names, settings.allowed_suffixes, grants, max_names=settings.max_names_per_cert
            )[0]
            record = persist_store.put_record(
                s,
                account_id=row.id,
                org_id=row.org_id,
                name=name,
                wildcard=wildcard,
                persist_until=persist_until,
                by=actor.name,
                at=now,
            )
            self._audit.record(
                s,
                actor,
                "acme.persist.show",
                "acme_persist_record",
                record.id,
                account=row.id,
                name=name,
                wildcard=wildcard,
                persist_until=None if persist_until is None else persist_until.isoformat(),
            )
            return self._view(s, record, row)

    def records(self, actor: Actor, org_code: str | None = None) -> list[PersistRecordView]:
        with self._rt.reads() as s:
            org_id = listed_org_id(s, actor, org_code)
            authorize(actor, Action.ACME_READ, org_id)
            out = []
            for record in persist_store.records(s, org_id=org_id):
                account = acme_store.account(s, record.account_id)
                assert account is not None
                out.append(self._view(s, record, account))
            return out

    def _value(self, record: AcmePersistRecord, account_id: int, thumbprint: str) -> str:
        """The RDATA of ``record`` for the account's key of ``thumbprint``."""
        settings = self._rt.settings
        uri = hashed_account_uri(
            account_hash_prefix(settings),
            record.name,
            thumbprint,
            account_url(settings, account_id),
        )
        return record_value(
            issuer_domain_names(settings)[0],
            uri,
            wildcard=record.wildcard,
            persist_until=record.persist_until,
        )

    def _view(
        self, s: Session, record: AcmePersistRecord, account: AcmeAccount
    ) -> PersistRecordView:
        return PersistRecordView(
            record.id,
            record.account_id,
            acme_store.org_code(s, record.org_id),
            record.name,
            record.wildcard,
            record.persist_until,
            record.last_valid_at,
            validation_name(record.name),
            self._value(record, account.id, account.thumbprint),
            record.republish_since,
        )

    # --- the account's key changed (RFC 8555 §7.3.5) ----------------------------------------

    def key_changed(self, s: Session, account: AcmeAccount, old: str, at: datetime) -> None:
        """In keyChange's transaction: every standing record of the account that has not
        ended names it by a hash of its key (draft §4.1), so each must be republished with
        its new value. The records are marked, the organization's delegated administrators
        and the account's contacts are mailed once through the mail queue, audited."""
        rows = persist_store.mark_republish(s, account.id, at)
        if not rows:
            return
        org = org_store.by_id(s, account.org_id)
        assert org is not None
        changes = [
            (
                validation_name(r.name),
                self._value(r, account.id, old),
                self._value(r, account.id, account.thumbprint),
            )
            for r in rows
        ]
        to: dict[str, tuple[int, str]] = {}  # address -> (user id or 0, how to greet)
        for user in user_store.search(s, org.id):
            if not user.disabled and Role.DELEGATED_ADMIN in {r.role for r in user.roles}:
                to.setdefault(user.email.lower(), (user.id, user.name))
        for contact in account.contacts:
            address = contact.removeprefix("mailto:")
            to.setdefault(address.lower(), (0, address))
        console = self._rt.settings.base_url.rstrip("/") + "/acme"
        # At most 40 characters (notices.reason); one mail per key change.
        reason = f"acme.rekey#{account.id}@{int(at.timestamp())}-{account.thumbprint[:6]}"
        queue.queue_once(
            s.connection(),
            [
                {
                    "subject_type": ACCOUNT,
                    "subject_id": user_id,
                    "contact_email": address,
                    "reason": reason,
                    "created_at": at,
                    **_stored(
                        persist_records_rekeyed(
                            name=greet,
                            org_name=org.name,
                            account_id=account.id,
                            changed_at=at,
                            records=changes,
                            console_url=console,
                        )
                    ),
                }
                for address, (user_id, greet) in sorted(to.items())
            ],
        )
        self._audit.record(
            s,
            f"acme:account:{account.id}",
            "acme.persist.republish",
            "acme_account",
            account.id,
            names=[r.name for r in rows],
            mailed=len(to),
        )

    # --- newOrder's just-in-time check (§4.4) -----------------------------------------------

    def proved(self, account: AccountView, names: list[str]) -> dict[str, datetime | None]:
        """The order's names (as ordered) that a remembered record of the account proves now:
        name → the record's persistUntil. Runs the VA outside every transaction."""
        now = self._rt.clock()
        bases = {n: identifier_base(n) for n in names}
        with self._rt.reading() as conn:
            known = persist_store.standing(
                conn, account.id, sorted({b for b, _ in bases.values()}), now
            )
        found: dict[str, datetime | None] = {}
        for name, (base, wildcard) in bases.items():
            if base not in known or (wildcard and not known[base]):
                continue
            task = ValidationTask(
                0,
                ChallengeType.DNSPERSIST01,
                base,
                "",
                "",
                account_url=account_url(self._rt.settings, account.id),
                thumbprint=account.thumbprint,
                wildcard=wildcard,
            )
            try:
                found[name] = self._validator.validate(task)
            except ValidationFailed as exc:
                log.info("standing record does not hold", name=base, problem=exc.detail)
            except Exception as exc:  # the order goes on with ordinary challenges
                log.warning("standing record check failed", name=base, error=repr(exc)[:300])
        return found

    @staticmethod
    def learn(
        s: Session,
        account: AccountView,
        name: str,
        wildcard: bool,
        until: datetime | None,
        at: datetime,
    ) -> None:
        """Remember a record the VA just proved (inside the caller's transaction)."""
        existing = persist_store.record(s, account.id, name)
        wildcard = wildcard or (existing is not None and existing.wildcard)
        persist_store.put_record(
            s,
            account_id=account.id,
            org_id=account.org_id,
            name=name,
            wildcard=wildcard,
            persist_until=until,
            by="acme:va",
            at=at,
            valid=True,
        )

    # --- warnings before persistUntil (the worker) -----------------------------------------

    def warn(self, now: datetime | None = None) -> int:
        """Queue the warnings that are due; the number of records warned about."""
        now = now or self._rt.clock()
        settings = self._rt.settings
        warned = 0
        with self._rt.reads() as s:
            due = [
                (r.id, stage)
                for r in persist_store.lapsing(s, now, now + timedelta(days=max(WARN_DAYS)))
                if (stage := warning_due(r.persist_until, r.warned_days, now)) is not None
            ]
        for record_id, stage in due:
            with self._rt.sessions.begin() as s:
                record = persist_store.locked(s, record_id)
                if (
                    record is None
                    or warning_due(record.persist_until, record.warned_days, now) != stage
                ):
                    continue  # another worker sent it
                account = acme_store.account(s, record.account_id)
                org = org_store.by_id(s, record.org_id)
                assert account is not None and org is not None and record.persist_until is not None
                view = self._view(s, record, account)
                for user in user_store.search(s, org.id):
                    if user.disabled or Role.DELEGATED_ADMIN not in {r.role for r in user.roles}:
                        continue
                    mail = persist_record_lapsing(
                        name=user.name,
                        org_name=org.name,
                        record_name=view.txt_name,
                        record_value=view.txt_value,
                        account_id=account.id,
                        persist_until=record.persist_until,
                        console_url=settings.base_url.rstrip("/") + "/acme",
                    )
                    queue_account_mail(
                        s,
                        user.email,
                        mail,
                        now,
                        box=self._box,
                        user_id=user.id,
                        reason=f"acme.persist#{record.id}@{int(record.persist_until.timestamp())}-{stage}d",
                    )
                persist_store.set_warned(record, stage)
                self._audit.record(
                    s,
                    "worker",
                    "acme.persist.warn",
                    "acme_persist_record",
                    record.id,
                    name=record.name,
                    days=stage,
                )
                warned += 1
        return warned
