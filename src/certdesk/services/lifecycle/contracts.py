"""Vendor contracts for certificate services (the seed's team manages the vendor contract
and its licences): record, list, show, update, and warn cert services before one ends.

Only cert services (operators) see or change them. Licences in use are counted from the
inventory when the contract names its vendor CA (its certificates in force); otherwise
cert services record the number. Every change is audited (R15). The warnings go through the
one mail queue, each (contract, address, warning) once (its unique key), queued in the
transaction that decides to send it; the queue's sender sends them like any stored mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from sqlalchemy.orm import Session

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.calendar import PACIFIC
from certdesk.core.contracts import ContractTerms, check_terms, notice_reason, warning_due
from certdesk.errors import Conflict, NotFound
from certdesk.notify.messages import Mail
from certdesk.services.audit import AuditService
from certdesk.services.lifecycle.renewals import WORKER
from certdesk.services.runtime import Runtime
from certdesk.store import contracts as contract_store
from certdesk.store import mail_queue as queue
from certdesk.store import notices as notice_store
from certdesk.store import vendors as vendor_store
from certdesk.store.models import VendorContract


@dataclass(frozen=True)
class ContractView:
    id: int
    vendor: str
    number: str
    issuer: str | None
    licences_total: int
    licences_used: int | None
    used_from_inventory: bool
    starts_on: date
    ends_on: date
    notes: str
    updated_at: datetime

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "vendor": self.vendor,
            "number": self.number,
            "issuer": self.issuer,
            "licences_total": self.licences_total,
            "licences_used": self.licences_used,
            "used_from_inventory": self.used_from_inventory,
            "starts_on": self.starts_on.isoformat(),
            "ends_on": self.ends_on.isoformat(),
            "notes": self.notes,
            "updated_at": self.updated_at.isoformat().replace("+00:00", "Z"),
        }

    def fields(self) -> dict[str, object]:
        """What an audit event records as before/after."""
        out = self.as_dict()
        for key in ("id", "updated_at", "used_from_inventory"):
            out.pop(key)
        if self.used_from_inventory:
            out.pop("licences_used")
        return out


@dataclass(frozen=True)
class ContractChange:
    """Fields to change; None leaves a field as it is (``issuer`` "" unlinks the vendor CA)."""

    vendor: str | None = None
    number: str | None = None
    issuer: str | None = None
    licences_total: int | None = None
    licences_used: int | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    notes: str | None = None


def _views(s: Session, rows: list[VendorContract]) -> list[ContractView]:
    issuer_ids = sorted({r.issuer_id for r in rows if r.issuer_id is not None})
    slugs = contract_store.issuer_slugs(s, issuer_ids)
    in_force = contract_store.certificates_in_force(s, issuer_ids)
    return [
        ContractView(
            id=r.id,
            vendor=r.vendor,
            number=r.number,
            issuer=slugs.get(r.issuer_id) if r.issuer_id is not None else None,
            licences_total=r.licences_total,
            licences_used=(
                in_force.get(r.issuer_id, 0) if r.issuer_id is not None else r.licences_used
            ),
            used_from_inventory=r.issuer_id is not None,
            starts_on=r.starts_on,
            ends_on=r.ends_on,
            notes=r.notes,
            updated_at=r.updated_at,
        )
        for r in rows
    ]


class ContractService:
    def __init__(self, rt: Runtime, audit: AuditService) -> None:
        self._rt = rt
        self._audit = audit

    def list(self, actor: Actor) -> list[ContractView]:
        authorize(actor, Action.CONTRACT_MANAGE, None)
        with self._rt.reads() as s:
            return _views(s, contract_store.every(s))

    def show(self, actor: Actor, number: str) -> ContractView:
        authorize(actor, Action.CONTRACT_MANAGE, None)
        with self._rt.reads() as s:
            return _views(s, [_contract(s, number)])[0]

    def get(self, actor: Actor, contract_id: int) -> ContractView:
        """One contract by its id (the console's and the warning mail's links)."""
        authorize(actor, Action.CONTRACT_MANAGE, None)
        with self._rt.reads() as s:
            row = contract_store.by_id(s, contract_id) if 0 < contract_id < 2**31 else None
            if row is None:
                raise NotFound("contract.unknown", f"no vendor contract {contract_id}")
            return _views(s, [row])[0]

    def add(self, actor: Actor, terms: ContractTerms, issuer: str = "") -> ContractView:
        """Record a contract (audited ``contract.add``)."""
        authorize(actor, Action.CONTRACT_MANAGE, None)
        checked = check_terms(terms)
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            _number_free(s, checked.number)
            row = contract_store.add(
                s,
                VendorContract(
                    vendor=checked.vendor,
                    number=checked.number,
                    issuer_id=_issuer_id(s, issuer),
                    licences_total=checked.licences_total,
                    licences_used=checked.licences_used,
                    starts_on=checked.starts_on,
                    ends_on=checked.ends_on,
                    notes=checked.notes,
                    created_at=now,
                    updated_at=now,
                ),
            )
            (view,) = _views(s, [row])
            self._audit.record(
                s, actor, "contract.add", "contract", row.number, after=view.fields()
            )
            return view

    def update(self, actor: Actor, number: str, change: ContractChange) -> ContractView:
        """Change a contract's record (audited ``contract.change`` old → new)."""
        authorize(actor, Action.CONTRACT_MANAGE, None)
        with self._rt.sessions.begin() as s:
            row = _contract(s, number, for_update=True)
            (before,) = _views(s, [row])
            current = ContractTerms(
                row.vendor, row.number, row.licences_total, row.licences_used,
                row.starts_on, row.ends_on, row.notes,
            )  # fmt: skip
            wanted = check_terms(
                ContractTerms(
                    _or(change.vendor, current.vendor),
                    _or(change.number, current.number),
                    _or(change.licences_total, current.licences_total),
                    _or(change.licences_used, current.licences_used),
                    _or(change.starts_on, current.starts_on),
                    _or(change.ends_on, current.ends_on),
                    _or(change.notes, current.notes),
                )
            )
            issuer_id = row.issuer_id if change.issuer is None else _issuer_id(s, change.issuer)
            if wanted == current and issuer_id == row.issuer_id:
                return before  # nothing to change: no event
            if wanted.number.lower() != row.number.lower():
                _number_free(s, wanted.number)
            row.vendor, row.number, row.notes = wanted.vendor, wanted.number, wanted.notes
            row.licences_total, row.licences_used = wanted.licences_total, wanted.licences_used
            row.starts_on, row.ends_on, row.issuer_id = wanted.starts_on, wanted.ends_on, issuer_id
            row.updated_at = self._rt.clock()
            s.flush()
            (after,) = _views(s, [row])
            self._audit.record(
                s,
                actor,
                "contract.change",
                "contract",
                row.number,
                before=before.fields(),
                after=after.fields(),
            )
            return after

    # --- the worker's job ---------------------------------------------------------------

    def warn(self, now: datetime) -> int:
        """Queue the warnings due at ``now`` (each contract, address and warning once); how
        many mails were queued. Safe with several workers: each contract's row is locked
        while its warnings are decided."""
        days = self._rt.settings.contract_notice_days
        today = now.astimezone(PACIFIC).date()
        queued = 0
        with self._rt.reads() as s:
            ids = contract_store.ending_by(
                s, today.fromordinal(today.toordinal() + max(days)), today
            )
        for contract_id in ids:
            with self._rt.sessions.begin() as s:
                row = contract_store.by_id(s, contract_id, for_update=True)
                if row is None:
                    continue
                known = notice_store.recorded_reasons(s, notice_store.ACCOUNT, [row.id])
                recorded = known.get(row.id, set())
                due = warning_due(row.ends_on, today, days, recorded)
                if due is None:
                    continue
                to = self._rt.settings.contract_notice_to or tuple(
                    contract_store.operator_addresses(s)
                )
                (view,) = _views(s, [row])
                mail = _warning(view, due, today, self._rt.settings.base_url)
                for address in to:
                    queue.queue_message(
                        s,
                        {
                            # Stored mail, sent by the queue's sender with the account mail
                            # (subject_type "account"); the reason keeps it apart from those.
                            "subject_id": row.id,
                            "contact_email": address,
                            "reason": notice_reason(due),
                            "subject": mail.subject,
                            "body_text": mail.text,
                            "body_html": mail.html,
                            "sealed_link": None,
                            "created_at": now,
                        },
                    )
                    queued += 1
                self._audit.record(
                    s,
                    WORKER,
                    "contract.warn",
                    "contract",
                    row.number,
                    days_before_end=due,
                    to=list(to),
                )
        return queued


def _warning(view: ContractView, due: int, today: date, base_url: str) -> Mail:
    left = (view.ends_on - today).days
    when = "today" if left == 0 else f"in {left} day{'s' if left != 1 else ''}"
    used = (
        f"{view.licences_used} of {view.licences_total} licences are in use"
        + (" (counted from the certificates in force)." if view.used_from_inventory else ".")
        if view.licences_used is not None
        else f"{view.licences_total} licences were bought."
    )
    link = f"{base_url.rstrip('/')}/contracts/{view.id}"
    text = (
        f"The contract {view.number} with {view.vendor} ends {when}, on"
        f" {view.ends_on:%A, %B} {view.ends_on.day}, {view.ends_on.year}.\n\n"
        f"{used}\n\n"
        "Renew or replace the contract before it ends, so that certificates can still be"
        f" ordered from {view.vendor}.\n\nThe contract's record: {link}\n"
    )
    if view.notes:
        text += f"\nNotes: {view.notes}\n"
    return Mail(subject=f"Vendor contract {view.number} with {view.vendor} ends {when}", text=text)


T = TypeVar("T")


def _or(given: T | None, current: T) -> T:
    return current if given is None else given


def _contract(s: Session, number: str, *, for_update: bool = False) -> VendorContract:
    row = contract_store.by_number(s, number, for_update=for_update)
    if row is None:
        raise NotFound("contract.unknown", f"no vendor contract {number.strip()[:100]!r}")
    return row


def _number_free(s: Session, number: str) -> None:
    if contract_store.by_number(s, number) is not None:
        raise Conflict("contract.exists", f"contract {number} is already recorded")


def _issuer_id(s: Session, name: str) -> int | None:
    """The vendor CA named ``name`` (its issuer name), None for ""."""
    slug = name.strip().lower()
    if not slug:
        return None
    found = vendor_store.by_slug(s, slug)
    if found is None:
        raise NotFound("issuer.unknown", f"no vendor issuer named {name.strip()!r}")
    return found.id
