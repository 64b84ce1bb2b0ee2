"""Contacts of organizations and of submittals (R9)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from certdesk.store.models import Case, Contact, Submittal


def of_org(s: Session, org_id: int, *, with_submittals: bool = False) -> list[Contact]:
    q = select(Contact).where(Contact.org_id == org_id)
    if not with_submittals:
        q = q.where(Contact.submittal_id.is_(None))
    return list(s.scalars(q.order_by(Contact.id)))


def by_id(s: Session, org_id: int, contact_id: int, *, for_update: bool = False) -> Contact | None:
    q = select(Contact).where(Contact.org_id == org_id, Contact.id == contact_id)
    if for_update:
        q = q.with_for_update()
    return s.scalars(q).one_or_none()


def case_numbers(s: Session, submittal_ids: list[int]) -> dict[int, str]:
    """Submittal id → the number of the case it belongs to."""
    if not submittal_ids:
        return {}
    rows = s.execute(
        select(Submittal.id, Case.number)
        .join(Case, Case.id == Submittal.case_id)
        .where(Submittal.id.in_(submittal_ids))
    )
    return {sid: number for sid, number in rows}


def add(s: Session, row: Contact) -> Contact:
    """Store a new contact; it has its id on return."""
    s.add(row)
    s.flush()
    return row


def change(
    s: Session, row: Contact, *, kind: str, name: str, email: str, phone: str, at: datetime
) -> None:
    """R9: a contact's new values (the service audits the change)."""
    row.kind, row.name, row.email, row.phone = kind, name, email, phone
    row.updated_at = at
    s.flush()


def remove(s: Session, row: Contact) -> None:
    s.delete(row)
    s.flush()
