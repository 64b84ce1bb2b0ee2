"""Contacts (R9): who hears about a certificate — per organization and per submittal.

The seed asks customers to "notify Certificate_Services of changes to certificate
contact(s)"; here the agency makes the change itself and every change is an audit event
(``contact.add`` / ``contact.change`` / ``contact.remove``) carrying who, when and the values
before and after (R9, R15). Contacts need no login.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.contacts import replacement_reaches
from certdesk.errors import Conflict, InvalidInput, NotFound
from certdesk.services.audit import AuditService
from certdesk.services.runtime import Runtime
from certdesk.services.visibility import visible_org
from certdesk.store import contacts as contact_store
from certdesk.store.contacts import Use
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
    # R9: hears about everything of the organization (True) or only what names it (False).
    org_wide: bool | None = None


@dataclass(frozen=True)
class ContactView:
    """An organization contact; with ``submittal_id``, as one submittal names it."""

    id: int
    kind: str
    name: str
    email: str
    phone: str
    submittal_id: int | None
    case_number: str | None
    updated_at: datetime
    org_wide: bool = True

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "org_wide": self.org_wide,
            "submittal_id": self.submittal_id,
            "case": self.case_number,
            "updated_at": self.updated_at.isoformat().replace("+00:00", "Z"),
        }

    def fields(self) -> dict[str, str]:
        """What an audit event records as before/after."""
        return {"kind": self.kind, "name": self.name, "email": self.email, "phone": self.phone}


def use_as_dict(u: Use) -> dict[str, object]:
    """One submittal naming a contact, as the API and ``--json`` show it."""
    return {
        "submittal_id": u.submittal_id,
        "kind": u.kind,
        "case": u.case_number,
        "case_state": u.case_state,
        "certificate": u.cert_serial,
        "certificate_status": u.cert_status,
    }


def contact_view(
    row: Contact,
    case_number: str | None = None,
    *,
    kind: str | None = None,
    submittal_id: int | None = None,
) -> ContactView:
    """The organization's contact ``row``; with ``submittal_id``, in the role ``kind`` one
    submittal names it."""
    return ContactView(
        row.id,
        kind or row.kind,
        row.name,
        row.email,
        row.phone,
        submittal_id,
        case_number,
        row.updated_at,
        row.org_wide,
    )


def named_view(named: contact_store.Named, case_number: str | None) -> ContactView:
    return contact_view(
        named.contact, case_number, kind=named.kind, submittal_id=named.submittal_id
    )


def new_contact_row(
    org_id: int, contact: ContactInput, now: datetime, *, org_wide: bool = True
) -> Contact:
    """A row for an already :meth:`~ContactInput.checked` contact."""
    return Contact(
        org_id=org_id,
        kind=contact.kind,
        name=contact.name,
        email=contact.email,
        address=contact_store.address_of(contact.email),
        phone=contact.phone,
        org_wide=org_wide,
        created_at=now,
        updated_at=now,
    )


def name_contacts(
    s: Session, org_id: int, submittal_id: int, people: Sequence[ContactInput], now: datetime
) -> None:
    """R9: the submittal names ``people`` (checked), each the organization's one contact with
    that address, stored first if the organization has none yet (then heard only about what
    names it). An existing contact keeps its name and phone: the organization's contact
    page is where they change."""
    for person in people:
        row, _ = contact_store.find_or_add(s, new_contact_row(org_id, person, now, org_wide=False))
        contact_store.name_on(s, submittal_id, row.id, person.kind)


class ContactService:
    def __init__(self, rt: Runtime, audit: AuditService) -> None:
        self._rt = rt
        self._audit = audit

    def list(
        self, actor: Actor, org_code: str, *, with_submittals: bool = False
    ) -> list[ContactView]:
        """The organization's contacts; ``with_submittals`` adds one row per submittal naming
        one of them (with its role there and the case)."""
        with self._rt.reads() as s:
            org = visible_org(s, actor, org_code)
            authorize(actor, Action.ORG_READ, org.id, hide=True)
            out = [contact_view(r) for r in contact_store.of_org(s, org.id)]
            if with_submittals:
                named = contact_store.named_in_org(s, org.id)
                numbers = contact_store.case_numbers(s, sorted({n.submittal_id for n in named}))
                out += [named_view(n, numbers.get(n.submittal_id)) for n in named]
            return out

    def show(self, actor: Actor, org_code: str, ref: str) -> tuple[ContactView, tuple[Use, ...]]:
        """One contact (by id or address) and the submittals naming it."""
        with self._rt.reads() as s:
            org = visible_org(s, actor, org_code)
            authorize(actor, Action.ORG_READ, org.id, hide=True)
            row = find_contact(s, org, ref)
            return contact_view(row), tuple(contact_store.uses_of(s, row.id))

    def add(self, actor: Actor, org_code: str, contact: ContactInput) -> ContactView:
        """Add an organization-level contact (audited ``contact.add``)."""
        checked = contact.checked()
        with self._rt.sessions.begin() as s:
            org = visible_org(s, actor, org_code)
            authorize(actor, Action.CONTACT_MANAGE, org.id, hide=True)
            if contact_store.count_of_org(s, org.id) >= MAX_ORG_CONTACTS:
                raise Conflict(
                    "contact.too_many", f"an organization has at most {MAX_ORG_CONTACTS} contacts"
                )
            address_free(s, org, checked.email)
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
        self, actor: Actor, org_code: str, contact_id: int | str, change: ContactChange
    ) -> ContactView:
        """Change an organization contact, wherever submittals name it (R9).

        The audit event ``contact.change`` records who, when, and the old and new values.
        """
        with self._rt.sessions.begin() as s:
            org = visible_org(s, actor, org_code)
            authorize(actor, Action.CONTACT_MANAGE, org.id, hide=True)
            row = find_contact(s, org, str(contact_id), for_update=True)
            before = contact_view(row)
            wanted = ContactInput(
                kind=change.kind if change.kind is not None else before.kind,
                name=change.name if change.name is not None else before.name,
                email=change.email if change.email is not None else before.email,
                phone=change.phone if change.phone is not None else before.phone,
            ).checked()
            org_wide = before.org_wide if change.org_wide is None else change.org_wide
            if wanted == ContactInput(**before.fields()) and org_wide == before.org_wide:
                return before  # nothing to change: no event
            if contact_store.address_of(wanted.email) != row.address:
                address_free(s, org, wanted.email)
            contact_store.change(
                s,
                row,
                kind=wanted.kind,
                name=wanted.name,
                email=wanted.email,
                phone=wanted.phone,
                at=self._rt.clock(),
            )
            row.org_wide = org_wide
            after = contact_view(row)
            self._audit.record(
                s,
                actor,
                "contact.change",
                "contact",
                row.id,
                organization=org.code,
                before=_audited(before, org_wide != before.org_wide),
                after=_audited(after, org_wide != before.org_wide),
            )
            return after

    def remove(self, actor: Actor, org_code: str, contact_id: int | str) -> ContactView:
        """Remove a contact (audited ``contact.remove`` with the values it had). A contact
        still named on an open case or a certificate in force is replaced, not removed."""
        with self._rt.sessions.begin() as s:
            org = visible_org(s, actor, org_code)
            authorize(actor, Action.CONTACT_MANAGE, org.id, hide=True)
            row = find_contact(s, org, str(contact_id), for_update=True)
            live = [
                u
                for u in contact_store.uses_of(s, row.id)
                if replacement_reaches(u.case_state, u.cert_status)
            ]
            if live:
                raise Conflict(
                    "contact.in_use",
                    f"{row.email} is a contact on case {live[0].case_number}"
                    + (f" and {len(live) - 1} more submittal(s)" if len(live) > 1 else "")
                    + "; replace it by another contact first",
                )
            view = contact_view(row)
            contact_store.remove(s, row)
            self._audit.record(
                s,
                actor,
                "contact.remove",
                "contact",
                view.id,
                organization=org.code,
                before=view.fields(),
            )
            return view


def _audited(view: ContactView, with_org_wide: bool) -> dict[str, object]:
    """A contact's values as a change records them (``org_wide`` when it changed)."""
    out: dict[str, object] = dict(view.fields())
    if with_org_wide:
        out["org_wide"] = view.org_wide
    return out


def address_free(s: Session, org: Organization, email: str) -> None:
    taken = contact_store.by_address(s, org.id, email)
    if taken is not None:
        raise Conflict(
            "contact.exists",
            f"{taken.email} is already contact {taken.id} of {org.code}"
            " (to put another person in its place, replace it)",
        )


def find_contact(s: Session, org: Organization, ref: str, *, for_update: bool = False) -> Contact:
    """The organization's contact by id (digits) or by email address."""
    text = ref.strip()
    row: Contact | None = None
    if text.isdigit() and len(text) < 10:
        row = contact_store.by_id(s, org.id, int(text), for_update=for_update)
    elif "@" in text and len(text) <= 254:
        row = contact_store.by_address(s, org.id, text, for_update=for_update)
    if row is None:
        shown = text if text.isdigit() else repr(text[:254])
        raise NotFound("contact.unknown", f"{org.code} has no contact {shown}")
    return row
