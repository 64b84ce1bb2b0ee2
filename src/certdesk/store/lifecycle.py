"""The lifecycle worker's queries (R6, R8, R9 housekeeping): what is due, found in SQL.

Every query here selects by indexed columns or bounded ranges so that one pass over an
inventory of a million certificates stays a handful of statements; the exact decision for
each candidate is taken afterwards by :mod:`certdesk.core.lifecycle` (pure). Every state
change is a conditional ``UPDATE`` (``… WHERE status = 'active'``, ``… WHERE renewal_case_id IS
NULL``): it changes a row at most once, however many workers race for it, and its row count
tells the caller whether *this* transaction made the change (and must write the audit event).

Batches are claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, so that two
workers take disjoint batches instead of queueing on each other's rows. SQLite has no row
locks (SQLAlchemy renders no ``FOR UPDATE`` there); its write transactions start with ``BEGIN
IMMEDIATE`` (:mod:`certdesk.store.db`), which already excludes every other writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, extract, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from certdesk.core.certificates import CertStatus
from certdesk.core.issuers import Backend
from certdesk.core.notices import WAITING_STATES, NoticeState
from certdesk.core.workflow import CaseType, State
from certdesk.store.models import (
    Case,
    CaseEvent,
    CertificateRow,
    Issuer,
    Notice,
    Organization,
    WorkerBeat,
)
from certdesk.store.notices import STORED_MESSAGES

# A case in neither state is still being worked (a delivered one in its R8 window too).
FINISHED_STATES = (State.CLOSED, State.CANCELLED)

_UNIX_EPOCH_JULIAN_DAY = 2440587.5


def _epoch_seconds(s: Session, column: Any) -> ColumnElement[Any]:
    """``column`` as seconds since 1970 on either backend (for arithmetic between columns)."""
    if s.get_bind().dialect.name == "postgresql":
        return extract("epoch", column)
    # SQLite stores UTC as ``YYYY-MM-DD HH:MM:SS.ffffff`` text, which julianday() reads.
    return (func.julianday(column) - _UNIX_EPOCH_JULIAN_DAY) * 86400.0


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


# --- renewal (R6) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RenewalCandidate:
    """A certificate whose renewal may be due; core.lifecycle.renewal_plan decides."""

    id: int
    serial: str
    org_id: int
    not_before: datetime
    not_after: datetime
    case_id: int


_CANDIDATE_COLUMNS = (
    CertificateRow.id,
    CertificateRow.serial,
    CertificateRow.org_id,
    CertificateRow.not_before,
    CertificateRow.not_after,
    CertificateRow.case_id,
)


def _renewable(now: datetime) -> list[ColumnElement[bool]]:
    # Only certificates delivered through a case renew through a case: a certificate issued
    # directly (a delegated administrator, an ACME client, an operator's script) is renewed
    # by whoever issued it, who gets the notices (R9). An active certificate past notAfter
    # is about to be marked expired, not renewed.
    return [
        CertificateRow.status == CertStatus.ACTIVE,
        CertificateRow.renewal_case_id.is_(None),
        CertificateRow.case_id.is_not(None),
        CertificateRow.not_after > now,
    ]


def renewal_candidates(
    s: Session,
    now: datetime,
    *,
    turnaround_before: datetime,
    lifetime_fraction: float,
    after_id: int = 0,
    limit: int = 2000,
) -> list[RenewalCandidate]:
    """Renewable certificates whose renewal can have opened by ``now``: the next ``limit``
    by id after ``after_id`` (keyset pages, so a caller reads any number in bounded memory).

    A superset of the due ones, from two bounds that hold whatever the calendar:

    * the turnaround point (R5 + margin): due exactly for ``not_after < turnaround_before``
      (:func:`certdesk.core.lifecycle.turnaround_due_before`), an index range;
    * the lifetime point, ``notBefore + fraction * validity``, compared in SQL with a day of
      slack (the core decides to the second).

    A customer's requested date is the third reason (:func:`requested_renewals`).
    """
    nb = _epoch_seconds(s, CertificateRow.not_before)
    na = _epoch_seconds(s, CertificateRow.not_after)
    lifetime_bound = (now + timedelta(days=1)).astimezone(UTC).timestamp()
    stmt = (
        select(*_CANDIDATE_COLUMNS)
        .where(
            *_renewable(now),
            CertificateRow.id > after_id,
            or_(
                CertificateRow.not_after < turnaround_before,
                nb * (1 - lifetime_fraction) + na * lifetime_fraction <= lifetime_bound,
            ),
        )
        .order_by(CertificateRow.id)
        .limit(limit)
    )
    return [
        RenewalCandidate(r.id, r.serial, r.org_id, r.not_before, r.not_after, r.case_id)
        for r in s.execute(stmt)
    ]


def requested_renewals(s: Session, now: datetime) -> list[tuple[RenewalCandidate, date]]:
    """Renewable certificates whose delivering case carries a requested renewal date, with
    that date (``ix_cases_renewal_requested``: few cases carry one)."""
    stmt = (
        select(*_CANDIDATE_COLUMNS, Case.renewal_requested)
        .join(Case, Case.id == CertificateRow.case_id)
        .where(*_renewable(now), Case.renewal_requested.is_not(None))
        .order_by(CertificateRow.id)
    )
    return [
        (RenewalCandidate(r.id, r.serial, r.org_id, r.not_before, r.not_after, r.case_id), day)
        for r in s.execute(stmt)
        if (day := r.renewal_requested) is not None
    ]


def vendor_renewals(s: Session, now: datetime) -> list[tuple[RenewalCandidate, datetime]]:
    """Renewable certificates whose vendor asked for a renewal by now (RFC 9773), with the
    start of the vendor's window."""
    stmt = (
        select(*_CANDIDATE_COLUMNS, CertificateRow.vendor_renew_at)
        .where(*_renewable(now), CertificateRow.vendor_renew_at <= now)
        .order_by(CertificateRow.id)
    )
    return [
        (RenewalCandidate(r.id, r.serial, r.org_id, r.not_before, r.not_after, r.case_id), at)
        for r in s.execute(stmt)
        if (at := r.vendor_renew_at) is not None
    ]


def renewal_info_due(s: Session, now: datetime, limit: int) -> list[tuple[int, int, bytes]]:
    """(certificate id, issuer id, DER) of active vendor certificates whose renewal
    information is due to be asked (never asked, or its retry time has come)."""
    stmt = (
        select(CertificateRow.id, CertificateRow.issuer_id, CertificateRow.der)
        .join(Issuer, Issuer.id == CertificateRow.issuer_id)
        .where(
            Issuer.backend == Backend.ACME,
            CertificateRow.status == CertStatus.ACTIVE,
            CertificateRow.not_after > now,
            CertificateRow.der.is_not(None),
            or_(CertificateRow.vendor_info_at.is_(None), CertificateRow.vendor_info_at <= now),
        )
        .order_by(CertificateRow.vendor_info_at.is_not(None), CertificateRow.vendor_info_at)
        .limit(limit)
    )
    return [(r.id, r.issuer_id, r.der) for r in s.execute(stmt) if r.der is not None]


def set_renewal_info(
    s: Session, cert_id: int, *, renew_at: datetime | None, ask_again_at: datetime
) -> None:
    """Record what the vendor said: its window's start (None: no window) and the next ask."""
    s.execute(
        update(CertificateRow)
        .where(CertificateRow.id == cert_id)
        .values(vendor_renew_at=renew_at, vendor_info_at=ask_again_at)
    )


def open_renewal_case(s: Session, cert_id: int) -> Case | None:
    """An unfinished renewal case about certificate ``cert_id`` (opened by hand, or by a
    worker that died before linking it), oldest first."""
    return s.scalars(
        select(Case)
        .where(
            Case.target_cert_id == cert_id,
            Case.type == CaseType.RENEWAL,
            Case.state.not_in(FINISHED_STATES),
        )
        .order_by(Case.id)
        .limit(1)
    ).first()


def link_renewal(s: Session, cert_id: int, case_id: int) -> bool:
    """Record that ``case_id`` is certificate ``cert_id``'s renewal case, once (R6).

    True only for the transaction that set it. ``renewal_case_id`` is also unique, so no
    case can be the renewal of two certificates.
    """
    result = s.execute(
        update(CertificateRow)
        .where(CertificateRow.id == cert_id, CertificateRow.renewal_case_id.is_(None))
        .values(renewal_case_id=case_id)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class WorkerRenewal:
    """A renewal case the worker opened that still needs its next step."""

    number: str
    state: str
    auto_approve: bool


def renewals_to_advance(s: Session, opened_by: str) -> list[WorkerRenewal]:
    """Renewal cases ``opened_by`` the worker still in draft, or awaiting approval in an
    organization that approves unchanged renewals automatically (both cheap: by state)."""
    rows = s.execute(
        select(Case.number, Case.state, Organization.auto_approve_renewals)
        .join(Organization, Organization.id == Case.org_id)
        .where(
            Case.type == CaseType.RENEWAL,
            Case.opened_by == opened_by,
            or_(
                Case.state == State.DRAFT,
                and_(
                    Case.state == State.PENDING_APPROVAL,
                    Organization.auto_approve_renewals.is_(True),
                ),
            ),
        )
        .order_by(Case.id)
    )
    return [WorkerRenewal(r.number, r.state, bool(r.auto_approve_renewals)) for r in rows]


def edited(s: Session, case_id: int) -> bool:
    """Whether anyone revised the case after it was opened (an ``edit`` in its history)."""
    return (
        s.scalar(
            select(func.count())
            .select_from(CaseEvent)
            .where(CaseEvent.case_id == case_id, CaseEvent.event == "edit")
        )
        or 0
    ) > 0


@dataclass(frozen=True)
class Replacement:
    old_id: int
    old_serial: str
    new_serial: str


def replaced_certificates(s: Session, limit: int) -> list[Replacement]:
    """Active certificates whose renewal has been delivered: to be marked superseded.

    The replacement names the old one in ``renewal_of`` and is active, and it was delivered
    by a renewal case, or issued directly (a direct issuance is its own delivery). A
    replacement on the *same* case is an R8 reissue, and a ``change`` case's replacement is
    revoked at close (services/casework/reissue.py, closing.py); neither is handled here.
    """
    old = aliased(CertificateRow)
    new = aliased(CertificateRow)
    rows = s.execute(
        select(old.id, old.serial, new.serial)
        .join(new, new.renewal_of == old.id)
        .outerjoin(Case, Case.id == new.case_id)
        .where(
            old.status == CertStatus.ACTIVE,
            new.status == CertStatus.ACTIVE,
            or_(old.case_id.is_(None), new.case_id.is_(None), old.case_id != new.case_id),
            or_(
                new.case_id.is_(None),
                and_(Case.type == CaseType.RENEWAL, Case.delivered_at.is_not(None)),
            ),
        )
        .order_by(old.id)
        .limit(limit)
    )
    return [Replacement(r[0], r[1], r[2]) for r in rows]


def mark_superseded(s: Session, cert_id: int) -> bool:
    result = s.execute(
        update(CertificateRow)
        .where(CertificateRow.id == cert_id, CertificateRow.status == CertStatus.ACTIVE)
        .values(status=CertStatus.SUPERSEDED)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


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
    # One queue carries both (store/notices.py): account mail is the "mail" job's backlog.
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


# --- worker heartbeats -------------------------------------------------------------------------


def beat(
    s: Session,
    worker_id: str,
    now: datetime,
    *,
    started_at: datetime,
    pass_seconds: float | None = None,
    jobs: int = 0,
    error: str | None = None,
) -> None:
    """Record that ``worker_id`` is alive at ``now`` (and, with ``pass_seconds``, that it
    finished a pass); one row per worker process, written only by that process."""
    row = s.get(WorkerBeat, worker_id)
    if row is None:
        row = WorkerBeat(worker_id=worker_id, started_at=started_at, jobs_done=0, last_error="")
        s.add(row)
    row.beat_at = now
    if pass_seconds is not None:
        row.last_pass_at = now
        row.last_pass_seconds = pass_seconds
        row.jobs_done = (row.jobs_done or 0) + jobs
    if error is not None:
        row.last_error = error[:2000]


def beats(s: Session) -> list[WorkerBeat]:
    return list(s.scalars(select(WorkerBeat).order_by(WorkerBeat.worker_id)))


def forget_worker(s: Session, worker_id: str) -> None:
    s.execute(delete(WorkerBeat).where(WorkerBeat.worker_id == worker_id))


def prune_beats(s: Session, older_than: datetime) -> int:
    result = s.execute(delete(WorkerBeat).where(WorkerBeat.beat_at < older_than))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
