"""Contacts of organizations, and the submittals that name them (R9).

A contact is kept once per organization and address (``contacts.address``); a submittal
names contacts through ``submittal_contacts``, each in a role.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from certdesk.store.models import Case, CertificateRow, Contact, Submittal, SubmittalContact


def address_of(email: str) -> str:
    """The key a contact is kept under: its email, lower-cased."""
    return email.strip().lower()


@dataclass(frozen=True)
class Named:
    """A contact as one submittal names it: the organization's row and the role there."""

    contact: Contact
    kind: str
    submittal_id: int


@dataclass(frozen=True)
class Use:
    """One submittal naming a contact, with its case and certificate."""

    submittal_id: int
    kind: str
    case_number: str
    case_state: str
    cert_serial: str | None
    cert_status: str | None


def of_org(s: Session, org_id: int) -> list[Contact]:
    return list(s.scalars(select(Contact).where(Contact.org_id == org_id).order_by(Contact.id)))


def count_of_org(s: Session, org_id: int) -> int:
    return int(s.scalar(select(func.count()).where(Contact.org_id == org_id)) or 0)


def by_id(s: Session, org_id: int, contact_id: int, *, for_update: bool = False) -> Contact | None:
    q = select(Contact).where(Contact.org_id == org_id, Contact.id == contact_id)
    if for_update:
        q = q.with_for_update()
    return s.scalars(q).one_or_none()


def by_address(s: Session, org_id: int, email: str, *, for_update: bool = False) -> Contact | None:
    q = select(Contact).where(Contact.org_id == org_id, Contact.address == address_of(email))
    if for_update:
        q = q.with_for_update()
    return s.scalars(q).one_or_none()


def case_numbers(s: Session, submittal_ids: Sequence[int]) -> dict[int, str]:
    """Submittal id → the number of the case it belongs to."""
    if not submittal_ids:
        return {}
    rows = s.execute(
        select(Submittal.id, Case.number)
        .join(Case, Case.id == Submittal.case_id)
        .where(Submittal.id.in_(list(submittal_ids)))
    )
    return {sid: number for sid, number in rows}


def add(s: Session, row: Contact) -> Contact:
    """Store a new contact; it has its id on return."""
    row.address = address_of(row.email)
    s.add(row)
    s.flush()
    return row


def find_or_add(s: Session, row: Contact) -> tuple[Contact, bool]:
    """The organization's contact with ``row``'s address, stored from ``row`` if there is
    none yet (and then ``True``). Two transactions adding the same address at once end with
    one row: the second's insert does nothing and it reads the first's."""
    address = address_of(row.email)
    found = by_address(s, row.org_id, address)
    if found is not None:
        return found, False
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(Contact)
        .values(
            org_id=row.org_id,
            kind=row.kind,
            name=row.name,
            email=row.email,
            address=address,
            phone=row.phone,
            org_wide=row.org_wide,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
        .on_conflict_do_nothing(index_elements=["org_id", "address"])
        .returning(Contact.id)
    )
    new_id = s.execute(stmt).scalar_one_or_none()
    found = by_address(s, row.org_id, address)
    assert found is not None
    return found, new_id is not None


def name_on(s: Session, submittal_id: int, contact_id: int, kind: str) -> None:
    """R9: the submittal names the contact in ``kind`` (nothing if it already does)."""
    exists = s.get(SubmittalContact, (submittal_id, contact_id, kind))
    if exists is None:
        s.add(SubmittalContact(submittal_id=submittal_id, contact_id=contact_id, kind=kind))
        s.flush()


def named_on(s: Session, submittal_ids: Sequence[int]) -> dict[int, list[Named]]:
    """Submittal id → the contacts it names, in the order they were named (by contact)."""
    out: dict[int, list[Named]] = {i: [] for i in submittal_ids}
    if not submittal_ids:
        return out
    rows = s.execute(
        select(SubmittalContact.submittal_id, SubmittalContact.kind, Contact)
        .join(Contact, Contact.id == SubmittalContact.contact_id)
        .where(SubmittalContact.submittal_id.in_(list(submittal_ids)))
        .order_by(SubmittalContact.submittal_id, Contact.id, SubmittalContact.kind)
    )
    for submittal_id, kind, contact in rows:
        out[submittal_id].append(Named(contact, kind, submittal_id))
    return out


def named_in_org(s: Session, org_id: int) -> list[Named]:
    """Every (submittal, contact, role) of the organization's submittals."""
    rows = s.execute(
        select(SubmittalContact.submittal_id, SubmittalContact.kind, Contact)
        .join(Contact, Contact.id == SubmittalContact.contact_id)
        .where(Contact.org_id == org_id)
        .order_by(SubmittalContact.submittal_id, Contact.id, SubmittalContact.kind)
    )
    return [Named(contact, kind, sid) for sid, kind, contact in rows]


def unname_all(s: Session, submittal_id: int) -> None:
    """The submittal names nobody any more (it is being removed)."""
    s.execute(delete(SubmittalContact).where(SubmittalContact.submittal_id == submittal_id))
    s.flush()


def uses_of(s: Session, contact_id: int) -> list[Use]:
    """The submittals that name the contact, with their cases and certificates."""
    rows = s.execute(
        select(
            SubmittalContact.submittal_id,
            SubmittalContact.kind,
            Case.number,
            Case.state,
            CertificateRow.serial,
            CertificateRow.status,
        )
        .join(Submittal, Submittal.id == SubmittalContact.submittal_id)
        .join(Case, Case.id == Submittal.case_id)
        .outerjoin(CertificateRow, CertificateRow.id == Submittal.certificate_id)
        .where(SubmittalContact.contact_id == contact_id)
        .order_by(SubmittalContact.submittal_id, SubmittalContact.kind)
    )
    return [Use(sid, kind, number, str(state), serial, status) for sid, kind, number, state,
            serial, status in rows]  # fmt: skip


def rename(s: Session, submittal_id: int, old_id: int, new_id: int, kind: str) -> None:
    """The submittal names contact ``new_id`` where it named ``old_id`` in ``kind``."""
    s.execute(
        delete(SubmittalContact).where(
            SubmittalContact.submittal_id == submittal_id,
            SubmittalContact.contact_id == old_id,
            SubmittalContact.kind == kind,
        )
    )
    name_on(s, submittal_id, new_id, kind)


def change(
    s: Session, row: Contact, *, kind: str, name: str, email: str, phone: str, at: datetime
) -> None:
    """R9: a contact's new values (the service audits the change)."""
    row.kind, row.name, row.email, row.phone = kind, name, email, phone
    row.address = address_of(email)
    row.updated_at = at
    s.flush()


def remove(s: Session, row: Contact) -> None:
    """The contact and every submittal's naming of it."""
    s.execute(delete(SubmittalContact).where(SubmittalContact.contact_id == row.id))
    s.delete(row)
    s.flush()
