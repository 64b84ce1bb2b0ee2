"""The ACME server's hot writes compiled once per dialect and run on the DBAPI cursor
(store/compiled.py, as the issuance path does): a nonce used (every signed request), a
challenge started, an order's move to processing and to valid (finalize). The same SQL and
bind processors SQLAlchemy would use; the caller's connection holds the transaction. A
validation's result too (two statements per challenge answered)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, delete, select, update

from certdesk.core.acme_states import AuthzStatus, ChallengeStatus, OrderStatus
from certdesk.store.compiled import Compiled
from certdesk.store.models import AcmeAuthorization, AcmeNonce, AcmeOrder, AcmeServerChallenge

_NONCES = cast("Table", AcmeNonce.__table__)
_ORDERS = cast("Table", AcmeOrder.__table__)
_CHALLS = cast("Table", AcmeServerChallenge.__table__)
_AUTHZS = cast("Table", AcmeAuthorization.__table__)

# RFC 8555 §6.5: a nonce is used by deleting its row; exactly one row means "accepted once",
# even when two processes receive it at the same moment.
_USE_NONCE = Compiled(
    delete(_NONCES).where(
        _NONCES.c.value == bindparam("value"), _NONCES.c.expires_at > bindparam("now")
    )
)
# pending → processing: a challenge answered once (§7.5.1).
_START_CHALLENGE = Compiled(
    update(_CHALLS)
    .where(_CHALLS.c.id == bindparam("challenge_id"), _CHALLS.c.status == ChallengeStatus.PENDING)
    .values(status=ChallengeStatus.PROCESSING)
)
# pending → processing: two finalizations never both sign.
_ORDER_PROCESSING = Compiled(
    update(_ORDERS)
    .where(_ORDERS.c.id == bindparam("order_id"), _ORDERS.c.status == OrderStatus.PENDING)
    .values(status=OrderStatus.PROCESSING)
)
# processing → valid, with the certificate's link.
_ORDER_VALID = Compiled(
    update(_ORDERS)
    .where(_ORDERS.c.id == bindparam("order_id"), _ORDERS.c.status == OrderStatus.PROCESSING)
    .values(status=OrderStatus.VALID, certificate_id=bindparam("linked_id"))
)

# A validation's result (§7.1.6): on the challenge, then on its pending authorization.
_RECORD_CHALLENGE = Compiled(
    update(_CHALLS)
    .where(_CHALLS.c.id == bindparam("challenge_id"))
    .values(
        status=bindparam("challenge_status", type_=_CHALLS.c.status.type),
        validated_at=bindparam("at", type_=_CHALLS.c.validated_at.type),
        error=bindparam("problem", type_=_CHALLS.c.error.type),
    )
)
_RECORD_AUTHZ = Compiled(
    update(_AUTHZS)
    .where(
        _AUTHZS.c.id
        == select(_CHALLS.c.authz_id)
        .where(_CHALLS.c.id == bindparam("challenge_id"))
        .scalar_subquery(),
        _AUTHZS.c.status == AuthzStatus.PENDING,
    )
    .values(status=bindparam("authz_status", type_=_AUTHZS.c.status.type))
)


def _one(statement: Compiled, conn: Connection, **params: object) -> bool:
    cursor = statement.execute(conn, params)
    try:
        return bool(cursor.rowcount == 1)
    finally:
        cursor.close()


def use_nonce(conn: Connection, value: str, now: datetime) -> bool:
    """True only if this DELETE removed the nonce's (unexpired) row."""
    return _one(_USE_NONCE, conn, value=value, now=now)


def start_challenge(conn: Connection, challenge_id: int) -> bool:
    """pending → processing; False if the challenge was not pending (already answered)."""
    return _one(_START_CHALLENGE, conn, challenge_id=challenge_id)


def record_validation(
    conn: Connection,
    challenge_id: int,
    *,
    valid: bool,
    at: datetime,
    error: dict[str, Any] | None,
) -> None:
    """The challenge valid (``validated_at`` = ``at``) or invalid with ``error``, and its
    authorization likewise if it is still pending."""
    _RECORD_CHALLENGE.execute(
        conn,
        {
            "challenge_id": challenge_id,
            "challenge_status": ChallengeStatus.VALID if valid else ChallengeStatus.INVALID,
            "at": at if valid else None,
            "problem": error,
        },
    ).close()
    _RECORD_AUTHZ.execute(
        conn,
        {
            "challenge_id": challenge_id,
            "authz_status": AuthzStatus.VALID if valid else AuthzStatus.INVALID,
        },
    ).close()


def order_processing(conn: Connection, order_id: int) -> bool:
    """pending → processing; False if the order was not pending."""
    return _one(_ORDER_PROCESSING, conn, order_id=order_id)


def order_valid(conn: Connection, order_id: int, certificate_id: int) -> bool:
    """processing → valid with ``certificate_id``; False if the order was not processing."""
    return _one(_ORDER_VALID, conn, order_id=order_id, linked_id=certificate_id)
