"""Orders placed with vendor CAs (``vendor_orders`` rows) and their leases.

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

from certdesk.core.issuers import OPEN_ORDERS, OrderState
from certdesk.store.models import Issuer, VendorOrder

_ORDERS = cast("Table", VendorOrder.__table__)
_ISSUERS = cast("Table", Issuer.__table__)
_OPEN = _ORDERS.c.state.in_([str(s) for s in OPEN_ORDERS])


@dataclass(frozen=True)
class OrderRequest:
    """What is ordered from the vendor, as checked when the order was accepted: the same in
    the row written ahead (:class:`NewOrder`) and in the row read back (:class:`Order`)."""

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


@dataclass(frozen=True)
class NewOrder(OrderRequest):
    """The request with its first lease, as :func:`add_order` writes it."""

    lease_holder: str | None
    lease_until: datetime | None
    now: datetime


@dataclass(frozen=True)
class Order(OrderRequest):
    """The request with where it stands at the vendor."""

    id: int
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
            _OPEN,
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
            _OPEN,
            free,
        )
        .values(lease_holder=holder, lease_until=until, updated_at=now)
    )
    return result.rowcount == 1


def _mine(order_id: int, holder: str) -> Any:
    return (_ORDERS.c.id == order_id) & (_ORDERS.c.lease_holder == holder)


def _step(conn: Connection, order_id: int, holder: str, **values: Any) -> bool:
    """One step of an open order under the caller's lease. False: the lease was lost (another
    holder took the order) or the order is no longer open."""
    result = conn.execute(update(_ORDERS).where(_mine(order_id, holder), _OPEN).values(values))
    return result.rowcount == 1


def release(conn: Connection, order_id: int, holder: str) -> None:
    conn.execute(
        update(_ORDERS).where(_mine(order_id, holder)).values(lease_holder=None, lease_until=None)
    )


def ordering(
    conn: Connection, order_id: int, holder: str, *, account_url: str, now: datetime
) -> bool:
    """Write-ahead of a (re-)placement: no order URL yet, this account. False: lease lost."""
    return _step(
        conn,
        order_id,
        holder,
        state=OrderState.ORDERING,
        account_url=account_url,
        order_url=None,
        updated_at=now,
    )


def placed(
    conn: Connection, order_id: int, holder: str, *, account_url: str, order_url: str, now: datetime
) -> bool:
    return _step(
        conn,
        order_id,
        holder,
        state=OrderState.PENDING,
        account_url=account_url,
        order_url=order_url,
        vendor_status="pending",
        updated_at=now,
    )


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
    return _step(
        conn,
        order_id,
        holder,
        state=OrderState.ISSUED,
        vendor_status="valid",
        certificate_id=certificate_id,
        problem=None,
        retry_after=None,
        lease_holder=None,
        lease_until=None,
        updated_at=now,
    )


def counts_by_issuer_state(conn: Connection) -> list[tuple[str, str, int]]:
    """``(issuer slug, state, count)`` of every order, for ``/metrics``."""
    rows = conn.execute(
        select(_ISSUERS.c.slug, _ORDERS.c.state, func.count())
        .join(_ISSUERS, _ISSUERS.c.id == _ORDERS.c.issuer_id)
        .group_by(_ISSUERS.c.slug, _ORDERS.c.state)
    )
    return [(slug, str(state), int(n)) for slug, state, n in rows]
