"""The mail queue: R9 notices (what is due but not yet recorded) and account mail, their
claims and outcomes.

The ``notices`` table is both the exactly-once record and certdesk's one mail queue. Its
unique key (subject_type, subject_id, contact_email, reason) is what makes a message happen
once: a notice is inserted, already claimed, with ``ON CONFLICT DO NOTHING``, and only the
transaction whose insert took effect goes on to send it; an account mail (subject type
``account``, R10) is inserted by the transaction that decided to send it, and waits.
Both kinds are then claimed, leased, retried with backoff and settled by the same statements.

The "what is due" queries are anti-joins against that table, so a pass reads only subjects
with something new: a certificate is looked at for ``expiry.N`` when it is within N days of
its expiry, was tracked for longer than that, and has no ``expiry.N`` row yet.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from certdesk.core.certificates import CertStatus
from certdesk.core.notices import WAITING_STATES, NoticeState
from certdesk.core.workflow import State
from certdesk.store.models import (
    Case,
    CaseEvent,
    CertificateRow,
    Contact,
    Notice,
    Submittal,
    SubmittalContact,
)

CERTIFICATE, CASE, ACCOUNT, PERSON = "certificate", "case", "account", "person"
# A notice to cert services about a vendor's order (R16), stored as written like account mail.
VENDOR = "vendor"
# An organization (its contacts changed: the notice to cert services, issue 14).
ORGANIZATION = "organization"
# The subject types whose rows are stored messages, sent by the stored-mail sender.
STORED_MESSAGES = (ACCOUNT, VENDOR)
# The subject types of R9 notices (rendered from templates when sent; ``person``: a warning
# to one person, R10); ``account`` and ``vendor`` rows are stored messages.
NOTICE_SUBJECTS = (CERTIFICATE, CASE, PERSON, ORGANIZATION)
# Certificates that still get expiry notices: revoked ones (including superseded) do not.
NOTICE_CERT_STATUSES = (CertStatus.ACTIVE, CertStatus.EXPIRED)
# R5: cases still being worked can be overdue.
WORKING_STATES = (State.APPROVED, State.IN_PROGRESS)
_CHUNK = 500  # ids per IN (...) list

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = _CHUNK) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _recorded(subject_type: str, subject_id: Any, reason: Any) -> ColumnElement[bool]:
    """A notice row exists for (subject, reason), whoever it went to."""
    return exists().where(
        Notice.subject_type == subject_type,
        Notice.subject_id == subject_id,
        Notice.reason == reason,
    )


def _tracked_from() -> ColumnElement[datetime]:
    # When certdesk started tracking the certificate: the time it was stored (issued or
    # imported), else its notBefore.
    return func.coalesce(CertificateRow.issued_at, CertificateRow.not_before)


def _span_over(s: Session, days: int) -> ColumnElement[bool]:
    """``not_after`` is more than ``days`` days after the certificate was first tracked.

    A coarse filter (the exact rule is :func:`certdesk.core.lifecycle.expiry_notices_due`):
    it keeps certificates too short for a threshold (a 47-day certificate and its 60- and
    90-day notices) from being read again on every pass. SQLite stores UTC datetimes as text
    and compares them as Julian days; PostgreSQL subtracts timestamps.
    """
    if s.get_bind().dialect.name == "sqlite":
        span = func.julianday(CertificateRow.not_after) - func.julianday(_tracked_from())
        return span > days
    return CertificateRow.not_after - _tracked_from() > timedelta(days=days)


# --- what is due ---------------------------------------------------------------------------


def expiry_candidates(s: Session, reason: str, days: int, now: datetime) -> list[int]:
    """Certificates that may owe ``reason`` (``expiry.<days>``) at ``now`` and have no row.

    The moment is ``days`` calendar days before expiry at Pacific wall-clock time, which is
    within an hour of ``days`` times 24 hours: a day of slack on each side keeps the filter safe.
    """
    q = select(CertificateRow.id).where(
        CertificateRow.status.in_(NOTICE_CERT_STATUSES),
        CertificateRow.not_after <= now + timedelta(days=days + 1),
        _span_over(s, days - 1),
        ~_recorded(CERTIFICATE, CertificateRow.id, reason),
    )
    return list(s.scalars(q))


def expired_candidates(s: Session, reason: str, now: datetime) -> list[int]:
    """Certificates past their notAfter without an ``expired`` row."""
    q = select(CertificateRow.id).where(
        CertificateRow.status.in_(NOTICE_CERT_STATUSES),
        CertificateRow.not_after < now,
        ~_recorded(CERTIFICATE, CertificateRow.id, reason),
    )
    return list(s.scalars(q))


@dataclass(frozen=True)
class CertFacts:
    id: int
    serial: str
    names: tuple[str, ...]
    org_id: int
    status: str
    not_after: datetime
    tracked_from: datetime


def cert_facts(s: Session, ids: Sequence[int]) -> list[CertFacts]:
    out: list[CertFacts] = []
    for part in chunks(sorted(ids)):
        rows = s.execute(
            select(
                CertificateRow.id,
                CertificateRow.serial,
                CertificateRow.names,
                CertificateRow.org_id,
                CertificateRow.status,
                CertificateRow.not_after,
                _tracked_from(),
            ).where(CertificateRow.id.in_(part))
        )
        out += [
            CertFacts(i, serial, tuple(names.split(",")), org, status, end, start)
            for i, serial, names, org, status, end, start in rows
        ]
    return out


def recorded_reasons(s: Session, subject_type: str, ids: Sequence[int]) -> dict[int, set[str]]:
    """Subject id → the reasons already recorded for it (for any contact)."""
    out: dict[int, set[str]] = {i: set() for i in ids}
    for part in chunks(sorted(ids)):
        rows = s.execute(
            select(Notice.subject_id, Notice.reason)
            .where(Notice.subject_type == subject_type, Notice.subject_id.in_(part))
            .distinct()
        )
        for subject_id, reason in rows:
            out[subject_id].add(reason)
    return out


@dataclass(frozen=True)
class EventFacts:
    event_id: int
    case_id: int
    event: str
    to_state: str
    at: datetime


def _event_reason_sql() -> ColumnElement[str]:
    # The SQL twin of certdesk.core.notices.case_event_reason, for the anti-join.
    family = case(
        (CaseEvent.event == "submit", literal("case.submitted#")),
        (CaseEvent.event == "reject", literal("case.rejected#")),
        (CaseEvent.event == "fulfil", literal("case.delivered#")),
        else_=literal("case.approved#"),
    )
    return family.concat(cast(CaseEvent.id, String))


def case_event_candidates(s: Session) -> list[EventFacts]:
    """Case history events that are mailed (R9) and have no notice row yet."""
    mailed = or_(
        CaseEvent.event.in_(("submit", "reject", "fulfil")),
        and_(CaseEvent.event.in_(("approve", "route")), CaseEvent.to_state == State.APPROVED),
    )
    rows = s.execute(
        select(CaseEvent.id, CaseEvent.case_id, CaseEvent.event, CaseEvent.to_state, CaseEvent.at)
        .where(mailed, ~_recorded(CASE, CaseEvent.case_id, _event_reason_sql()))
        .order_by(CaseEvent.id)
    )
    return [EventFacts(*row) for row in rows]


def overdue_candidates(s: Session, reason: str, today: date) -> list[tuple[int, date]]:
    """(case id, due date) of cases being worked past their due date, not yet noticed."""
    rows = s.execute(
        select(Case.id, Case.due_date).where(
            Case.state.in_(WORKING_STATES),
            Case.due_date.is_not(None),
            Case.due_date < today,
            ~_recorded(CASE, Case.id, reason),
        )
    )
    return [(case_id, due) for case_id, due in rows if due is not None]


def window_candidates(
    s: Session, reason: str, latest_end: datetime
) -> list[tuple[int, datetime, datetime | None]]:
    """(case id, window end, closed at) of delivered cases whose window ends by
    ``latest_end`` and that have no "window closing" row.

    A case closed before its window ended (by the agency or cert services) needs no warning;
    one closed by the worker when the window ran out still gets it, late.
    """
    rows = s.execute(
        select(Case.id, Case.window_ends_at, Case.closed_at).where(
            Case.window_ends_at.is_not(None),
            Case.window_ends_at <= latest_end,
            or_(Case.state == State.DELIVERED, Case.closed_at >= Case.window_ends_at),
            ~_recorded(CASE, Case.id, reason),
        )
    )
    return [(case_id, end, closed) for case_id, end, closed in rows if end is not None]


# --- recipients ------------------------------------------------------------------------------


def submittal_contacts_of_certs(
    s: Session, cert_ids: Sequence[int]
) -> dict[int, list[tuple[str, str]]]:
    """Certificate id → (name, email) of the contacts on the submittals that got it."""
    return _submittal_contacts(s, Submittal.certificate_id, cert_ids)


def submittal_contacts_of_cases(
    s: Session, case_ids: Sequence[int]
) -> dict[int, list[tuple[str, str]]]:
    """Case id → (name, email) of the contacts on the case's submittals."""
    return _submittal_contacts(s, Submittal.case_id, case_ids)


def _submittal_contacts(
    s: Session, key: Any, ids: Sequence[int]
) -> dict[int, list[tuple[str, str]]]:
    """``key`` (a submittal column) → (name, email) of the contacts on those submittals."""
    out: dict[int, list[tuple[str, str]]] = {i: [] for i in ids}
    for part in chunks(sorted(ids)):
        rows = s.execute(
            select(key, Contact.name, Contact.email)
            .join(SubmittalContact, SubmittalContact.submittal_id == Submittal.id)
            .join(Contact, Contact.id == SubmittalContact.contact_id)
            .where(key.in_(part))
            .order_by(Submittal.id, Contact.id)
        )
        for owner, name, email in rows:
            if owner is not None:
                out[owner].append((name, email))
    return out


def org_contacts(s: Session, org_ids: Iterable[int]) -> dict[int, list[tuple[str, str]]]:
    """Organization id → (name, email) of its organization-level contacts."""
    ids = sorted(set(org_ids))
    out: dict[int, list[tuple[str, str]]] = {i: [] for i in ids}
    for part in chunks(ids):
        rows = s.execute(
            select(Contact.org_id, Contact.name, Contact.email)
            .where(Contact.org_id.in_(part), Contact.org_wide)
            .order_by(Contact.id)
        )
        for org_id, name, email in rows:
            out[org_id].append((name, email))
    return out


def case_orgs(s: Session, case_ids: Sequence[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for part in chunks(sorted(case_ids)):
        out.update(dict(s.execute(select(Case.id, Case.org_id).where(Case.id.in_(part))).all()))
    return out


# --- claims and outcomes -------------------------------------------------------------------


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
