"""Storage behind the ACME server's limits (R17): authorization reuse, the rate limits counted
in the database (every process sees the same counts), and renewal replacement (RFC 9773)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, func, literal_column, or_, select, union_all, update
from sqlalchemy.orm import Session

from certdesk.core.acme_states import AuthzStatus, ChallengeStatus, ChallengeType, OrderStatus
from certdesk.store.models import (
    AcmeAccount,
    AcmeAuthorization,
    AcmeOrder,
    AcmeServerChallenge,
    CertificateRow,
    Organization,
)

# --- authorization reuse (RFC 8555 §7.1.4, SC-081) ---------------------------------------------


def recent_validation(
    s: Session, account_id: int, name: str, wildcard: bool, since: datetime
) -> tuple[datetime, ChallengeType] | None:
    """The newest validation of ``name`` (as a wildcard or not) by the account after
    ``since``, on an authorization still valid (not deactivated or revoked): when, and how."""
    row = s.execute(
        select(AcmeServerChallenge.validated_at, AcmeServerChallenge.type)
        .join(AcmeAuthorization, AcmeAuthorization.id == AcmeServerChallenge.authz_id)
        .where(
            AcmeAuthorization.account_id == account_id,
            AcmeAuthorization.name == name,
            AcmeAuthorization.wildcard == wildcard,
            AcmeAuthorization.status == AuthzStatus.VALID,
            AcmeServerChallenge.status == ChallengeStatus.VALID,
            AcmeServerChallenge.validated_at > since,
        )
        .order_by(AcmeServerChallenge.validated_at.desc())
        .limit(1)
    ).first()
    if row is None or row[0] is None:
        return None
    return row[0], row[1]


# --- renewal information and replacement (RFC 9773) -------------------------------------------


def request_replacement(
    s: Session, *, at: datetime, issuer_id: int | None = None, org_id: int | None = None
) -> int:
    """Mark every active certificate of an issuer (or an organization) for early
    replacement, once; the number newly marked."""
    q = update(CertificateRow).where(
        CertificateRow.status == "active", CertificateRow.replace_requested_at.is_(None)
    )
    if issuer_id is not None:
        q = q.where(CertificateRow.issuer_id == issuer_id)
    if org_id is not None:
        q = q.where(CertificateRow.org_id == org_id)
    done = s.execute(q.values(replace_requested_at=at))
    return cast("CursorResult[Any]", done).rowcount


def replaced(s: Session, certificate_id: int, now: datetime) -> bool:
    """Whether a certificate already has its replacement: a certificate recorded as its
    renewal, or another ACME order replacing it that can still succeed."""
    renewal = select(CertificateRow.id).where(
        CertificateRow.renewal_of == certificate_id, CertificateRow.status != "void"
    )
    order = select(AcmeOrder.id).where(
        AcmeOrder.replaces_id == certificate_id,
        or_(
            AcmeOrder.status.in_([OrderStatus.PROCESSING, OrderStatus.VALID]),
            (AcmeOrder.status == OrderStatus.PENDING) & (AcmeOrder.expires_at > now),
        ),
    )
    return s.scalars(renewal.union_all(order).limit(1)).first() is not None


# --- rate limits: counted in the database, so every process sees the same counts ------------


_ORDERS_SINCE = select(func.count(), func.min(AcmeOrder.created_at)).where(
    AcmeOrder.created_at > bindparam("since")
)
_PENDING = select(func.count(), func.min(AcmeAuthorization.expires_at)).where(
    AcmeAuthorization.status == AuthzStatus.PENDING,
    AcmeAuthorization.expires_at > bindparam("now"),
)
# The four counts of the rate limits in one statement (one row each, tagged by ``scope``).
_COUNTS = union_all(
    _ORDERS_SINCE.add_columns(literal_column("'orders/account'").label("scope")).where(
        AcmeOrder.account_id == bindparam("account_id")
    ),
    _ORDERS_SINCE.add_columns(literal_column("'orders/organization'").label("scope")).where(
        AcmeOrder.org_id == bindparam("org_id")
    ),
    _PENDING.add_columns(literal_column("'pending/account'").label("scope")).where(
        AcmeAuthorization.account_id == bindparam("account_id")
    ),
    _PENDING.add_columns(literal_column("'pending/organization'").label("scope"))
    .join(AcmeAccount, AcmeAccount.id == AcmeAuthorization.account_id)
    .where(AcmeAccount.org_id == bindparam("org_id")),
)


def rate_counts(
    s: Session, account_id: int, org_id: int, since: datetime, now: datetime
) -> dict[str, tuple[int, datetime | None]]:
    """In one statement: how many orders the account and its organization created after
    ``since``, and how many of their authorizations are pending and unexpired at ``now``; per
    scope (``orders/account``, ``orders/organization``, ``pending/account``,
    ``pending/organization``) the count and the oldest order's creation (when the count
    first drops) or the first pending authorization's expiry."""
    rows = s.execute(
        _COUNTS, {"account_id": account_id, "org_id": org_id, "since": since, "now": now}
    )
    return {scope: (int(count), first) for count, first, scope in rows}


_ORG_LOCKED = (
    select(Organization.code, Organization.self_managed)
    .where(Organization.id == bindparam("id"))
    .with_for_update()
)


def lock_org(s: Session, org_id: int) -> Any:
    """Hold the organization's row until commit (PostgreSQL), so that two processes counting
    its orders for a rate limit cannot both see room for one more; its ``code`` and
    ``self_managed`` (None: no such organization)."""
    return s.execute(_ORG_LOCKED, {"id": org_id}).first()
