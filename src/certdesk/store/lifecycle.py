"""The lifecycle worker's queries (expiry, R8 windows, R5 overdue, job lag): what is due,
found in SQL.

Every query here selects by indexed columns or bounded ranges so that one pass over an
inventory of a million certificates stays a handful of statements; the exact decision for
each candidate is taken afterwards by :mod:`certdesk.core.lifecycle` (pure). Every state
change is a conditional ``UPDATE`` (``… WHERE status = 'active'``; the renewals' in
:mod:`certdesk.store.renewals` alike): it changes a row at most once, however many workers
race for it, and its row count tells the caller whether *this* transaction made the change
(and must write the audit event).

Batches are claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, so that two
workers take disjoint batches instead of queueing on each other's rows. SQLite has no row
locks (SQLAlchemy renders no ``FOR UPDATE`` there); its write transactions start with ``BEGIN
IMMEDIATE`` (:mod:`certdesk.store.db`), which already excludes every other writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from certdesk.core.certificates import CertStatus
from certdesk.core.notices import WAITING_STATES, NoticeState
from certdesk.core.workflow import State
from certdesk.store.models import Case, CertificateRow, Notice
from certdesk.store.notices import STORED_MESSAGES

# Renewals (R6) are in :mod:`certdesk.store.renewals`, worker heartbeats in
# :mod:`certdesk.store.worker_beats`.

# --- expiry --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expired:
    id: int
    serial: str
    not_after: datetime


def expire_batch(s: Session, now: datetime, limit: int) -> list[Expired]:
    """Mark up to ``limit`` active certificates past ``notAfter`` expired; returns those this
    transaction changed.

    Expired means strictly after ``notAfter`` (RFC 5280 §4.1.2.5, core.lifecycle.expired). On
    PostgreSQL the batch is claimed with SKIP LOCKED, so concurrent workers take disjoint
    batches; the ``status = 'active'`` condition of the UPDATE makes the change happen once.
    """
    claim = (
        select(CertificateRow.id)
        .where(CertificateRow.status == CertStatus.ACTIVE, CertificateRow.not_after < now)
        .order_by(CertificateRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = s.execute(
        update(CertificateRow)
        .where(CertificateRow.id.in_(claim), CertificateRow.status == CertStatus.ACTIVE)
        .values(status=CertStatus.EXPIRED)
        .returning(CertificateRow.id, CertificateRow.serial, CertificateRow.not_after)
        .execution_options(synchronize_session=False)
    ).all()
    return sorted((Expired(r.id, r.serial, r.not_after) for r in rows), key=lambda e: e.id)


# --- R8: the window -------------------------------------------------------------------------


def windows_ended(s: Session, now: datetime, limit: int) -> list[int]:
    """Ids of delivered cases whose window has ended (oldest end first)."""
    return list(
        s.scalars(
            select(Case.id)
            .where(Case.state == State.DELIVERED, Case.window_ends_at <= now)
            .order_by(Case.window_ends_at, Case.id)
            .limit(limit)
        )
    )


def claim_delivered(s: Session, case_id: int) -> Case | None:
    """Lock a still-delivered case for closing; None when another worker holds it or it is
    no longer delivered (SKIP LOCKED on PostgreSQL)."""
    return s.scalars(
        select(Case)
        .where(Case.id == case_id, Case.state == State.DELIVERED)
        .with_for_update(skip_locked=True)
    ).one_or_none()


# --- R5: overdue ------------------------------------------------------------------------------


def overdue_count(s: Session, today: date, working_states: Sequence[str]) -> int:
    """Cases still to be delivered whose due date has passed (``ix_cases_state_due``)."""
    return (
        s.scalar(
            select(func.count())
            .select_from(Case)
            .where(Case.state.in_(list(working_states)), Case.due_date < today)
        )
        or 0
    )


# --- job lag (for /metrics) -----------------------------------------------------------------


@dataclass(frozen=True)
class Backlog:
    """The oldest item each job has not done yet (None: nothing waiting)."""

    expiry: datetime | None  # notAfter of the oldest active certificate past it
    windows: datetime | None  # end of the oldest window of a still-delivered case
    outbox: datetime | None  # creation of the oldest account mail waiting to be sent
    notices: datetime | None  # due moment of the oldest notice not sent yet
    outbox_by_status: dict[str, int]


def backlog(s: Session, now: datetime) -> Backlog:
    expiry = s.scalar(
        select(func.min(CertificateRow.not_after)).where(
            CertificateRow.status == CertStatus.ACTIVE, CertificateRow.not_after < now
        )
    )
    windows = s.scalar(
        select(func.min(Case.window_ends_at)).where(
            Case.state == State.DELIVERED, Case.window_ends_at <= now
        )
    )
    # One queue carries both (store/mail_queue.py): account mail is the "mail" job's backlog.
    account = Notice.subject_type.in_(STORED_MESSAGES)
    waiting = Notice.status.in_(WAITING_STATES)
    outbox = s.scalar(select(func.min(Notice.created_at)).where(account, waiting))
    notices = s.scalar(select(func.min(Notice.due_at)).where(~account, waiting))
    outbox_by: dict[str, int] = {}
    for st, n in s.execute(
        select(Notice.status, func.count()).where(account).group_by(Notice.status)
    ):
        # A mail being sent right now is still waiting, as the outbox counted it.
        key = NoticeState.PENDING if st == NoticeState.SENDING else st
        outbox_by[key] = outbox_by.get(key, 0) + n
    return Backlog(
        expiry=_aware(expiry),
        windows=_aware(windows),
        outbox=_aware(outbox),
        notices=_aware(notices),
        outbox_by_status=outbox_by,
    )


def status_counts(s: Session) -> dict[str, int]:
    """Certificates by status (the inventory gauge on /metrics)."""
    rows = s.execute(select(CertificateRow.status, func.count()).group_by(CertificateRow.status))
    return {status: n for status, n in rows}


def _aware(value: datetime | None) -> datetime | None:
    # Aggregates bypass the column type: SQLite hands back text, PostgreSQL an aware value.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
