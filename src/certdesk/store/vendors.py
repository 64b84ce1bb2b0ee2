"""Vendor CAs (``issuers`` rows with backend ``acme`` + ``acme_issuers``) and their orders.

Narrow functions only (STYLE habit 13): the services never edit these rows themselves.
Orders are the write-ahead record of R16: :func:`add_order` runs in the transaction that
checked the request, every later step changes one row under the caller's lease.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, func, insert, or_, select, update
from sqlalchemy.orm import Session

from certdesk.core.issuers import OPEN_ORDERS, Backend, OrderState, Solver
from certdesk.store.models import (
    AcmeIssuerRow,
    Case,
    CertificateRow,
    Issuer,
    Organization,
    Submittal,
    VendorOrder,
)

_ORDERS = cast("Table", VendorOrder.__table__)
_ISSUERS = cast("Table", Issuer.__table__)
_ACME = cast("Table", AcmeIssuerRow.__table__)
_ORGS = cast("Table", Organization.__table__)
_CERTS = cast("Table", CertificateRow.__table__)


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


# --- orders ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewOrder:
    issuer_id: int
    org_id: int
    submittal_id: int | None
    names: tuple[str, ...]
    key_type: str
    platform: str
    profile: str
    csr_der: bytes
    not_before: datetime
    not_after: datetime
    max_days: int
    renewal_of: int | None
    requested_by: str
    account_url: str
    lease_holder: str | None
    lease_until: datetime | None
    now: datetime


@dataclass(frozen=True)
class Order:
    id: int
    issuer_id: int
    org_id: int
    submittal_id: int | None
    names: tuple[str, ...]
    key_type: str
    platform: str
    profile: str
    csr_der: bytes
    not_before: datetime
    not_after: datetime
    max_days: int
    renewal_of: int | None
    requested_by: str
    account_url: str
    order_url: str | None
    state: OrderState
    vendor_status: str | None
    problem: Mapping[str, Any] | None
    retry_after: datetime | None
    attempts: int
    lease_holder: str | None
    lease_until: datetime | None
    certificate_id: int | None
    created_at: datetime
    updated_at: datetime


def _order(row: Any) -> Order:
    return Order(
        id=row.id,
        issuer_id=row.issuer_id,
        org_id=row.org_id,
        submittal_id=row.submittal_id,
        names=tuple(row.names.split(",")),
        key_type=row.key_type,
        platform=row.platform,
        profile=row.profile,
        csr_der=row.csr_der,
        not_before=row.not_before,
        not_after=row.not_after,
        max_days=row.max_days,
        renewal_of=row.renewal_of,
        requested_by=row.requested_by,
        account_url=row.account_url,
        order_url=row.order_url,
        state=OrderState(row.state),
        vendor_status=row.vendor_status,
        problem=row.problem,
        retry_after=row.retry_after,
        attempts=row.attempts,
        lease_holder=row.lease_holder,
        lease_until=row.lease_until,
        certificate_id=row.certificate_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def add_order(conn: Connection, new: NewOrder) -> int:
    """The ``ordering`` row, written before the first request to the vendor (R16)."""
    order_id: int = conn.execute(
        insert(_ORDERS).returning(_ORDERS.c.id),
        {
            "issuer_id": new.issuer_id,
            "org_id": new.org_id,
            "submittal_id": new.submittal_id,
            "names": ",".join(new.names),
            "key_type": new.key_type,
            "platform": new.platform,
            "profile": new.profile,
            "csr_der": new.csr_der,
            "not_before": new.not_before,
            "not_after": new.not_after,
            "max_days": new.max_days,
            "renewal_of": new.renewal_of,
            "requested_by": new.requested_by,
            "account_url": new.account_url,
            "order_url": None,
            "state": OrderState.ORDERING,
            "attempts": 0,
            "lease_holder": new.lease_holder,
            "lease_until": new.lease_until,
            "created_at": new.now,
            "updated_at": new.now,
        },
    ).scalar_one()
    return order_id


def order_of_submittal(conn: Connection, submittal_id: int) -> Order | None:
    """The submittal's order that is open or issued (a failed one may be replaced)."""
    row = conn.execute(
        select(_ORDERS)
        .where(
            _ORDERS.c.submittal_id == submittal_id,
            _ORDERS.c.state != OrderState.FAILED,
        )
        .order_by(_ORDERS.c.id.desc())
    ).first()
    return None if row is None else _order(row)


def order(conn: Connection, order_id: int) -> Order | None:
    row = conn.execute(select(_ORDERS).where(_ORDERS.c.id == order_id)).first()
    return None if row is None else _order(row)


def orders(conn: Connection, *, issuer_id: int | None = None, limit: int = 100) -> list[Order]:
    q = select(_ORDERS).order_by(_ORDERS.c.id.desc()).limit(limit)
    if issuer_id is not None:
        q = q.where(_ORDERS.c.issuer_id == issuer_id)
    return [_order(r) for r in conn.execute(q)]


def due_orders(conn: Connection, now: datetime, limit: int) -> list[int]:
    """Open orders worth driving now: not leased (or the lease ran out) and past retry_after."""
    q = (
        select(_ORDERS.c.id)
        .where(
            _ORDERS.c.state.in_([str(s) for s in OPEN_ORDERS]),
            or_(_ORDERS.c.retry_after.is_(None), _ORDERS.c.retry_after <= now),
            or_(_ORDERS.c.lease_until.is_(None), _ORDERS.c.lease_until < now),
        )
        .order_by(_ORDERS.c.retry_after, _ORDERS.c.id)
        .limit(limit)
    )
    return [r.id for r in conn.execute(q)]


def claim(
    conn: Connection,
    order_id: int,
    *,
    holder: str,
    until: datetime,
    now: datetime,
    take_from: str | None = None,
) -> bool:
    """Take the order's lease: only if it is open and free (expired, or ``take_from``'s, a
    holder known to be dead). One UPDATE with the condition in it, so two workers racing for
    the same order see exactly one winner (R16: never two drivers of one order)."""
    free = or_(_ORDERS.c.lease_until.is_(None), _ORDERS.c.lease_until < now)
    if take_from is not None:
        free = or_(free, _ORDERS.c.lease_holder == take_from)
    result = conn.execute(
        update(_ORDERS)
        .where(
            _ORDERS.c.id == order_id,
            _ORDERS.c.state.in_([str(s) for s in OPEN_ORDERS]),
            free,
        )
        .values(lease_holder=holder, lease_until=until, updated_at=now)
    )
    return result.rowcount == 1


def _mine(order_id: int, holder: str) -> Any:
    return (_ORDERS.c.id == order_id) & (_ORDERS.c.lease_holder == holder)


def release(conn: Connection, order_id: int, holder: str) -> None:
    conn.execute(
        update(_ORDERS).where(_mine(order_id, holder)).values(lease_holder=None, lease_until=None)
    )


def ordering(
    conn: Connection, order_id: int, holder: str, *, account_url: str, now: datetime
) -> bool:
    """Write-ahead of a (re-)placement: no order URL yet, this account. False: lease lost."""
    result = conn.execute(
        update(_ORDERS)
        .where(_mine(order_id, holder), _ORDERS.c.state.in_([str(s) for s in OPEN_ORDERS]))
        .values(
            state=OrderState.ORDERING,
            account_url=account_url,
            order_url=None,
            updated_at=now,
        )
    )
    return result.rowcount == 1


def placed(
    conn: Connection, order_id: int, holder: str, *, account_url: str, order_url: str, now: datetime
) -> bool:
    result = conn.execute(
        update(_ORDERS)
        .where(_mine(order_id, holder), _ORDERS.c.state.in_([str(s) for s in OPEN_ORDERS]))
        .values(
            state=OrderState.PENDING,
            account_url=account_url,
            order_url=order_url,
            vendor_status="pending",
            updated_at=now,
        )
    )
    return result.rowcount == 1


def still_pending(
    conn: Connection,
    order_id: int,
    holder: str,
    *,
    vendor_status: str,
    problem: Mapping[str, Any] | None,
    retry_after: datetime | None,
    now: datetime,
) -> None:
    """After a drive that did not finish: what the vendor said, when to ask again."""
    conn.execute(
        update(_ORDERS)
        .where(_mine(order_id, holder))
        .values(
            vendor_status=vendor_status[:16],
            problem=dict(problem) if problem is not None else None,
            retry_after=retry_after,
            attempts=_ORDERS.c.attempts + 1,
            lease_holder=None,
            lease_until=None,
            updated_at=now,
        )
    )


def failed(
    conn: Connection,
    order_id: int,
    holder: str,
    *,
    problem: Mapping[str, Any],
    now: datetime,
) -> None:
    conn.execute(
        update(_ORDERS)
        .where(_mine(order_id, holder))
        .values(
            state=OrderState.FAILED,
            problem=dict(problem),
            attempts=_ORDERS.c.attempts + 1,
            lease_holder=None,
            lease_until=None,
            retry_after=None,
            updated_at=now,
        )
    )


def issued(
    conn: Connection, order_id: int, holder: str, *, certificate_id: int, now: datetime
) -> bool:
    """The chain is stored: the order is over. False when another holder took it meanwhile."""
    result = conn.execute(
        update(_ORDERS)
        .where(_mine(order_id, holder), _ORDERS.c.state.in_([str(s) for s in OPEN_ORDERS]))
        .values(
            state=OrderState.ISSUED,
            vendor_status="valid",
            certificate_id=certificate_id,
            problem=None,
            retry_after=None,
            lease_holder=None,
            lease_until=None,
            updated_at=now,
        )
    )
    return result.rowcount == 1


def counts_by_issuer_state(conn: Connection) -> list[tuple[str, str, int]]:
    """``(issuer slug, state, count)`` of every order, for ``/metrics``."""
    rows = conn.execute(
        select(_ISSUERS.c.slug, _ORDERS.c.state, func.count())
        .join(_ISSUERS, _ISSUERS.c.id == _ORDERS.c.issuer_id)
        .group_by(_ISSUERS.c.slug, _ORDERS.c.state)
    )
    return [(slug, str(state), int(n)) for slug, state, n in rows]


@dataclass(frozen=True)
class OrderLabels:
    """What an order's result names: the organization's code, the vendor's name, and the
    certificate it renews (for RFC 9773 ``replaces``)."""

    org_code: str
    issuer_slug: str
    replaces_der: bytes | None
    serial: str | None  # the certificate's serial once issued


def labels(conn: Connection, order: Order) -> OrderLabels:
    org_code = conn.execute(select(_ORGS.c.code).where(_ORGS.c.id == order.org_id)).scalar_one()
    slug = conn.execute(
        select(_ISSUERS.c.slug).where(_ISSUERS.c.id == order.issuer_id)
    ).scalar_one()
    replaces = None
    if order.renewal_of is not None:
        replaces = conn.execute(
            select(_CERTS.c.der).where(_CERTS.c.id == order.renewal_of)
        ).scalar_one_or_none()
    serial = None
    if order.certificate_id is not None:
        serial = conn.execute(
            select(_CERTS.c.serial).where(_CERTS.c.id == order.certificate_id)
        ).scalar_one_or_none()
    return OrderLabels(org_code, slug, replaces, serial)


@dataclass(frozen=True)
class TroubleFacts:
    """What a notice about an order's trouble names: the vendor, the organization, the case."""

    issuer_slug: str
    issuer_name: str
    org_code: str
    org_name: str
    case_number: str | None


def trouble_facts(conn: Connection, order: Order) -> TroubleFacts:
    issuer = conn.execute(
        select(_ISSUERS.c.slug, _ISSUERS.c.name).where(_ISSUERS.c.id == order.issuer_id)
    ).one()
    org = conn.execute(select(_ORGS.c.code, _ORGS.c.name).where(_ORGS.c.id == order.org_id)).one()
    case_number = None
    if order.submittal_id is not None:
        subs, cases = cast("Table", Submittal.__table__), cast("Table", Case.__table__)
        case_number = conn.execute(
            select(cases.c.number)
            .join(subs, subs.c.case_id == cases.c.id)
            .where(subs.c.id == order.submittal_id)
        ).scalar_one_or_none()
    return TroubleFacts(issuer.slug, issuer.name, org.code, org.name, case_number)


def certificate_of(conn: Connection, cert_id: int) -> tuple[bytes, str | None]:
    """``(der, chain_pem)`` of a stored vendor certificate."""
    row = conn.execute(select(_CERTS.c.der, _CERTS.c.chain_pem).where(_CERTS.c.id == cert_id)).one()
    return row.der, row.chain_pem
