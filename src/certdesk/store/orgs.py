"""Organizations and their grants."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from certdesk.store.models import GrantRow, Organization


def by_code(s: Session, code: str) -> Organization | None:
    return s.scalars(
        select(Organization)
        .where(Organization.code == code)
        .options(selectinload(Organization.grants))
    ).one_or_none()


def by_id(s: Session, org_id: int) -> Organization | None:
    return s.get(Organization, org_id)


def all_orgs(s: Session, only_id: int | None = None) -> list[Organization]:
    q = select(Organization).options(selectinload(Organization.grants)).order_by(Organization.code)
    if only_id is not None:
        q = q.where(Organization.id == only_id)
    return list(s.scalars(q))


def find_grant(s: Session, org_id: int, kind: str, name: str) -> GrantRow | None:
    return s.scalars(
        select(GrantRow).where(
            GrantRow.org_id == org_id, GrantRow.kind == kind, GrantRow.name == name
        )
    ).one_or_none()
