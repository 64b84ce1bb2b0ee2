"""Storage of the standing dns-persist-01 records certdesk knows of (models.AcmePersistRecord)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, or_, select
from sqlalchemy.orm import Session

from certdesk.store.models import AcmeAccount, AcmePersistRecord


def record(s: Session, account_id: int, name: str) -> AcmePersistRecord | None:
    return s.scalars(
        select(AcmePersistRecord).where(
            AcmePersistRecord.account_id == account_id, AcmePersistRecord.name == name
        )
    ).one_or_none()


def put_record(
    s: Session,
    *,
    account_id: int,
    org_id: int,
    name: str,
    wildcard: bool,
    persist_until: datetime | None,
    by: str,
    at: datetime,
    valid: bool = False,
) -> AcmePersistRecord:
    """The account's record for ``name``, added or brought up to date; a new persistUntil
    starts its warnings afresh."""
    row = record(s, account_id, name)
    if row is None:
        row = AcmePersistRecord(
            account_id=account_id,
            org_id=org_id,
            name=name,
            wildcard=wildcard,
            persist_until=persist_until,
            created_by=by,
            created_at=at,
        )
        s.add(row)
    else:
        if row.persist_until != persist_until:
            row.warned_days = None
        row.wildcard = wildcard
        row.persist_until = persist_until
    if valid:
        row.last_valid_at = at
        row.republish_since = None  # proved again: whatever is published holds
    s.flush()
    return row


def records(
    s: Session, *, org_id: int | None = None, account_id: int | None = None
) -> list[AcmePersistRecord]:
    q = select(AcmePersistRecord).order_by(AcmePersistRecord.name, AcmePersistRecord.id)
    if org_id is not None:
        q = q.where(AcmePersistRecord.org_id == org_id)
    if account_id is not None:
        q = q.where(AcmePersistRecord.account_id == account_id)
    return list(s.scalars(q))


def standing(
    conn: Connection, account_id: int, names: Sequence[str], now: datetime
) -> dict[str, bool]:
    """The account's records for ``names`` whose persistUntil has not passed: name → whether
    it covers wildcards. One Core read (newOrder asks on every order, and most accounts have
    no record at all)."""
    if not names:
        return {}
    rows = conn.execute(
        select(AcmePersistRecord.name, AcmePersistRecord.wildcard).where(
            AcmePersistRecord.account_id == account_id,
            AcmePersistRecord.name.in_(list(names)),
            or_(
                AcmePersistRecord.persist_until.is_(None),
                AcmePersistRecord.persist_until > now,
            ),
        )
    )
    return {name: bool(wildcard) for name, wildcard in rows}


def lapsing(s: Session, now: datetime, until: datetime) -> list[AcmePersistRecord]:
    """Records of live accounts whose persistUntil falls in [now, until), oldest first."""
    return list(
        s.scalars(
            select(AcmePersistRecord)
            .join(AcmeAccount, AcmeAccount.id == AcmePersistRecord.account_id)
            .where(
                AcmeAccount.status == "valid",
                AcmePersistRecord.persist_until > now,
                AcmePersistRecord.persist_until < until,
            )
            .order_by(AcmePersistRecord.persist_until, AcmePersistRecord.id)
        )
    )


def locked(s: Session, record_id: int) -> AcmePersistRecord | None:
    """The record, locked until the transaction ends (PostgreSQL), so two workers never
    both warn about it."""
    return s.get(AcmePersistRecord, record_id, with_for_update=True)


def set_warned(row: AcmePersistRecord, days: int) -> None:
    row.warned_days = days


def mark_republish(s: Session, account_id: int, at: datetime) -> list[AcmePersistRecord]:
    """The account's records that have not ended, marked to be republished since ``at``
    (the account's key changed); the records marked."""
    rows = [
        r
        for r in records(s, account_id=account_id)
        if r.persist_until is None or r.persist_until > at
    ]
    for row in rows:
        row.republish_since = at
    s.flush()
    return rows
