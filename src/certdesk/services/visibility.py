"""Looking up an organization by code as the caller may see it (DESIGN R2, STYLE).

Another agency's organization answers exactly like an unknown one (``org.unknown``, 404), so
that nobody can probe which organization codes exist.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from certdesk.core.access import Actor, sees_org
from certdesk.errors import NotFound
from certdesk.store import orgs as org_store
from certdesk.store.models import Organization


def visible_org(s: Session, actor: Actor, code: str, *, for_update: bool = False) -> Organization:
    """Organization ``code`` (trimmed, any case), or :class:`NotFound` if ``actor`` may not
    know it exists: another agency's organization answers exactly like an unknown one, so
    codes cannot be probed. ``for_update`` locks its row (:func:`certdesk.store.orgs.by_code`)."""
    org = org_store.by_code(s, code.strip().lower(), for_update=for_update)
    if org is None or not sees_org(actor, org.id):
        raise NotFound("org.unknown", f"no organization with code {code!r}")
    return org


def listed_org_id(s: Session, actor: Actor, org_code: str | None) -> int | None:
    """The organization a listing is limited to, ``None`` for all: ``org_code``'s if given
    (see :func:`visible_org`), else all for cert services and the caller's own for others."""
    org_id = visible_org(s, actor, org_code).id if org_code else None
    return org_id if actor.is_global else actor.org_id
