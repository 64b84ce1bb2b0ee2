"""Storage of the ACME server (RFC 8555, R17): EAB keys, accounts, nonces, orders,
authorizations and challenges. Narrow functions only (STYLE habit 13)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Table, delete, insert, select, update
from sqlalchemy.orm import Session

from certdesk.core.acme_states import (
    DEAD_AUTHZ,
    AccountStatus,
    AuthzStatus,
    ChallengeStatus,
    ChallengeType,
    OrderStatus,
)
from certdesk.store import acme_compiled
from certdesk.store.models import (
    AcmeAccount,
    AcmeAuthorization,
    AcmeEabKey,
    AcmeNonce,
    AcmeOrder,
    AcmeServerChallenge,
    Organization,
)

_NONCES = cast("Table", AcmeNonce.__table__)
_ORDERS = cast("Table", AcmeOrder.__table__)
_AUTHZS = cast("Table", AcmeAuthorization.__table__)
_CHALLS = cast("Table", AcmeServerChallenge.__table__)

# --- EAB keys ---------------------------------------------------------------------------------


def add_eab_key(
    s: Session,
    *,
    kid: str,
    org_id: int,
    hmac_sealed: bytes,
    created_by: str,
    created_at: datetime,
    expires_at: datetime | None,
) -> AcmeEabKey:
    row = AcmeEabKey(
        kid=kid,
        org_id=org_id,
        hmac_sealed=hmac_sealed,
        created_by=created_by,
        created_at=created_at,
        expires_at=expires_at,
    )
    s.add(row)
    s.flush()
    return row


def eab_key(s: Session, kid: str, *, for_update: bool = False) -> AcmeEabKey | None:
    q = select(AcmeEabKey).where(AcmeEabKey.kid == kid)
    if for_update:
        q = q.with_for_update()
    return s.scalars(q).one_or_none()


def eab_keys(s: Session, org_id: int | None) -> list[tuple[AcmeEabKey, str]]:
    """EAB keys, newest first, each with its organization's code (``org_id`` None: all)."""
    q = (
        select(AcmeEabKey, Organization.code)
        .join(Organization, Organization.id == AcmeEabKey.org_id)
        .order_by(AcmeEabKey.created_at.desc(), AcmeEabKey.id.desc())
    )
    if org_id is not None:
        q = q.where(AcmeEabKey.org_id == org_id)
    return [(row, code) for row, code in s.execute(q)]


def revoke_eab_key(row: AcmeEabKey, at: datetime) -> None:
    row.revoked_at = at


def bind_eab_key(s: Session, kid: str, account_id: int, at: datetime) -> bool:
    """Bind an unbound key to ``account_id``; False if another request bound it first."""
    done = s.execute(
        update(AcmeEabKey)
        .where(AcmeEabKey.kid == kid, AcmeEabKey.account_id.is_(None))
        .values(account_id=account_id, bound_at=at)
    )
    return cast("CursorResult[Any]", done).rowcount == 1


# --- accounts ---------------------------------------------------------------------------------


def add_account(
    s: Session,
    *,
    org_id: int,
    thumbprint: str,
    jwk: str,
    contacts: Sequence[str],
    eab_kid: str,
    created_at: datetime,
) -> AcmeAccount:
    row = AcmeAccount(
        org_id=org_id,
        thumbprint=thumbprint,
        jwk=jwk,
        status=AccountStatus.VALID,
        contacts=list(contacts),
        eab_kid=eab_kid,
        created_at=created_at,
    )
    s.add(row)
    s.flush()
    return row


def account(s: Session, account_id: int, *, for_update: bool = False) -> AcmeAccount | None:
    q = select(AcmeAccount).where(AcmeAccount.id == account_id)
    if for_update:
        q = q.with_for_update()
    return s.scalars(q).one_or_none()


def account_by_thumbprint(s: Session, thumbprint: str) -> AcmeAccount | None:
    return s.scalars(select(AcmeAccount).where(AcmeAccount.thumbprint == thumbprint)).one_or_none()


def accounts(s: Session, org_id: int | None) -> list[tuple[AcmeAccount, str]]:
    q = (
        select(AcmeAccount, Organization.code)
        .join(Organization, Organization.id == AcmeAccount.org_id)
        .order_by(AcmeAccount.id)
    )
    if org_id is not None:
        q = q.where(AcmeAccount.org_id == org_id)
    return [(row, code) for row, code in s.execute(q)]


def org_code(s: Session, org_id: int) -> str:
    return s.scalars(select(Organization.code).where(Organization.id == org_id)).one()


def set_contacts(row: AcmeAccount, contacts: Sequence[str]) -> None:
    row.contacts = list(contacts)


def set_key(row: AcmeAccount, jwk: str, thumbprint: str) -> None:
    row.jwk = jwk
    row.thumbprint = thumbprint


def deactivate_account(row: AcmeAccount, at: datetime) -> None:
    row.status = AccountStatus.DEACTIVATED
    row.deactivated_at = at


# --- nonces (RFC 8555 §6.5) -----------------------------------------------------------------


def add_nonces(conn: Connection, values: Sequence[str], expires_at: datetime) -> None:
    conn.execute(insert(_NONCES), [{"value": v, "expires_at": expires_at} for v in values])


def purge_nonces(conn: Connection, now: datetime) -> int:
    return conn.execute(delete(_NONCES).where(_NONCES.c.expires_at <= now)).rowcount


# --- orders, authorizations, challenges -------------------------------------------------------


def add_order(
    conn: Connection,
    *,
    account_id: int,
    org_id: int,
    names: Sequence[str],
    expires_at: datetime,
    created_at: datetime,
    replaces_id: int | None = None,
    profile: str | None = None,
) -> int:
    """A new pending order (one Core INSERT); its id."""
    new_id = conn.execute(
        insert(_ORDERS)
        .values(
            account_id=account_id,
            org_id=org_id,
            status=OrderStatus.PENDING,
            names=list(names),
            expires_at=expires_at,
            created_at=created_at,
            replaces_id=replaces_id,
            profile=profile,
        )
        .returning(_ORDERS.c.id)
    ).scalar_one()
    return int(new_id)


def add_authorization(
    conn: Connection,
    *,
    order_id: int,
    account_id: int,
    name: str,
    wildcard: bool,
    expires_at: datetime,
    created_at: datetime,
    valid: bool = False,
) -> int:
    """A new authorization, pending (or valid at once when reused, RFC 8555 §7.1.4); its id."""
    new_id = conn.execute(
        insert(_AUTHZS)
        .values(
            order_id=order_id,
            account_id=account_id,
            name=name,
            wildcard=wildcard,
            status=AuthzStatus.VALID if valid else AuthzStatus.PENDING,
            expires_at=expires_at,
            created_at=created_at,
        )
        .returning(_AUTHZS.c.id)
    ).scalar_one()
    return int(new_id)


def add_challenges(
    conn: Connection, authz_id: int, kinds: Sequence[ChallengeType], tokens: Sequence[str]
) -> None:
    """The authorization's pending challenges, one per kind, each with its token."""
    conn.execute(
        insert(_CHALLS),
        [
            {"authz_id": authz_id, "type": k, "token": t, "status": ChallengeStatus.PENDING}
            for k, t in zip(kinds, tokens, strict=True)
        ],
    )


def add_reused_challenge(
    conn: Connection, authz_id: int, *, kind: ChallengeType, token: str, validated_at: datetime
) -> None:
    """The proof of an authorization valid at once (reuse, RFC 8555 §7.1.4, or a standing
    record): a valid challenge with the method and the moment of that proof."""
    conn.execute(
        insert(_CHALLS).values(
            authz_id=authz_id,
            type=kind,
            token=token,
            status=ChallengeStatus.VALID,
            validated_at=validated_at,
        )
    )


def order(s: Session, order_id: int, *, for_update: bool = False) -> AcmeOrder | None:
    q = select(AcmeOrder).where(AcmeOrder.id == order_id)
    if for_update:
        q = q.with_for_update()
    return s.scalars(q).one_or_none()


def orders_of(s: Session, account_id: int, *, after: int, limit: int, now: datetime) -> list[int]:
    """Up to ``limit`` of the account's orders numbered above ``after``, oldest first, without
    those that can no longer be anything but invalid (RFC 8555 §7.1.2.1: the list SHOULD NOT
    include invalid orders): recorded invalid, or not yet finalized and either expired or
    holding an authorization that failed, was deactivated or revoked (core.order_status)."""
    order, authz = AcmeOrder, AcmeAuthorization
    dead_authz = (
        select(authz.id)
        .where(authz.order_id == order.id, authz.status.in_(sorted(DEAD_AUTHZ)))
        .exists()
    )
    unfinished = order.status.not_in([OrderStatus.PROCESSING, OrderStatus.VALID])
    return list(
        s.scalars(
            select(order.id)
            .where(
                order.account_id == account_id,
                order.id > after,
                order.status != OrderStatus.INVALID,
                ~(unfinished & ((order.expires_at <= now) | dead_authz)),
            )
            .order_by(order.id)
            .limit(limit)
        )
    )


def authorization(s: Session, authz_id: int) -> AcmeAuthorization | None:
    return s.get(AcmeAuthorization, authz_id)


def authorizations_of(s: Session, order_id: int) -> list[AcmeAuthorization]:
    return list(
        s.scalars(
            select(AcmeAuthorization)
            .where(AcmeAuthorization.order_id == order_id)
            .order_by(AcmeAuthorization.id)
        )
    )


def challenges_of(s: Session, authz_ids: Sequence[int]) -> list[AcmeServerChallenge]:
    if not authz_ids:
        return []
    return list(
        s.scalars(
            select(AcmeServerChallenge)
            .where(AcmeServerChallenge.authz_id.in_(authz_ids))
            .order_by(AcmeServerChallenge.id)
        )
    )


def challenge(s: Session, challenge_id: int) -> AcmeServerChallenge | None:
    return s.get(AcmeServerChallenge, challenge_id)


def record_challenge(
    s: Session | Connection,
    challenge_id: int,
    *,
    valid: bool,
    at: datetime,
    error: dict[str, Any] | None,
    valid_until: datetime | None = None,
) -> None:
    """The validation's result, on the challenge and on its authorization (§7.1.6);
    ``valid_until`` (a proof that ends, like a dns-persist-01 record's persistUntil) bounds
    the authorization's expiry. Compiled statements (store/acme_compiled.py), no ORM object."""
    if isinstance(s, Session):
        s.flush()  # the raw cursor below must see the session's pending changes
    conn = s.connection() if isinstance(s, Session) else s
    acme_compiled.record_validation(conn, challenge_id, valid=valid, at=at, error=error)
    if valid and valid_until is not None:
        chall, authz = AcmeServerChallenge, AcmeAuthorization
        authz_id = select(chall.authz_id).where(chall.id == challenge_id).scalar_subquery()
        s.execute(
            update(authz)
            .where(authz.id == authz_id, authz.expires_at > valid_until)
            .values(expires_at=valid_until)
        )


def deactivate_authorization(row: AcmeAuthorization) -> None:
    row.status = AuthzStatus.DEACTIVATED


def mark_order(
    s: Session | Connection,
    order_id: int,
    status: OrderStatus,
    *,
    expect: Sequence[OrderStatus],
    error: dict[str, Any] | None = None,
    certificate_id: int | None = None,
) -> bool:
    """Move an order to ``status`` only if it is in one of ``expect`` (a finalization that
    races another one loses here, not after signing)."""
    values: dict[str, Any] = {"status": status}
    if error is not None:
        values["error"] = error
    if certificate_id is not None:
        values["certificate_id"] = certificate_id
    done = s.execute(
        update(AcmeOrder)
        .where(AcmeOrder.id == order_id, AcmeOrder.status.in_(list(expect)))
        .values(**values)
    )
    return cast("CursorResult[Any]", done).rowcount == 1


def account_of_certificate(s: Session, certificate_id: int) -> int | None:
    """The ACME account whose order produced certificate ``certificate_id``, if any."""
    return s.scalars(
        select(AcmeOrder.account_id).where(AcmeOrder.certificate_id == certificate_id)
    ).first()
