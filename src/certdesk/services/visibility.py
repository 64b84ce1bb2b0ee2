"""Looking objects up as the caller may see them (DESIGN R2, STYLE).

Another agency's organization or certificate answers exactly like an unknown one
(``org.unknown``/``cert.unknown``, 404, the same detail), so that nobody can probe which
organization codes or serials exist (issue 10, finding 4). Services look objects up here
*before* they authorize, so :func:`certdesk.core.access.authorize`'s ``hide`` is a backstop
that an agency caller never reaches.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from certdesk.core.access import Actor, sees_org
from certdesk.core.certificates import BOOKKEEPING
from certdesk.errors import InvalidInput, NotFound
from certdesk.store import certificates as cert_store
from certdesk.store import orgs as org_store
from certdesk.store.models import CertificateRow, Organization


def parse_serial(text: str) -> str:
    """A serial as written by a person (hex, any case, colons, ``0x``) → its stored form."""
    value = text.strip().lower().replace(":", "")
    if value.startswith("0x"):
        value = value[2:]
    if not value or len(value) > 40 or any(c not in "0123456789abcdef" for c in value):
        raise InvalidInput("cert.serial", f"{text!r} is not a certificate serial (hex)")
    return value.lstrip("0") or "0"


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


def visible_cert(
    s: Session, actor: Actor, serial: str, *, for_update: bool = False
) -> CertificateRow:
    """Certificate ``serial`` (as the caller wrote it), or :class:`NotFound` if ``actor`` may
    not know it exists: another agency's certificate answers exactly like an unknown one.
    A certificate still being signed, or whose signing was voided, is nobody's to see."""
    row = cert_store.by_serial(s, parse_serial(serial), for_update=for_update)
    if row is None or row.status in BOOKKEEPING or not sees_org(actor, row.org_id):
        raise NotFound("cert.unknown", f"no certificate with serial {serial.strip()}")
    return row
