"""The mail queue: R9 notices and stored messages (account mail, vendor and finding mail)
in one table, their once-only insert, claims, leases and outcomes.

The ``notices`` table is both the exactly-once record and certdesk's one mail queue. Its
unique key (subject_type, subject_id, contact_email, reason) is what makes a message happen
once: a notice is inserted, already claimed, with ``ON CONFLICT DO NOTHING``, and only the
transaction whose insert took effect goes on to send it; an account mail (subject type
``account``, R10) is inserted by the transaction that decided to send it, and waits.
Both kinds are then claimed, leased, retried with backoff and settled by the same statements
(driven by :mod:`certdesk.services.lifecycle.mail_queue`). What is due is found by
:mod:`certdesk.store.notices`.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, func, insert, or_, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from certdesk.core.notices import WAITING_STATES, NoticeState
from certdesk.store.models import Notice
from certdesk.store.notices import ACCOUNT, NOTICE_SUBJECTS, chunks


@dataclass(frozen=True)
class NoticeKey:
    id: int
    subject_type: str
    subject_id: int
    contact_email: str
    reason: str


def insert_new(s: Session, rows: Sequence[dict[str, Any]]) -> list[NoticeKey]:
    """Insert ``rows`` (already claimed or already settled) unless their key exists.

    Returns the rows this transaction inserted: only those are this caller's to send. Rows
    go in key order, so that two passes inserting overlapping sets on PostgreSQL wait for
    each other in one order and never deadlock.
    """
    if not rows:
        return []
    ordered = sorted(
        rows, key=lambda r: (r["subject_type"], r["subject_id"], r["reason"], r["contact_email"])
    )
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(Notice)
        .on_conflict_do_nothing(
            index_elements=["subject_type", "subject_id", "contact_email", "reason"]
        )
        .returning(
            Notice.id, Notice.subject_type, Notice.subject_id, Notice.contact_email, Notice.reason
        )
    )
    result = s.connection().execute(stmt, ordered)
    return [NoticeKey(*row) for row in result]


def queue_message(s: Session, row: dict[str, Any]) -> int:
    """Queue one stored message (an account mail) in the caller's transaction; its id."""
    values = {
        "subject_type": ACCOUNT,
        "late": False,
        "status": NoticeState.PENDING,
        "attempts": 0,
        "last_error": "",
        "claimed_by": None,
        "claim_expires_at": None,
        "sent_at": None,
        **row,
    }
    values.setdefault("next_attempt_at", values["created_at"])
    values.setdefault("due_at", values["created_at"])
    new_id = (
        s.connection().execute(insert(_TABLE).values(**values).returning(_TABLE.c.id)).scalar_one()
    )
    return int(new_id)


def queue_once(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Queue stored messages (``subject_type``, ``subject_id``, ``contact_email``, ``reason``,
    ``subject``, ``body_text``, ``body_html``, ``created_at``) in the caller's transaction,
    each unless its once-only key is queued already; how many were queued."""
    if not rows:
        return 0
    insert_ = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    queued = 0
    for row in sorted(rows, key=lambda r: (r["subject_type"], r["subject_id"], r["reason"])):
        values = {
            "late": False,
            "status": NoticeState.PENDING,
            "attempts": 0,
            "last_error": "",
            "due_at": row["created_at"],
            "next_attempt_at": row["created_at"],
            **row,
        }
        stmt = (
            insert_(Notice)
            .values(**values)
            .on_conflict_do_nothing(
                index_elements=["subject_type", "subject_id", "contact_email", "reason"]
            )
            .returning(Notice.id)
        )
        queued += len(conn.execute(stmt).all())
    return queued


def claim_due(
    s: Session,
    now: datetime,
    worker_id: str,
    lease_until: datetime,
    limit: int | None,
    *,
    subject_types: Sequence[str] = NOTICE_SUBJECTS,
    ignore_backoff: bool = False,
) -> dict[int, str | None]:
    """Claim notices waiting for a retry, and notices whose sender's claim ran out.

    ``subject_types`` chooses the kind of message (the notices pass and the account-mail
    sender each claim their own); ``ignore_backoff`` claims waiting messages before their
    retry moment (an operator's ``certdesk mail send``).

    Returns claimed id → the worker whose claim ran out (None for a retry): that worker may
    have handed the message to the SMTP server before it died, and the caller re-sends the
    same group of notices so that the repeat has the same Message-ID.

    ``FOR UPDATE SKIP LOCKED`` (PostgreSQL) lets several workers claim disjoint sets without
    waiting; on SQLite the write transaction already excludes every other writer. The update
    repeats the condition, so a row claimed meanwhile is left alone. A row whose claim ran
    out was being sent by a worker that died or stalled: its attempt counts as made.
    """
    kinds = Notice.subject_type.in_(list(subject_types))
    waiting = and_(
        kinds,
        Notice.status == NoticeState.PENDING,
        true()
        if ignore_backoff
        else or_(Notice.next_attempt_at.is_(None), Notice.next_attempt_at <= now),
    )
    stale = and_(kinds, Notice.status == NoticeState.SENDING, Notice.claim_expires_at < now)
    q = (
        select(Notice.id, Notice.claimed_by)
        .where(or_(waiting, stale))
        .order_by(Notice.id)
        .with_for_update(skip_locked=True)
    )
    if limit is not None:
        q = q.limit(limit)
    before = {notice_id: holder for notice_id, holder in s.execute(q)}
    claimed: dict[int, str | None] = {}
    for part in chunks(sorted(before)):
        for condition, interrupted in ((waiting, False), (stale, True)):
            values: dict[str, Any] = {
                "status": NoticeState.SENDING,
                "claimed_by": worker_id,
                "claim_expires_at": lease_until,
            }
            if interrupted:
                values["attempts"] = Notice.attempts + 1
                values["last_error"] = "the previous attempt was interrupted (claim expired)"
            result = s.execute(
                update(Notice)
                .where(Notice.id.in_(part), condition)
                .values(**values)
                .returning(Notice.id)
                .execution_options(synchronize_session=False)
            )
            for notice_id in result.scalars():
                claimed[notice_id] = (before[notice_id] or "?") if interrupted else None
    return claimed


def renew(s: Session, ids: Sequence[int], worker_id: str, lease_until: datetime) -> set[int]:
    """Extend this worker's claims; returns the ids it still holds."""
    held: set[int] = set()
    for part in chunks(sorted(ids)):
        result = s.execute(
            update(Notice)
            .where(
                Notice.id.in_(part),
                Notice.status == NoticeState.SENDING,
                Notice.claimed_by == worker_id,
            )
            .values(claim_expires_at=lease_until)
            .returning(Notice.id)
            .execution_options(synchronize_session=False)
        )
        held |= set(result.scalars())
    return held


_TABLE = typing.cast("Table", Notice.__table__)
# One statement for every notice of a batch of accepted messages (executemany): each gets
# its own subject line, late flag and the moment its message was accepted.
_SET_OUTCOME = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("b_id"))
    .values(subject=bindparam("b_subject"), late=bindparam("b_late"), sent_at=bindparam("b_at"))
)


def _conn(s: Session | Connection) -> Connection:
    return s.connection() if isinstance(s, Session) else s


def settle(
    s: Session | Connection, ids: Sequence[int], worker_id: str, values: dict[str, Any]
) -> list[int]:
    """Apply ``values`` to this worker's claimed rows among ``ids``; returns those updated.

    Every outcome (sent, failed, back to pending) ends the claim; a final one (sent, failed)
    also drops the sealed single-use link of an account mail (R10). Core statements on the
    table: the sending loop runs this once per message.
    """
    conn = _conn(s)
    if values.get("status") in (NoticeState.SENT, NoticeState.FAILED):
        values = {**values, "sealed_link": None}
    done: list[int] = []
    for part in chunks(sorted(ids)):
        result = conn.execute(
            update(_TABLE)
            .where(
                _TABLE.c.id.in_(part),
                _TABLE.c.status == NoticeState.SENDING,
                _TABLE.c.claimed_by == worker_id,
            )
            .values(claimed_by=None, claim_expires_at=None, **values)
            .returning(_TABLE.c.id)
        )
        done += list(result.scalars())
    return done


def mark_sent(
    s: Session | Connection,
    worker_id: str,
    outcome: dict[int, tuple[str, bool, datetime]],
) -> list[int]:
    """The SMTP server accepted the messages carrying these notices: id → (mail subject,
    late, accepted at). Two statements however many messages: the claimed rows move to
    ``sent``, then each gets its own subject, late flag and moment. Returns the ids this
    worker still held (and has now marked sent)."""
    done = settle(
        s,
        sorted(outcome),
        worker_id,
        {
            "status": NoticeState.SENT,
            "attempts": _TABLE.c.attempts + 1,
            "last_error": "",
            "next_attempt_at": None,
        },
    )
    if done:
        _conn(s).execute(
            _SET_OUTCOME,
            [
                {"b_id": i, "b_subject": subject, "b_late": late, "b_at": at}
                for i in done
                for subject, late, at in [outcome[i]]
            ],
        )
    return done


def by_ids(s: Session, ids: Sequence[int]) -> list[Notice]:
    out: list[Notice] = []
    for part in chunks(sorted(ids)):
        out += list(s.scalars(select(Notice).where(Notice.id.in_(part))))
    return sorted(out, key=lambda n: n.id)


def waiting_count(s: Session, subject_type: str) -> int:
    """Messages of ``subject_type`` not sent yet (pending, or being sent)."""
    return (
        s.scalar(
            select(func.count())
            .select_from(Notice)
            .where(
                Notice.subject_type == subject_type,
                Notice.status.in_(WAITING_STATES),
            )
        )
        or 0
    )
