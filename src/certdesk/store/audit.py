"""The audit log rows and their chain head (R15)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from certdesk.core.audit import GENESIS, AuditEvent, chain_hash
from certdesk.store.compiled import Compiled
from certdesk.store.models import AuditHead, AuditRow

# Core statements built once (every change appends an event, issuance on its hot path).
_HEAD = cast("Table", AuditHead.__table__)
_LOCK_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update()
_INSERT_EVENT = insert(cast("Table", AuditRow.__table__))
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)


# The same three on the DBAPI cursor (store/compiled.py): every append, issuance's included.
_C_LOCK_HEAD = Compiled(_LOCK_HEAD)
_C_INSERT_EVENT = Compiled(
    _INSERT_EVENT,
    keys=("seq", "at", "actor", "action", "object_type", "object_id", "summary", "prev_hash",
          "hash"),
)  # fmt: skip
_C_MOVE_HEAD = Compiled(_MOVE_HEAD)
# PostgreSQL: the event and the head's move in one statement (a data-modifying WITH runs
# exactly once, in the statement's transaction): one round trip per event fewer.
_EVENT_KEYS = (
    "seq", "at", "actor", "action", "object_type", "object_id", "summary", "prev_hash", "hash",
)  # fmt: skip
_C_INSERT_AND_MOVE = Compiled(
    _MOVE_HEAD.add_cte(
        insert(cast("Table", AuditRow.__table__))
        .values({k: bindparam(k) for k in _EVENT_KEYS})
        .cte("event")
    )
)


# The head as this connection's transaction left it: (transaction, seq, hash).
_HELD_HEAD = "certdesk_audit_head"


def append(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    summary: dict[str, Any],
    key: bytes | None,
) -> AuditEvent:
    """Append one event in the caller's transaction, locking the chain head.

    The head row stays locked (``FOR UPDATE`` on PostgreSQL; on SQLite the write transaction
    excludes other writers) until the caller commits, so events are chained one at a time.
    The transaction's first append reads and locks the head; the ones after it in the same
    transaction (a group-commit batch: one per certificate) chain on from the head it left,
    which nobody else can have moved while the lock is held. Not inside a savepoint, whose
    rollback could undo an event: there every append reads the head.
    """
    txn = conn.get_transaction()
    nested = conn.in_nested_transaction()
    held = conn.info.get(_HELD_HEAD)
    if held is not None and held[0] is txn and not nested:
        prev_seq, prev_hash = held[1], held[2]
    else:
        cursor = _C_LOCK_HEAD.execute(conn, {})
        prev_seq, prev_hash = cursor.fetchone()
        cursor.close()
    conn.info.pop(_HELD_HEAD, None)
    # Round-trip through JSON so the hashed summary is exactly what will be read back.
    clean = json.loads(json.dumps(summary, sort_keys=True, default=str))
    event = AuditEvent(prev_seq + 1, at, actor, action, object_type, object_id, clean)
    digest = chain_hash(prev_hash, event, key)
    row = {
        "seq": event.seq,
        "at": at,
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "summary": json.dumps(clean, sort_keys=True),
        "prev_hash": prev_hash,
        "hash": digest,
    }
    if conn.dialect.name == "postgresql":
        _C_INSERT_AND_MOVE.execute(conn, {**row, "new_seq": event.seq, "new_hash": digest}).close()
    else:
        _C_INSERT_EVENT.execute(conn, row).close()
        _C_MOVE_HEAD.execute(conn, {"new_seq": event.seq, "new_hash": digest}).close()
    if not nested:  # remembered only once the event and the head's move are both written
        conn.info[_HELD_HEAD] = (txn, event.seq, digest)
    return event


def rehash(conn: Connection, key: bytes) -> int:
    """Recompute every link under ``key`` (the one-time keying of a log written before keys),
    holding the head locked; returns the number of events."""
    conn.info.pop(_HELD_HEAD, None)  # the head is moved here, not by append
    conn.execute(_LOCK_HEAD).one()
    rows = cast("Table", AuditRow.__table__)
    prev = GENESIS
    seq = 0
    for row in conn.execute(select(rows).order_by(rows.c.seq)).mappings().all():
        event = AuditEvent(
            row["seq"], row["at"], row["actor"], row["action"], row["object_type"],
            row["object_id"], json.loads(row["summary"]),
        )  # fmt: skip
        digest = chain_hash(prev, event, key)
        conn.execute(
            update(rows).where(rows.c.seq == row["seq"]).values(prev_hash=prev, hash=digest)
        )
        prev, seq = digest, row["seq"]
    conn.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": prev})
    return seq


def hash_at(s: Session, seq: int) -> str | None:
    return s.scalar(select(AuditRow.hash).where(AuditRow.seq == seq))


def to_event(row: AuditRow) -> AuditEvent:
    return AuditEvent(
        row.seq,
        row.at,
        row.actor,
        row.action,
        row.object_type,
        row.object_id,
        json.loads(row.summary),
    )


def rows_in_order(s: Session, batch: int = 5000) -> Iterator[AuditRow]:
    """Every row in storage order of ``seq`` (as stored; verification finds gaps)."""
    last = 0
    while True:
        chunk = list(
            s.scalars(
                select(AuditRow).where(AuditRow.seq > last).order_by(AuditRow.seq).limit(batch)
            )
        )
        if not chunk:
            return
        yield from chunk
        last = chunk[-1].seq


def head(s: Session) -> AuditHead | None:
    return s.get(AuditHead, 1)


def search(
    s: Session,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    before_seq: int | None = None,
    limit: int = 100,
    since: datetime | None = None,
    until: datetime | None = None,
    action_families: tuple[str, ...] = (),
    without_actions: tuple[str, ...] = (),
) -> list[AuditRow]:
    """Events newest first; ``since``/``until`` bound their time as ``[since, until)``;
    ``action_families`` keeps actions whose first word is one of them (``case`` keeps
    ``case.approve``), ``without_actions`` drops those actions."""
    q = select(AuditRow).order_by(AuditRow.seq.desc()).limit(limit)
    if since is not None:
        q = q.where(AuditRow.at >= since)
    if until is not None:
        q = q.where(AuditRow.at < until)
    if object_type:
        q = q.where(AuditRow.object_type == object_type)
    if object_id:
        q = q.where(AuditRow.object_id == object_id)
    if actor:
        q = q.where(AuditRow.actor == actor)
    if action:
        q = q.where(AuditRow.action == action)
    if before_seq is not None:
        q = q.where(AuditRow.seq < before_seq)
    if action_families:
        q = q.where(
            or_(*(AuditRow.action.startswith(f + ".", autoescape=True) for f in action_families))
        )
    if without_actions:
        q = q.where(AuditRow.action.not_in(without_actions))
    return list(s.scalars(q))
