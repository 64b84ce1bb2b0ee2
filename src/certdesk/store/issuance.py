"""The issuance write path (DESIGN §3.2): a ``signing`` intent recorded with its names, the
signed bytes stored once, an interrupted intent voided; a vendor's arrived certificate
stored ``active`` at once.

The certificate inventory these rows join is :mod:`certdesk.store.certificates`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Connection, String, Table, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from certdesk.core.certificates import CertStatus
from certdesk.core.issuers import Backend
from certdesk.store.compiled import Compiled
from certdesk.store.models import CertificateName, CertificateRow, Issuer, Organization

# The issuance hot path (services/pki/issuance.py) runs these Core statements on a Core
# connection, built once: no ORM session, unit of work or identity map, and no statement
# construction per call. They are constants; SQLAlchemy caches their compiled SQL.
_CERTS = cast("Table", CertificateRow.__table__)
_NAMES = cast("Table", CertificateName.__table__)
_ORGS = cast("Table", Organization.__table__)
_ISSUERS = cast("Table", Issuer.__table__)

_ACTIVE_ISSUER_ID = (
    select(_ISSUERS.c.id)
    .where(
        _ISSUERS.c.backend == Backend.LOCAL,
        _ISSUERS.c.is_root.is_(False),
        _ISSUERS.c.active.is_(True),
    )
    .order_by(_ISSUERS.c.id.desc())
    .limit(1)
    .scalar_subquery()
)
# FOR KEY SHARE OF organizations (PostgreSQL; SQLite's BEGIN IMMEDIATE already excludes
# every other writer): a grant change locks the row FOR UPDATE, which conflicts, so grants
# cannot be removed between this read and the commit of the intent.
_INTENT_CONTEXT = (
    select(
        _ORGS.c.id,
        _ORGS.c.code,
        _ORGS.c.self_managed,
        _ACTIVE_ISSUER_ID.label("issuer_id"),
        _ORGS.c.issuer_id.label("org_issuer_id"),
    )
    .where(_ORGS.c.code == bindparam("code"))
    .with_for_update(read=True, key_share=True, of=_ORGS)
)
_INSERT_INTENT = insert(_CERTS).returning(_CERTS.c.id)
_INSERT_NAMES = insert(_NAMES)
_INTENT_KEYS = (
    "serial", "issuer_id", "org_id", "status", "names", "key_type", "platform", "not_before",
    "not_after", "tbs_sha256", "requested_by", "signer", "signing_started_at", "renewal_of",
)  # fmt: skip
_MARK_ACTIVE = (
    update(_CERTS)
    .where(_CERTS.c.id == bindparam("cert_id"), _CERTS.c.status == CertStatus.SIGNING)
    .values(
        status=CertStatus.ACTIVE,
        der=bindparam("signed_der"),
        fingerprint_sha256=bindparam("signed_fingerprint"),
        issued_at=bindparam("signed_at"),
    )
)


# The same statements run on the DBAPI cursor (store/compiled.py): the issuance hot path.
_C_INTENT_CONTEXT = Compiled(_INTENT_CONTEXT)
_C_INSERT_INTENT = Compiled(_INSERT_INTENT, keys=_INTENT_KEYS)
_C_INSERT_NAMES = Compiled(_INSERT_NAMES, keys=("cert_id", "name"))
_C_MARK_ACTIVE = Compiled(_MARK_ACTIVE)
# PostgreSQL: the intent and its names in one statement, one round trip instead of a
# statement and a pipelined executemany; answers one row (the id) per name.
_INTENT_ROW = (
    insert(_CERTS).values({k: bindparam(k) for k in _INTENT_KEYS}).returning(_CERTS.c.id)
).cte("intent")
_C_INSERT_INTENT_WITH_NAMES = Compiled(
    insert(_NAMES)
    .from_select(
        ["cert_id", "name"],
        select(
            _INTENT_ROW.c.id,
            func.unnest(bindparam("name_list", type_=postgresql.ARRAY(String(253)))),
        ),
    )
    .returning(_NAMES.c.cert_id)
)


@dataclass(frozen=True)
class IntentContext:
    """What recording an intent depends on, read in the intent's own transaction."""

    org_id: int
    org_code: str
    self_managed: bool
    issuer_id: int | None  # the active issuing intermediate, None if there is none
    org_issuer_id: int | None = None  # the organization's chosen issuer (None: built-in)


def intent_context(conn: Connection, org_code: str) -> IntentContext | None:
    """The organization (row share-locked until commit) and the active issuer, one statement.

    None when no organization has this code. Read its grants afterwards, in the same
    transaction (:func:`certdesk.store.orgs.grants_of`): on PostgreSQL a statement that
    starts after the lock is granted sees any grant change that committed before.
    """
    cursor = _C_INTENT_CONTEXT.execute(conn, {"code": org_code})
    row = cursor.fetchone()
    cursor.close()
    if row is None:
        return None
    org_id, code, self_managed, issuer_id, org_issuer_id = row
    return IntentContext(org_id, code, bool(self_managed), issuer_id, org_issuer_id)


@dataclass(frozen=True)
class Intent:
    """A reserved serial about to be signed: the ``signing`` row's columns."""

    serial: str
    issuer_id: int
    org_id: int
    names: tuple[str, ...]
    key_type: str
    platform: str
    not_before: datetime
    not_after: datetime
    tbs_sha256: str
    requested_by: str
    signer: str
    signing_started_at: datetime
    renewal_of: int | None


def add_intent(conn: Connection, intent: Intent) -> int:
    """Record a reserved serial (status ``signing``) with its names; returns the row id."""
    names = list(dict.fromkeys(intent.names))
    row = {
        "serial": intent.serial,
        "issuer_id": intent.issuer_id,
        "org_id": intent.org_id,
        "status": CertStatus.SIGNING,
        "names": ",".join(intent.names),
        "key_type": intent.key_type,
        "platform": intent.platform,
        "not_before": intent.not_before,
        "not_after": intent.not_after,
        "tbs_sha256": intent.tbs_sha256,
        "requested_by": intent.requested_by,
        "signer": intent.signer,
        "signing_started_at": intent.signing_started_at,
        "renewal_of": intent.renewal_of,
    }
    if conn.dialect.name == "postgresql" and names:
        cursor = _C_INSERT_INTENT_WITH_NAMES.execute(conn, {**row, "name_list": names})
        cert_id: int = cursor.fetchone()[0]
        cursor.close()
        return cert_id
    cursor = _C_INSERT_INTENT.execute(conn, row)
    cert_id = cursor.fetchone()[0]
    cursor.close()
    _C_INSERT_NAMES.executemany(conn, [{"cert_id": cert_id, "name": n} for n in names])
    return cert_id


def mark_active(
    conn: Connection, cert_id: int, *, der: bytes, fingerprint: str, issued_at: datetime
) -> bool:
    """Store the signed bytes; False when the intent is no longer ``signing`` (voided)."""
    cursor = _C_MARK_ACTIVE.execute(
        conn,
        {
            "cert_id": cert_id,
            "signed_der": der,
            "signed_fingerprint": fingerprint,
            "signed_at": issued_at,
        },
    )
    updated: int = cursor.rowcount
    cursor.close()
    return updated == 1


@dataclass(frozen=True)
class Arrived:
    """A vendor's certificate that passed the arrival checks: stored ``active`` at once (there
    is no signing step of certdesk's own to record first; the write-ahead was the order)."""

    serial: str
    issuer_id: int
    org_id: int
    names: tuple[str, ...]
    key_type: str
    platform: str
    not_before: datetime
    not_after: datetime
    tbs_sha256: str
    der: bytes
    chain_pem: str
    fingerprint: str
    requested_by: str
    signer: str
    ordered_at: datetime
    issued_at: datetime
    renewal_of: int | None


def add_arrived(conn: Connection, cert: Arrived) -> int:
    """Insert an arrived certificate as ``active`` with its names; returns the row id."""
    cert_id: int = conn.execute(
        _INSERT_INTENT,
        {
            "serial": cert.serial,
            "issuer_id": cert.issuer_id,
            "org_id": cert.org_id,
            "status": CertStatus.ACTIVE,
            "names": ",".join(cert.names),
            "key_type": cert.key_type,
            "platform": cert.platform,
            "not_before": cert.not_before,
            "not_after": cert.not_after,
            "tbs_sha256": cert.tbs_sha256,
            "der": cert.der,
            "chain_pem": cert.chain_pem,
            "fingerprint_sha256": cert.fingerprint,
            "requested_by": cert.requested_by,
            "signer": cert.signer,
            "signing_started_at": cert.ordered_at,
            "issued_at": cert.issued_at,
            "renewal_of": cert.renewal_of,
        },
    ).scalar_one()
    conn.execute(
        _INSERT_NAMES, [{"cert_id": cert_id, "name": n} for n in dict.fromkeys(cert.names)]
    )
    return cert_id


def stale_intents(s: Session, started_before: datetime) -> list[CertificateRow]:
    return list(
        s.scalars(
            select(CertificateRow)
            .where(
                CertificateRow.status == CertStatus.SIGNING,
                CertificateRow.signing_started_at < started_before,
            )
            .with_for_update()
        )
    )


def mark_void(row: CertificateRow, reason: str) -> None:
    """Void an interrupted ``signing`` intent; the row and its serial stay (never reused)."""
    row.status = CertStatus.VOID
    row.void_reason = reason
