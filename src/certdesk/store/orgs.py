"""Organizations and their grants."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Connection, Table, bindparam, select
from sqlalchemy.orm import Session, selectinload

from certdesk.store.compiled import Compiled
from certdesk.store.models import GrantRow, Organization

_GRANTS = cast("Table", GrantRow.__table__)

# The issuance hot path reads grants with a Core statement built once, on its Core connection:
# no ORM loading and no statement construction per call.
_GRANTS_OF = (
    select(_GRANTS.c.kind, _GRANTS.c.name)
    .where(_GRANTS.c.org_id == bindparam("org_id"))
    .order_by(_GRANTS.c.id)
)


def by_code(s: Session, code: str, *, for_update: bool = False) -> Organization | None:
    """The organization with its grants; ``for_update`` locks its row (PostgreSQL).

    Changing an organization's grants locks its row, so that an issuance, which holds a
    share lock on the same row while it checks the grants and records its intent
    (:func:`certdesk.store.issuance.intent_context`), never acts on grants that are
    being removed.
    """
    q = select(Organization).where(Organization.code == code)
    if for_update:
        q = q.with_for_update()
    return s.scalars(q.options(selectinload(Organization.grants))).one_or_none()


def by_id(s: Session, org_id: int) -> Organization | None:
    return s.get(Organization, org_id)


def grants_of(conn: Connection, org_id: int) -> list[tuple[str, str]]:
    """``(kind, name)`` of every grant of the organization, oldest first."""
    return [(kind, name) for kind, name in conn.execute(_GRANTS_OF, {"org_id": org_id})]


_GRANT_ISSUERS_OF = (
    select(_GRANTS.c.kind, _GRANTS.c.name, _GRANTS.c.issuer_id)
    .where(_GRANTS.c.org_id == bindparam("org_id"))
    .order_by(_GRANTS.c.id)
)
_C_GRANT_ISSUERS_OF = Compiled(_GRANT_ISSUERS_OF)  # the issuance hot path (store/compiled.py)


def grants_with_issuers(conn: Connection, org_id: int) -> list[tuple[str, str, int | None]]:
    """``(kind, name, issuer_id)`` of every grant, oldest first (issuer None: the org's)."""
    cursor = _C_GRANT_ISSUERS_OF.execute(conn, {"org_id": org_id})
    rows = cursor.fetchall()
    cursor.close()
    return [(kind, name, issuer_id) for kind, name, issuer_id in rows]


def set_issuer(s: Session, org: Organization, issuer_id: int | None) -> None:
    """The organization's issuer (None: the built-in CA)."""
    org.issuer_id = issuer_id


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


def add_grant(s: Session, org: Organization, kind: str, name: str, at: datetime, by: str) -> None:
    """Give ``org`` a grant (R2); the caller holds the organization's row lock."""
    org.grants.append(GrantRow(kind=kind, name=name, created_at=at, created_by=by))
    s.flush()


def set_grant_issuer(row: GrantRow, issuer_id: int | None) -> None:
    """The issuer of certificates under this grant (None: the organization's)."""
    row.issuer_id = issuer_id


def set_self_managed(s: Session, org: Organization, self_managed: bool) -> None:
    """R11: whether the organization administers its certificates itself."""
    org.self_managed = self_managed


def set_auto_approve_renewals(org: Organization, enabled: bool) -> None:
    """R4/R6: whether the organization approves renewals that change nothing automatically."""
    org.auto_approve_renewals = enabled


def add_org(
    s: Session,
    *,
    code: str,
    name: str,
    self_managed: bool,
    grants: list[tuple[str, str]],
    at: datetime,
    by: str,
) -> Organization:
    """A new organization with its grants ``(kind, name)`` (R2, R11)."""
    org = Organization(code=code, name=name, self_managed=self_managed, created_at=at)
    s.add(org)
    for kind, grant in grants:
        org.grants.append(GrantRow(kind=kind, name=grant, created_at=at, created_by=by))
    s.flush()
    return org


def set_cost(org: Organization, cents_per_year: int | None) -> None:
    """R11: the organization's rate per certificate-year (None: the configured default)."""
    org.cost_cents_per_year = cents_per_year
