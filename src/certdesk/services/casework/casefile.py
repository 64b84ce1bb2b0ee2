"""The case file: what every case service shares — finding a case for an actor, recording its
history, and the views that show it (R3, R4, R5).

A case of another organization is reported exactly like an unknown case (404), so an agency
cannot learn that another agency's case exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from certdesk.core.access import Action, Actor, authorize, sees_org
from certdesk.core.calendar import is_overdue
from certdesk.core.cases import WORKING_STATES, CaseFacts, Move, allow
from certdesk.core.workflow import (
    CaseType,
    Decision,
    Event,
    State,
    Step,
    outstanding,
    parse_steps,
)
from certdesk.errors import NotFound
from certdesk.services.casework.submittals import SubmittalView, submittal_view
from certdesk.services.runtime import Runtime
from certdesk.store import cases as case_store
from certdesk.store import certificates as cert_store
from certdesk.store import issuers as issuer_store
from certdesk.store import orgs as org_store
from certdesk.store import submittals as submittal_store
from certdesk.store.models import Approval, Case

_NUMBER = re.compile(r"^CS-[0-9]{4}-[0-9]{6,9}$")
SYSTEM_ACTOR = "system"


def iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def normalize_number(text: str) -> str:
    return text.strip().upper()


def load_case(
    s: Session, actor: Actor, number: str, action: Action, *, for_update: bool = False
) -> Case:
    """The case ``number`` if ``actor`` may ``action`` it; 404 when unknown or not visible."""
    wanted = normalize_number(number)
    row = case_store.by_number(s, wanted, for_update=for_update) if _NUMBER.match(wanted) else None
    if row is None or not sees_org(actor, row.org_id):
        raise NotFound("case.unknown", f"no case {number.strip()!r}")
    authorize(actor, action, row.org_id, hide=True)
    return row


def facts_of(case: Case) -> CaseFacts:
    """What :mod:`certdesk.core.cases` needs to know about ``case``."""
    return CaseFacts(
        state=State(case.state),
        type=CaseType(case.type),
        org_id=case.org_id,
        requester_id=case.requester_id,
        opened_by=case.opened_by,
    )


def record(
    s: Session,
    case: Case,
    move: Move,
    actor: Actor | str,
    now: datetime,
    *,
    target: State | None = None,
    note: str = "",
    closed: bool = False,
) -> State:
    """Record a move :func:`certdesk.core.cases.allow` checked (asked once, at the start of
    the command) in the case's history; ``target`` is the service's decision for the events
    whose outcome the machine leaves open (route, approve, edit)."""
    if case.state != move.source:
        raise AssertionError(f"case {case.number} moved from {move.source} meanwhile")
    new_state = move.outcome(target)
    name = actor if isinstance(actor, str) else actor.name
    case_store.move(
        s, case, new_state, at=now, actor=name, event=str(move.event), note=note, closed=closed
    )
    return new_state


def apply_event(
    s: Session,
    case: Case,
    actor: Actor | str,
    event: Event,
    now: datetime,
    *,
    target: State | None = None,
    note: str = "",
    closed: bool = False,
) -> State:
    """Ask and record in one step, for a command whose first check is the move itself:
    :func:`certdesk.core.cases.allow` as ``actor`` (a string: the system), then
    :func:`record`. Raises ``Conflict``/``Forbidden`` before anything changes."""
    move = allow(facts_of(case), event, None if isinstance(actor, str) else actor)
    return record(s, case, move, actor, now, target=target, note=note, closed=closed)


def decisions(rows: list[Approval]) -> list[Decision]:
    return [Decision(Step(r.step), r.approved, r.user_id, r.actor) for r in rows]


# --- views ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseSummary:
    number: str
    org_code: str
    type: str
    state: State
    title: str
    opened_by: str
    created_at: datetime
    updated_at: datetime
    requested_delivery: date | None
    target_date: date | None
    due_date: date | None
    expedite: bool
    overdue: bool
    submittals: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "organization": self.org_code,
            "type": self.type,
            "state": self.state,
            "title": self.title,
            "opened_by": self.opened_by,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "requested_delivery": iso(self.requested_delivery),
            "target_date": iso(self.target_date),
            "due_date": iso(self.due_date),
            "expedite": self.expedite,
            "overdue": self.overdue,
            "submittals": self.submittals,
        }


@dataclass(frozen=True)
class CaseView:
    summary: CaseSummary
    org_id: int
    description: str
    requester_id: int | None
    target_serial: str | None
    approval_steps: tuple[str, ...]
    approval_round: int
    outstanding: tuple[str, ...]
    approved_at: datetime | None
    delivered_at: datetime | None
    window_ends_at: datetime | None
    closed_at: datetime | None
    delegated_setup: dict[str, Any] | None  # what a delegated_admin_setup case creates
    submittals: tuple[SubmittalView, ...]
    approvals: tuple[dict[str, Any], ...]
    comments: tuple[dict[str, Any], ...]
    history: tuple[dict[str, Any], ...]

    @property
    def number(self) -> str:
        return self.summary.number

    @property
    def state(self) -> State:
        return self.summary.state

    @property
    def facts(self) -> CaseFacts:
        """The case as :mod:`certdesk.core.cases` asks about it (what to offer a viewer)."""
        return CaseFacts(
            state=self.summary.state,
            type=CaseType(self.summary.type),
            org_id=self.org_id,
            requester_id=self.requester_id,
            opened_by=self.summary.opened_by,
        )

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(Step(st) for st in self.approval_steps)

    @property
    def current_decisions(self) -> tuple[Decision, ...]:
        """This approval round's decisions (R4)."""
        return tuple(
            Decision(Step(a["step"]), a["decision"] == "approved", a["user_id"], a["actor"])
            for a in self.approvals
            if a["round"] == self.approval_round
        )

    def as_dict(self) -> dict[str, Any]:
        out = self.summary.as_dict()
        out.update(
            {
                "description": self.description,
                "requester_id": self.requester_id,
                "target_certificate": self.target_serial,
                "approval": {
                    "steps": list(self.approval_steps),
                    "round": self.approval_round,
                    "outstanding": list(self.outstanding),
                },
                "approved_at": iso(self.approved_at),
                "delivered_at": iso(self.delivered_at),
                "window_ends_at": iso(self.window_ends_at),
                "closed_at": iso(self.closed_at),
                "delegated_admin": self.delegated_setup,
                "submittals": [sub.as_dict() for sub in self.submittals],
                "approvals": list(self.approvals),
                "comments": list(self.comments),
                "history": list(self.history),
            }
        )
        return out


def summary_of(case: Case, org_code: str, now: datetime, submittals: int) -> CaseSummary:
    overdue = (
        case.due_date is not None
        and case.state in WORKING_STATES
        and is_overdue(case.due_date, now, delivered=False)
    )
    return CaseSummary(
        number=case.number,
        org_code=org_code,
        type=case.type,
        state=case.state,
        title=case.title,
        opened_by=case.opened_by,
        created_at=case.created_at,
        updated_at=case.updated_at,
        requested_delivery=case.requested_delivery,
        target_date=case.target_date,
        due_date=case.due_date,
        expedite=case.expedite,
        overdue=overdue,
        submittals=submittals,
    )


def _serial(s: Session, cert_id: int | None) -> str | None:
    if cert_id is None:
        return None
    row = cert_store.by_id(s, cert_id)
    return row.serial if row else None


def case_view(s: Session, case: Case, now: datetime) -> CaseView:
    """Everything about one case, read inside ``s``."""
    org = org_store.by_id(s, case.org_id)
    subs = submittal_store.submittals_of(s, case.id)
    contacts = submittal_store.contacts_of_submittals(s, [sub.id for sub in subs])
    orders = issuer_store.latest_orders(s, [sub.id for sub in subs])
    all_approvals = case_store.approvals_of(s, case.id)
    steps = parse_steps(case.approval_steps)
    current = [a for a in all_approvals if a.round == case.approval_round]
    pending = outstanding(steps, decisions(current)) if case.state == State.PENDING_APPROVAL else ()
    return CaseView(
        summary=summary_of(case, org.code if org else "?", now, len(subs)),
        org_id=case.org_id,
        description=case.description,
        requester_id=case.requester_id,
        target_serial=_serial(s, case.target_cert_id),
        approval_steps=tuple(str(st) for st in steps),
        approval_round=case.approval_round,
        outstanding=tuple(str(st) for st in pending),
        approved_at=case.approved_at,
        delivered_at=case.delivered_at,
        window_ends_at=case.window_ends_at,
        closed_at=case.closed_at,
        delegated_setup=case.delegated_setup,
        submittals=tuple(
            submittal_view(
                sub,
                contacts[sub.id],
                case.number,
                _serial(s, sub.certificate_id),
                orders.get(sub.id),
            )
            for sub in subs
        ),
        approvals=tuple(
            {
                "round": a.round,
                "step": a.step,
                "decision": "approved" if a.approved else "rejected",
                "actor": a.actor,
                "user_id": a.user_id,
                "reason": a.reason,
                "at": iso(a.at),
            }
            for a in all_approvals
        ),
        comments=tuple(
            {"id": c.id, "actor": c.actor, "text": c.body, "at": iso(c.at)}
            for c in case_store.comments_of(s, case.id)
        ),
        history=tuple(
            {
                "at": iso(e.at),
                "actor": e.actor,
                "event": e.event,
                "from": e.from_state,
                "to": e.to_state,
                "note": e.note,
            }
            for e in case_store.events_of(s, case.id)
        ),
    )


def committed_view(rt: Runtime, number: str, now: datetime) -> CaseView:
    """The case as its write transaction committed it, built in a read transaction after it
    so that the view's reads do not run inside the write lock."""
    with rt.reads() as s:
        case = case_store.by_number(s, number)
        assert case is not None  # committed a moment ago; cases are never deleted
        return case_view(s, case, now)
