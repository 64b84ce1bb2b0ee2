"""Vendor CAs: ``issuers`` rows with backend ``acme`` and their ``acme_issuers`` account rows.

Narrow functions only (STYLE habit 13): the services never edit these rows themselves. The
vendor's orders are in :mod:`certdesk.store.vendor_orders`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, func, select, update
from sqlalchemy.orm import Session

from certdesk.core.issuers import Backend, Solver
from certdesk.store.models import AcmeIssuerRow, Issuer

_ISSUERS = cast("Table", Issuer.__table__)
_ACME = cast("Table", AcmeIssuerRow.__table__)


@dataclass(frozen=True)
class VendorIssuer:
    """A vendor CA as stored; the sealed secrets stay sealed here."""

    id: int
    slug: str
    name: str
    active: bool
    created_at: datetime
    directory_url: str
    ca_bundle_pem: str | None
    anchors_pem: str
    eab_kid: str
    account_url: str
    account_key_sealed: bytes
    solver: Solver
    solver_config: Mapping[str, Any]
    solver_secret_sealed: bytes | None
    profiles: Mapping[str, str]
    lint_tolerate: frozenset[str]
    next_account_key_sealed: bytes | None = None  # a rollover under way


def _vendor(issuer: Issuer, acme: AcmeIssuerRow) -> VendorIssuer:
    return VendorIssuer(
        id=issuer.id,
        slug=issuer.slug,
        name=issuer.name,
        active=issuer.active,
        created_at=issuer.created_at,
        directory_url=acme.directory_url,
        ca_bundle_pem=acme.ca_bundle_pem,
        anchors_pem=acme.anchors_pem,
        eab_kid=acme.eab_kid,
        account_url=acme.account_url,
        account_key_sealed=acme.account_key_sealed,
        solver=acme.solver,
        solver_config=dict(acme.solver_config or {}),
        solver_secret_sealed=acme.solver_secret_sealed,
        profiles=dict(acme.profiles or {}),
        lint_tolerate=frozenset(acme.lint_tolerate or ()),
        next_account_key_sealed=acme.next_account_key_sealed,
    )


def _query() -> Any:
    return select(Issuer, AcmeIssuerRow).join(AcmeIssuerRow, AcmeIssuerRow.issuer_id == Issuer.id)


def slug_taken(s: Session, slug: str) -> bool:
    return s.scalar(select(func.count()).where(Issuer.slug == slug)) != 0


def add(
    s: Session,
    *,
    slug: str,
    name: str,
    directory_url: str,
    ca_bundle_pem: str | None,
    anchors_pem: str,
    eab_kid: str,
    account_url: str,
    account_key_sealed: bytes,
    solver: Solver,
    solver_config: Mapping[str, Any],
    solver_secret_sealed: bytes | None,
    profiles: Mapping[str, str],
    now: datetime,
    lint_tolerate: frozenset[str] = frozenset(),
) -> VendorIssuer:
    issuer = Issuer(
        slug=slug,
        name=name,
        backend=Backend.ACME,
        is_root=False,
        parent_id=None,
        active=True,
        created_at=now,
    )
    s.add(issuer)
    s.flush()
    acme = AcmeIssuerRow(
        issuer_id=issuer.id,
        directory_url=directory_url,
        ca_bundle_pem=ca_bundle_pem,
        anchors_pem=anchors_pem,
        eab_kid=eab_kid,
        account_url=account_url,
        account_key_sealed=account_key_sealed,
        solver=solver,
        solver_config=dict(solver_config) or None,
        solver_secret_sealed=solver_secret_sealed,
        profiles=dict(profiles) or None,
        lint_tolerate=sorted(lint_tolerate) or None,
    )
    s.add(acme)
    s.flush()
    return _vendor(issuer, acme)


def by_slug(s: Session, slug: str) -> VendorIssuer | None:
    row = s.execute(_query().where(Issuer.slug == slug)).first()
    return None if row is None else _vendor(row[0], row[1])


def by_id(s: Session, issuer_id: int) -> VendorIssuer | None:
    row = s.execute(_query().where(Issuer.id == issuer_id)).first()
    return None if row is None else _vendor(row[0], row[1])


def all_vendors(s: Session) -> list[VendorIssuer]:
    return [_vendor(i, a) for i, a in s.execute(_query().order_by(Issuer.slug))]


def set_active(s: Session, issuer_id: int, active: bool) -> None:
    s.execute(update(Issuer).where(Issuer.id == issuer_id).values(active=active))


def set_account(
    s: Session, issuer_id: int, *, eab_kid: str, account_url: str, anchors_pem: str | None
) -> None:
    """A new binding of the same sealed key (the vendor forgot the account)."""
    values: dict[str, object] = {"eab_kid": eab_kid, "account_url": account_url}
    if anchors_pem is not None:
        values["anchors_pem"] = anchors_pem
    s.execute(update(AcmeIssuerRow).where(AcmeIssuerRow.issuer_id == issuer_id).values(values))


def begin_rollover(s: Session, issuer_id: int, *, current: bytes, sealed_next: bytes) -> bool:
    """Write-ahead of a key rollover: the new sealed key, only if the account key is still
    ``current`` (two rollovers at once: one wins). False: the key changed meanwhile."""
    result = s.execute(
        update(AcmeIssuerRow)
        .where(
            AcmeIssuerRow.issuer_id == issuer_id,
            AcmeIssuerRow.account_key_sealed == current,
        )
        .values(next_account_key_sealed=sealed_next)
    )
    return bool(cast("Any", result).rowcount == 1)


def finish_rollover(s: Session, issuer_id: int, *, sealed_next: bytes) -> bool:
    """The vendor took the new key: it becomes the account key, in one UPDATE."""
    result = s.execute(
        update(AcmeIssuerRow)
        .where(
            AcmeIssuerRow.issuer_id == issuer_id,
            AcmeIssuerRow.next_account_key_sealed == sealed_next,
        )
        .values(account_key_sealed=sealed_next, next_account_key_sealed=None)
    )
    return bool(cast("Any", result).rowcount == 1)


def drop_rollover(s: Session, issuer_id: int) -> None:
    """The vendor never took the new key: forget it."""
    s.execute(
        update(AcmeIssuerRow)
        .where(AcmeIssuerRow.issuer_id == issuer_id)
        .values(next_account_key_sealed=None)
    )


def is_vendor(conn: Connection, issuer_id: int) -> tuple[str, bool, str] | None:
    """``(slug, active, account_url)`` when ``issuer_id`` is a vendor CA, else None."""
    row = conn.execute(
        select(_ISSUERS.c.slug, _ISSUERS.c.active, _ACME.c.account_url)
        .join(_ACME, _ACME.c.issuer_id == _ISSUERS.c.id)
        .where(_ISSUERS.c.id == issuer_id)
    ).first()
    return None if row is None else (row.slug, bool(row.active), row.account_url)


def id_of(s: Session, slug: str) -> int | None:
    """The id of any issuer (built-in or vendor) by its slug."""
    found: int | None = s.scalar(select(Issuer.id).where(Issuer.slug == slug))
    return found


def builtin_id(s: Session) -> int | None:
    """The built-in CA's active issuing intermediate (None before ``certdesk init``): stored
    where cert services pin a grant to the built-in CA (R16)."""
    found: int | None = s.scalar(
        select(Issuer.id)
        .where(Issuer.backend == Backend.LOCAL, Issuer.is_root.is_(False), Issuer.active)
        .order_by(Issuer.id.desc())
        .limit(1)
    )
    return found


def any_vendor(conn: Connection) -> bool:
    """Whether a vendor CA is configured at all (enabled or not: its certificates are still
    revoked through it)."""
    found = conn.execute(select(Issuer.id).where(Issuer.backend == Backend.ACME).limit(1))
    return found.first() is not None
