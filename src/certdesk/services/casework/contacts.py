"""Contacts (R9): who hears about a certificate — per organization and per submittal.

The seed asks customers to "notify Certificate_Services of changes to certificate
contact(s)"; here the agency makes the change itself and every change is an audit event
(``contact.add`` / ``contact.change`` / ``contact.remove``) carrying who, when and the values
before and after (R9, R15). Contacts need no login.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from certdesk.core.access import Action, Actor, authorize
from certdesk.errors import Conflict, InvalidInput, NotFound
from certdesk.services.audit import AuditService
from certdesk.services.runtime import Runtime
from certdesk.services.visibility import visible_org
from certdesk.store import contacts as contact_store
from certdesk.store.models import Contact, Organization

MAX_ORG_CONTACTS = 200

# A practical address check (RFC 5321 shape, no quoted local parts or address literals):
# notices are sent by SMTP, so an address a mail server would refuse is refused here first.
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
_PHONE = re.compile(r"^[0-9+() .\-xX]{0,40}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ContactKind(StrEnum):
    TECHNICAL = "technical"
    ADMINISTRATIVE = "administrative"
    BILLING = "billing"


def parse_kind(value: str) -> ContactKind:
    try:
        return ContactKind(value.strip().lower())
    except ValueError:
        raise InvalidInput(
            "contact.kind",
            f"unknown contact kind {value!r}; use technical, administrative or billing",
        ) from None


def check_email(value: str) -> str:
    """The address with its domain lower-cased; raises ``contact.email`` otherwise."""
    text = value.strip()
    if len(text) > 254 or not _EMAIL.match(text) or ".." in text:
        raise InvalidInput("contact.email", f"{value!r} is not a valid email address")
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def check_person_name(value: str, what: str = "contact") -> str:
    text = " ".join(value.split())
    if not text or len(text) > 200 or _CONTROL.search(value):
        raise InvalidInput(f"{what}.name", f"a {what} needs a name of 1-200 printable characters")
    return text


@dataclass(frozen=True)
class ContactInput:
    """One contact as given: technical, administrative or billing (R9)."""

    kind: str
    name: str
    email: str
    phone: str = ""

    def checked(self) -> ContactInput:
        """The normalized contact; raises :class:`InvalidInput` naming the bad field."""
        phone = self.phone.strip()
        if not _PHONE.match(phone) or (phone and sum(c.isdigit() for c in phone) < 3):
            raise InvalidInput(
                "contact.phone",
                f"{self.phone!r} is not a phone number (digits, spaces, + ( ) - . x; at most 40)",
            )
        return ContactInput(
            kind=str(parse_kind(self.kind)),
            name=check_person_name(self.name),
            email=check_email(self.email),
            phone=phone,
        )


@dataclass(frozen=True)
class ContactChange:
    """Fields to change; None leaves a field as it is."""

    kind: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class ContactView:
    id: int
    kind: str
    name: str
    email: str
    phone: str
    submittal_id: int | None
    case_number: str | None
    updated_at: datetime

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "submittal_id": self.submittal_id,
            "case": self.case_number,
            "updated_at": self.updated_at.isoformat().replace("+00:00", "Z"),
        }

    def fields(self) -> dict[str, str]:
        """What an audit event records as before/after."""
        return {"kind": self.kind, "name": self.name, "email": self.email, "phone": self.phone}


def contact_view(row: Contact, case_number: str | None = None) -> ContactView:
    return ContactView(
        row.id,
        row.kind,
        row.name,
        row.email,
        row.phone,
        row.submittal_id,
        case_number,
        row.updated_at,
    )


def new_contact_row(
    org_id: int, contact: ContactInput, now: datetime, submittal_id: int | None = None
) -> Contact:
    """A row for an already :meth:`~ContactInput.checked` contact."""
    return Contact(
        org_id=org_id,
        submittal_id=submittal_id,
        kind=contact.kind,
        name=contact.name,
        email=contact.email,
        phone=contact.phone,
        created_at=now,
        updated_at=now,
    )


class ContactService:
    def __init__(self, rt: Runtime, audit: AuditService) -> None:
        self._rt = rt
        self._audit = audit

    def list(
        self, actor: Actor, org_code: str, *, with_submittals: bool = False
    ) -> list[ContactView]:
        """The organization's contacts; ``with_submittals`` adds those on its submittals."""
        with self._rt.reads() as s:
            org = visible_org(s, actor, org_code)
            authorize(actor, Action.ORG_READ, org.id, hide=True)
            rows = contact_store.of_org(s, org.id, with_submittals=with_submittals)
            numbers = contact_store.case_numbers(
                s, [r.submittal_id for r in rows if r.submittal_id is not None]
            )
            return [
                contact_view(r, numbers.get(r.submittal_id) if r.submittal_id else None)
                for r in rows
            ]

    def add(self, actor: Actor, org_code: str, contact: ContactInput) -> ContactView:
        """Add an organization-level contact (audited ``contact.add``)."""
        checked = contact.checked()
        with self._rt.sessions.begin() as s:
            org = visible_org(s, actor, org_code)
            authorize(actor, Action.CONTACT_MANAGE, org.id, hide=True)
            if len(contact_store.of_org(s, org.id)) >= MAX_ORG_CONTACTS:
                raise Conflict(
                    "contact.too_many", f"an organization has at most {MAX_ORG_CONTACTS} contacts"
                )
            row = contact_store.add(s, new_contact_row(org.id, checked, self._rt.clock()))
            view = contact_view(row)
            self._audit.record(
                s,
                actor,
                "contact.add",
                "contact",
                row.id,
                organization=org.code,
                after=view.fields(),
            )
            return view

    def change(
        self, actor: Actor, org_code: str, contact_id: int, change: ContactChange
    ) -> ContactView:
        """Change a contact of the organization or of one of its submittals (R9).

        The audit event ``contact.change`` records who, when, and the old and new values.
        """
        with self._rt.sessions.begin() as s:
            org = visible_org(s, actor, org_code)
            authorize(actor, Action.CONTACT_MANAGE, org.id, hide=True)
            row = _contact(s, org, contact_id)
            numbers = contact_store.case_numbers(s, [row.submittal_id] if row.submittal_id else [])
            case_number = numbers.get(row.submittal_id) if row.submittal_id else None
            before = contact_view(row, case_number)
            wanted = ContactInput(
                kind=change.kind if change.kind is not None else before.kind,
                name=change.name if change.name is not None else before.name,
                email=change.email if change.email is not None else before.email,
                phone=change.phone if change.phone is not None else before.phone,
            ).checked()
            if wanted == ContactInput(**before.fields()):
                return before  # nothing to change: no event
            contact_store.change(
                s,
                row,
                kind=wanted.kind,
                name=wanted.name,
                email=wanted.email,
                phone=wanted.phone,
                at=self._rt.clock(),
            )
            after = contact_view(row, case_number)
            self._audit.record(
                s,
                actor,
                "contact.change",
                "contact",
                row.id,
                organization=org.code,
                case=case_number,
                submittal_id=row.submittal_id,
                before=before.fields(),
                after=after.fields(),
            )
            return after

    def remove(self, actor: Actor, org_code: str, contact_id: int) -> ContactView:
        """Remove a contact (audited ``contact.remove`` with the values it had)."""
        with self._rt.sessions.begin() as s:
            org = visible_org(s, actor, org_code)
            authorize(actor, Action.CONTACT_MANAGE, org.id, hide=True)
            row = _contact(s, org, contact_id)
            numbers = contact_store.case_numbers(s, [row.submittal_id] if row.submittal_id else [])
            view = contact_view(row, numbers.get(row.submittal_id) if row.submittal_id else None)
            contact_store.remove(s, row)
            self._audit.record(
                s,
                actor,
                "contact.remove",
                "contact",
                contact_id,
                organization=org.code,
                case=view.case_number,
                submittal_id=view.submittal_id,
                before=view.fields(),
            )
            return view


def _contact(s: Session, org: Organization, contact_id: int) -> Contact:
    row = contact_store.by_id(s, org.id, contact_id, for_update=True)
    if row is None:
        raise NotFound("contact.unknown", f"{org.code} has no contact {contact_id}")
    return row
