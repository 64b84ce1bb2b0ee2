"""The case state machine (R3, R4, R8): which event may move a case, from where, by whom.

A case moves ``draft → submitted → pending_approval → approved → in_progress → delivered →
closed``; ``rejected`` (revise and resubmit) and ``cancelled`` branch off. Cases that deliver no
certificate (revocation, deletion, question, delegated-administrator set-up) end in
``closed`` through ``complete`` instead of ``delivered``.

Pure: nothing here reads a clock or a database. Services and adapters ask through
:mod:`certdesk.core.cases` (who the parties are, :func:`~certdesk.core.cases.allow`, the R4
decision, the R3 shapes, what to offer), which builds on this table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from certdesk.core.wall_clock import pacific_time
from certdesk.errors import Conflict, Forbidden, InvalidInput


class CaseType(StrEnum):
    NEW = "new"
    RENEWAL = "renewal"
    CHANGE = "change"
    REVOKE = "revoke"
    DELETE = "delete"
    CSR = "csr"  # the agency supplies CSR files
    QUESTION = "question"
    DELEGATED_ADMIN_SETUP = "delegated_admin_setup"


# Cases whose fulfilment is a certificate the agency receives (R8's window applies).
CERTIFICATE_TYPES = frozenset({CaseType.NEW, CaseType.RENEWAL, CaseType.CHANGE, CaseType.CSR})
# R3: new certificates and renewals need a Security Certificate Submittal.
SUBMITTAL_REQUIRED = frozenset({CaseType.NEW, CaseType.RENEWAL, CaseType.CSR, CaseType.CHANGE})


class State(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    IN_PROGRESS = "in_progress"
    DELIVERED = "delivered"
    CLOSED = "closed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


OPEN_STATES = frozenset(
    {
        State.DRAFT,
        State.SUBMITTED,
        State.PENDING_APPROVAL,
        State.APPROVED,
        State.IN_PROGRESS,
        State.REJECTED,
    }
)


class Event(StrEnum):
    EDIT = "edit"  # change the request or its submittals
    SUBMIT = "submit"  # requester hands the case in (or resubmits after a rejection)
    ROUTE = "route"  # system: to approval, or straight to work when nobody must approve
    APPROVE = "approve"
    REJECT = "reject"
    START = "start"  # cert services picks the case up
    FULFIL = "fulfil"  # certificates issued and delivered
    COMPLETE = "complete"  # a case without certificate delivery is done
    CLOSE = "close"  # a delivered case is closed (by a person or when the window ends)
    CANCEL = "cancel"


class Party(StrEnum):
    """Who is acting, relative to the case."""

    REQUESTER = "requester"  # a requester of the case's organization
    APPROVER = "approver"  # an approver of the case's organization
    OPERATOR = "operator"  # cert services
    SYSTEM = "system"  # the service itself (routing, window end)


_R, _A, _O, _S = Party.REQUESTER, Party.APPROVER, Party.OPERATOR, Party.SYSTEM


@dataclass(frozen=True)
class Rule:
    source: frozenset[State]
    parties: frozenset[Party]
    target: State | None  # None: decided by the service (routing, approval outcome)
    note: str


def _rule(
    source: Iterable[State], parties: Iterable[Party], target: State | None, note: str
) -> Rule:
    return Rule(frozenset(source), frozenset(parties), target, note)


RULES: dict[Event, Rule] = {
    Event.EDIT: _rule(
        {State.DRAFT, State.REJECTED},
        {_R, _O},
        None,
        "only a draft or a rejected case can be revised",
    ),
    Event.SUBMIT: _rule(
        {State.DRAFT, State.REJECTED},
        {_R, _O},
        State.SUBMITTED,
        "only a draft or a rejected case can be submitted",
    ),
    Event.ROUTE: _rule({State.SUBMITTED}, {_S}, None, "only a submitted case is routed"),
    Event.APPROVE: _rule(
        {State.PENDING_APPROVAL}, {_A, _O}, None, "only a case pending approval can be approved"
    ),
    Event.REJECT: _rule(
        {State.PENDING_APPROVAL},
        {_A, _O},
        State.REJECTED,
        "only a case pending approval can be rejected",
    ),
    Event.START: _rule(
        {State.APPROVED}, {_O}, State.IN_PROGRESS, "only an approved case can be started"
    ),
    Event.FULFIL: _rule(
        {State.APPROVED, State.IN_PROGRESS},
        {_O},
        State.DELIVERED,
        "only an approved or in-progress case can be fulfilled",
    ),
    Event.COMPLETE: _rule(
        {State.APPROVED, State.IN_PROGRESS, State.SUBMITTED},
        {_O, _S},
        State.CLOSED,
        "only an approved or in-progress case can be completed",
    ),
    Event.CLOSE: _rule(
        {State.DELIVERED}, {_R, _O, _S}, State.CLOSED, "only a delivered case can be closed"
    ),
    Event.CANCEL: _rule(
        {State.DRAFT, State.SUBMITTED, State.PENDING_APPROVAL, State.REJECTED, State.APPROVED},
        {_R, _O},
        State.CANCELLED,
        "a case can be cancelled until work on it has started",
    ),
}


def transition(
    state: State, event: Event, parties: Iterable[Party], case_type: CaseType
) -> State | None:
    """The state after ``event``, or None when the service decides it (route, approve).

    Raises :class:`Conflict` when the case's state does not allow the event and
    :class:`Forbidden` when none of ``parties`` may cause it.
    """
    rule = RULES[event]
    if state not in rule.source:
        raise Conflict("case.state", f"cannot {event} a case that is {state}: {rule.note}")
    if not rule.parties & frozenset(parties):
        raise Forbidden(
            "case.party",
            f"{', '.join(sorted(rule.parties))} may {event} a case;"
            " you are not one of them for this case",
        )
    if event is Event.FULFIL and case_type not in CERTIFICATE_TYPES:
        raise Conflict("case.type", f"a {case_type} case delivers no certificate; complete it")
    if event is Event.COMPLETE and case_type in CERTIFICATE_TYPES:
        raise Conflict("case.type", f"a {case_type} case is finished by fulfilling it")
    if event is Event.COMPLETE and state is State.SUBMITTED and case_type is not CaseType.QUESTION:
        raise Conflict("case.state", "only a question can be answered straight after submission")
    return rule.target


# --- R4: approval by all parties -------------------------------------------------------


class Step(StrEnum):
    """A required approval."""

    ORG_APPROVER = "org_approver"  # an approver of the requesting organization
    OPERATOR = "operator"  # cert services


DEFAULT_STEPS: tuple[Step, ...] = (Step.ORG_APPROVER, Step.OPERATOR)


def parse_steps(text: str) -> tuple[Step, ...]:
    """``org_approver,operator`` → steps; empty text means no approval is needed."""
    steps: list[Step] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            step = Step(part)
        except ValueError:
            raise InvalidInput(
                "approval.step", f"unknown approval step {part!r}; use org_approver and/or operator"
            ) from None
        if step not in steps:
            steps.append(step)
    return tuple(steps)


@dataclass(frozen=True)
class Decision:
    """One recorded approval or rejection of the current round."""

    step: Step
    approved: bool
    user_id: int | None
    actor: str = ""  # the name that decided (tokens and the local CLI have no user id)


def route_target(steps: Sequence[Step]) -> State:
    """Where a submitted case goes: to approval, or straight to approved when none is due."""
    return State.PENDING_APPROVAL if steps else State.APPROVED


def outstanding(steps: Sequence[Step], decisions: Sequence[Decision]) -> tuple[Step, ...]:
    """Required steps without an approval in the current round."""
    done = {d.step for d in decisions if d.approved}
    return tuple(s for s in steps if s not in done)


def after_approval(steps: Sequence[Step], decisions: Sequence[Decision]) -> State:
    """R4: approved only when every required step has approved."""
    return State.PENDING_APPROVAL if outstanding(steps, decisions) else State.APPROVED


# --- R8: the 25-day window ----------------------------------------------------------------

WINDOW_DAYS = 25


def window_ends_at(delivered_at: datetime, days: int = WINDOW_DAYS) -> datetime:
    """R8: 25 calendar days after delivery (the same time of day)."""
    return delivered_at + timedelta(days=days)


def window_open(window_end: datetime | None, now: datetime) -> bool:
    """R8: whether ``now`` is inside a delivered case's window."""
    return window_end is not None and now < window_end


def retire_at(
    window_end: datetime | None, now: datetime, overlap_hours: int | None
) -> datetime | None:
    """R8 (issue 14): when the certificate an in-window reissue replaced is revoked.

    The old certificate may still be installed when its replacement is issued; revoking it
    at once would be an outage. It stays valid for ``overlap_hours`` (None: until the case's
    window closes, at least an hour), then the worker revokes it. ``0`` revokes at once
    (None is returned: nothing to schedule).
    """
    if overlap_hours == 0:
        return None
    if overlap_hours is None:
        return max(window_end or now, now + timedelta(hours=1))
    return now + timedelta(hours=overlap_hours)


def require_window_open(window_end: datetime | None, now: datetime, action: str) -> None:
    """Raise unless ``now`` is inside the case's window (R8)."""
    if window_end is None:
        raise Conflict("case.not_delivered", f"cannot {action}: nothing was delivered yet")
    if not window_open(window_end, now):
        raise Conflict(
            "case.window_closed",
            f"the window of this case for testing, revocation or changes closed on "
            f"{pacific_time(window_end)}; "
            f"to {action}, open a new case (R8)",
        )
