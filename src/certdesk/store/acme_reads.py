"""The ACME server's hot reads (RFC 8555 §7.1): each object a client polls, read with one
Core statement built once, no ORM objects loaded (docs/performance.md, "ACME").

Every signed request reads its account (:func:`account`); the polls read an order with its
authorizations and their challenges' states (:func:`order`), or an authorization with its
challenges (:func:`authorization`), each in one statement; a certificate's download reads
the certificate through its order (:func:`certificate`). The statements are built at import
(SQLAlchemy then compiles each once per dialect, from its cache) and return plain rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, select

from certdesk.store.models import (
    AcmeAccount,
    AcmeAuthorization,
    AcmeOrder,
    AcmeServerChallenge,
    CertificateRow,
    Organization,
)

_ACCOUNTS = cast("Table", AcmeAccount.__table__)
_ORGS = cast("Table", Organization.__table__)
_ORDERS = cast("Table", AcmeOrder.__table__)
_AUTHZS = cast("Table", AcmeAuthorization.__table__)
_CHALLS = cast("Table", AcmeServerChallenge.__table__)
_CERTS = cast("Table", CertificateRow.__table__)
_REPLACED = _CERTS.alias("replaced")

_ACCOUNT = (
    select(*_ACCOUNTS.c, _ORGS.c.code.label("org_code"))
    .join(_ORGS, _ORGS.c.id == _ACCOUNTS.c.org_id)
    .where(_ACCOUNTS.c.id == bindparam("id"))
)

# An order, its certificate's serial, the certificate it replaces (serial, DER), and per
# authorization (in id order) its state and each of its challenges' states: one row per
# challenge (one row with NULLs if none).
_ORDER = (
    select(
        *_ORDERS.c,
        _CERTS.c.serial.label("certificate_serial"),
        _REPLACED.c.serial.label("replaces_serial"),
        _REPLACED.c.der.label("replaces_der"),
        _AUTHZS.c.id.label("authz_id"),
        _AUTHZS.c.status.label("authz_status"),
        _AUTHZS.c.expires_at.label("authz_expires_at"),
        _CHALLS.c.status.label("challenge_status"),
    )
    .select_from(_ORDERS)
    .outerjoin(_CERTS, _CERTS.c.id == _ORDERS.c.certificate_id)
    .outerjoin(_REPLACED, _REPLACED.c.id == _ORDERS.c.replaces_id)
    .outerjoin(_AUTHZS, _AUTHZS.c.order_id == _ORDERS.c.id)
    .outerjoin(_CHALLS, _CHALLS.c.authz_id == _AUTHZS.c.id)
    .where(_ORDERS.c.id == bindparam("id"))
    .order_by(_AUTHZS.c.id, _CHALLS.c.id)
)

# An authorization and each of its challenges (one row per challenge, in id order).
_AUTHZ_ROWS = (
    select(
        *_AUTHZS.c,
        _CHALLS.c.id.label("c_id"),
        _CHALLS.c.type.label("c_type"),
        _CHALLS.c.token.label("c_token"),
        _CHALLS.c.status.label("c_status"),
        _CHALLS.c.validated_at.label("c_validated_at"),
        _CHALLS.c.error.label("c_error"),
    )
    .select_from(_AUTHZS)
    .outerjoin(_CHALLS, _CHALLS.c.authz_id == _AUTHZS.c.id)
    .order_by(_CHALLS.c.id)
)
_AUTHZ = _AUTHZ_ROWS.where(_AUTHZS.c.id == bindparam("id"))

# The same rows for the authorization a challenge belongs to.
_AUTHZ_OF_CHALLENGE = _AUTHZ_ROWS.where(
    _AUTHZS.c.id
    == select(_CHALLS.c.authz_id).where(_CHALLS.c.id == bindparam("id")).scalar_subquery()
)


# A certificate an account's order produced, with what its download needs (§7.4.2).
_CERTIFICATE = (
    select(
        _CERTS.c.der,
        _CERTS.c.chain_pem,
        _CERTS.c.issuer_id,
        _CERTS.c.status,
        _CERTS.c.org_id,
    )
    .join(_ORDERS, _ORDERS.c.certificate_id == _CERTS.c.id)
    .where(_CERTS.c.serial == bindparam("serial"), _ORDERS.c.account_id == bindparam("account"))
    .limit(1)
)


def account(conn: Connection, account_id: int) -> Any:
    """The account's columns and its organization's ``org_code`` (None: no such account)."""
    return conn.execute(_ACCOUNT, {"id": account_id}).first()


def order(conn: Connection, order_id: int) -> Sequence[Any]:
    """The order's rows (empty: no such order); see ``_ORDER``."""
    return conn.execute(_ORDER, {"id": order_id}).all()


def authorization(conn: Connection, authz_id: int) -> Sequence[Any]:
    """The authorization's rows (empty: no such authorization); see ``_AUTHZ``."""
    return conn.execute(_AUTHZ, {"id": authz_id}).all()


def authorization_of_challenge(conn: Connection, challenge_id: int) -> Sequence[Any]:
    """The rows of the authorization challenge ``challenge_id`` belongs to."""
    return conn.execute(_AUTHZ_OF_CHALLENGE, {"id": challenge_id}).all()


def certificate(conn: Connection, serial: str, account_id: int) -> Any:
    """Certificate ``serial`` (stored form) if an order of ``account_id`` produced it: its
    ``der``, ``chain_pem``, ``issuer_id``, ``status`` and ``org_id`` (None: no such one)."""
    return conn.execute(_CERTIFICATE, {"serial": serial, "account": account_id}).first()
