"""The built-in CA certificates."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from certdesk.store.models import Issuer


def active_intermediate(s: Session) -> Issuer | None:
    return s.scalars(
        select(Issuer)
        .where(Issuer.is_root.is_(False), Issuer.active.is_(True))
        .order_by(Issuer.id.desc())
    ).first()


def by_slug(s: Session, slug: str) -> Issuer | None:
    return s.scalars(select(Issuer).where(Issuer.slug == slug)).one_or_none()


def by_id(s: Session, issuer_id: int) -> Issuer | None:
    return s.get(Issuer, issuer_id)


def all_issuers(s: Session) -> list[Issuer]:
    return list(s.scalars(select(Issuer).order_by(Issuer.id)))
