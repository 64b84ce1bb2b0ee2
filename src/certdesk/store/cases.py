"""Cases, their decisions, comments and history; case numbers; the case search. A case's
submittals are in :mod:`certdesk.store.submittals`, approval policies in
:mod:`certdesk.store.approval_policies`.

The services change cases only through the narrow writers here (``open_case``, ``move``,
``revise``, ``start_round``, ``settle``, ``add_approval`` …): each writes one fact inside the
caller's transaction, so SQL and row edits stay in ``store/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from certdesk.core.issuers import OrderState
from certdesk.core.workflow import State
from certdesk.store.models import (
    Approval,
    Case,
    CaseEvent,
    Comment,
    Counter,
    Submittal,
    VendorOrder,
)


def next_counter(s: Session, name: str) -> int:
    """Increment the named counter and return its new value, inside the caller's transaction.

    The row is created on first use (``ON CONFLICT DO NOTHING`` so that two first users do
    not collide), then incremented by one ``UPDATE … RETURNING``: the update holds the row
    lock until commit, so concurrent transactions get consecutive, distinct values on
    PostgreSQL; SQLite writers are serialized by ``BEGIN IMMEDIATE`` anyway.
    """
    dialect = s.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    s.execute(
        insert(Counter).values(name=name, value=0).on_conflict_do_nothing(index_elements=["name"])
    )
    value: int = s.execute(
        update(Counter)
        .where(Counter.name == name)
        .values(value=Counter.value + 1)
        .returning(Counter.value)
    ).scalar_one()
    return value


def by_number(s: Session, number: str, *, for_update: bool = False) -> Case | None:
    q = select(Case).where(Case.number == number)
    if for_update:
        q = q.with_for_update()
    return s.scalars(q).one_or_none()


def by_id(s: Session, case_id: int) -> Case | None:
    return s.get(Case, case_id)


def events_of(s: Session, case_id: int) -> list[CaseEvent]:
    return list(
        s.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id))
    )


def approvals_of(s: Session, case_id: int, round_: int | None = None) -> list[Approval]:
    q = select(Approval).where(Approval.case_id == case_id)
    if round_ is not None:
        q = q.where(Approval.round == round_)
    return list(s.scalars(q.order_by(Approval.id)))


def comments_of(s: Session, case_id: int) -> list[Comment]:
    return list(s.scalars(select(Comment).where(Comment.case_id == case_id).order_by(Comment.id)))


def add_event(
    s: Session,
    case: Case,
    *,
    at: datetime,
    actor: str,
    event: str,
    from_state: str,
    to_state: str,
    note: str = "",
) -> CaseEvent:
    row = CaseEvent(
        case_id=case.id,
        at=at,
        actor=actor,
        event=event,
        from_state=from_state,
        to_state=to_state,
        note=note,
    )
    s.add(row)
    return row


# --- writers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewCase:
    number: str
    org_id: int
    type: str
    title: str
    description: str
    requester_id: int | None
    opened_by: str
    requested_delivery: date | None
    target_cert_id: int | None
    delegated_setup: dict[str, Any] | None


def open_case(s: Session, new: NewCase, at: datetime) -> Case:
    """A draft case and its first history entry (``open``)."""
    case = Case(
        number=new.number,
        org_id=new.org_id,
        type=new.type,
        state=State.DRAFT,
        title=new.title,
        description=new.description,
        requester_id=new.requester_id,
        opened_by=new.opened_by,
        requested_delivery=new.requested_delivery,
        expedite=False,
        approval_steps="",
        approval_round=0,
        target_cert_id=new.target_cert_id,
        delegated_setup=new.delegated_setup,
        created_at=at,
        updated_at=at,
    )
    s.add(case)
    s.flush()
    add_event(
        s, case, at=at, actor=new.opened_by, event="open", from_state="", to_state=State.DRAFT
    )
    return case


def move(
    s: Session,
    case: Case,
    to: State,
    *,
    at: datetime,
    actor: str,
    event: str,
    note: str = "",
    closed: bool = False,
) -> None:
    """Record one event in the case's history and put the case in state ``to`` (``closed``:
    the case also ends now)."""
    add_event(
        s, case, at=at, actor=actor, event=event, from_state=case.state, to_state=to, note=note
    )
    case.state = to
    case.updated_at = at
    if closed:
        case.closed_at = at


@dataclass(frozen=True)
class Revision:
    """A draft or rejected case's fields as they are to be."""

    title: str
    description: str
    requested_delivery: date | None
    target_cert_id: int | None
    delegated_setup: dict[str, Any] | None


def revision_of(case: Case) -> Revision:
    return Revision(
        case.title,
        case.description,
        case.requested_delivery,
        case.target_cert_id,
        case.delegated_setup,
    )


def revise(s: Session, case: Case, to: Revision) -> None:
    case.title = to.title
    case.description = to.description
    case.requested_delivery = to.requested_delivery
    case.target_cert_id = to.target_cert_id
    case.delegated_setup = to.delegated_setup


def start_round(s: Session, case: Case, steps: str) -> int:
    """R4: a (re)submission fixes the approval steps and opens a new round; its number."""
    case.approval_steps = steps
    case.approval_round += 1
    return case.approval_round


def settle(
    s: Session, case: Case, *, approved_at: datetime, target: date, due: date, expedite: bool
) -> None:
    """R5: the last approval fixes the turnaround dates."""
    case.approved_at = approved_at
    case.target_date = target
    case.due_date = due
    case.expedite = expedite


def add_approval(
    s: Session,
    case: Case,
    *,
    step: str,
    user_id: int | None,
    actor: str,
    approved: bool,
    reason: str,
    at: datetime,
) -> Approval:
    row = Approval(
        case_id=case.id,
        round=case.approval_round,
        step=step,
        user_id=user_id,
        actor=actor,
        approved=approved,
        reason=reason,
        at=at,
    )
    s.add(row)
    return row


def add_comment(
    s: Session, case: Case, *, actor: str, body: str, at: datetime, touch: bool = True
) -> Comment:
    """A comment on the case (``touch``: the case counts as updated now)."""
    row = Comment(case_id=case.id, actor=actor, body=body, at=at)
    s.add(row)
    if touch:
        case.updated_at = at
    s.flush()
    return row


def touch(case: Case, at: datetime) -> None:
    """Something happened on ``case`` that changes no column of its own (a window action)."""
    case.updated_at = at


def mark_delivered(case: Case, *, at: datetime, window_ends_at: datetime) -> None:
    case.delivered_at = at
    case.window_ends_at = window_ends_at


def mark_closed(case: Case, at: datetime) -> None:
    case.closed_at = at


def set_renewal_requested(case: Case, day: date | None, at: datetime) -> date | None:
    """Record the customer's earlier renewal date on delivered ``case`` (R6; None withdraws
    it); returns the date it replaces."""
    before = case.renewal_requested
    case.renewal_requested = day
    case.updated_at = at
    return before


# --- the lease of a fulfilment or R8 reissue ----------------------------------------------


@dataclass(frozen=True)
class Lease:
    holder: str  # the process (signer identity) working the case
    actor: str  # on whose behalf
    until: datetime


def lease_of(case: Case) -> Lease | None:
    if case.lease_holder is None or case.lease_until is None:
        return None
    return Lease(case.lease_holder, case.lease_actor or "", case.lease_until)


def set_lease(case: Case, lease: Lease | None) -> None:
    """Write ``lease`` on ``case`` (locked by the caller); None clears it."""
    case.lease_holder = lease.holder if lease else None
    case.lease_actor = lease.actor if lease else None
    case.lease_until = lease.until if lease else None


def unfinished_case_about(
    s: Session, cert_id: int, case_type: str, finished: Sequence[str]
) -> str | None:
    """The number of a ``case_type`` case about ``cert_id`` not in a ``finished`` state."""
    return s.scalars(
        select(Case.number).where(
            Case.target_cert_id == cert_id,
            Case.type == case_type,
            Case.state.not_in(list(finished)),
        )
    ).first()


@dataclass(frozen=True)
class CaseQuery:
    org_id: int | None = None
    state: str | None = None
    type: str | None = None
    # Overdue (R5): still to be worked (one of ``working_states``) and due before this day.
    due_before: date | None = None
    working_states: tuple[str, ...] = ()
    before_id: int | None = None  # keyset: newest first, strictly older than this id
    limit: int = 100
    # Lower-case substring of the case number, the title or a submittal's names.
    text: str | None = None
    # Cases opened by this person (the work queue's "my cases").
    requester_id: int | None = None


def search(s: Session, q: CaseQuery) -> list[Case]:
    stmt = select(Case)
    if q.org_id is not None:
        stmt = stmt.where(Case.org_id == q.org_id)
    if q.state is not None:
        stmt = stmt.where(Case.state == q.state)
    if q.type is not None:
        stmt = stmt.where(Case.type == q.type)
    if q.due_before is not None:
        stmt = stmt.where(Case.due_date < q.due_before, Case.state.in_(q.working_states))
    if q.before_id is not None:
        stmt = stmt.where(Case.id < q.before_id)
    if q.requester_id is not None:
        stmt = stmt.where(Case.requester_id == q.requester_id)
    if q.text:
        stmt = stmt.where(
            func.lower(Case.number).contains(q.text, autoescape=True)
            | func.lower(Case.title).contains(q.text, autoescape=True)
            | Case.id.in_(
                select(Submittal.case_id).where(Submittal.names.contains(q.text, autoescape=True))
            )
        )
    return list(s.scalars(stmt.order_by(Case.id.desc()).limit(q.limit)))


def awaiting_delivery(s: Session, limit: int = 100) -> list[str]:
    """Numbers of cases in progress whose every submittal without a certificate has an
    issued vendor order (R16): the certificates are stored, the delivery is due."""
    issued = (
        select(VendorOrder.id)
        .where(VendorOrder.submittal_id == Submittal.id, VendorOrder.state == OrderState.ISSUED)
        .exists()
    )
    ready = func.min(sql_case((issued, 1), else_=0))
    rows = s.execute(
        select(Case.number)
        .join(Submittal, Submittal.case_id == Case.id)
        .where(Case.state == State.IN_PROGRESS, Submittal.certificate_id.is_(None))
        .group_by(Case.id, Case.number)
        .having(ready == 1)
        .order_by(Case.id)
        .limit(limit)
    )
    return list(rows.scalars())
