"""The case API (R3, R4, R5, R8): the one place services and adapters ask about a case.

The state machine itself is :mod:`certdesk.core.workflow` (a table). This module answers the
questions asked around it, each in one function:

- who an actor is relative to a case (:func:`parties_of`) and which approval steps they may
  fill (:func:`eligible_steps`);
- whether an event may happen now (:func:`allow`, which returns a checked :class:`Move` that
  the service records without asking again);
- whose approval a decision fills, refusing self-approval and double votes
  (:func:`decide_approval`, R4);
- what a case of each type carries (R3: :func:`check_shape`, :func:`check_complete`, …);
- which actions the console and CLI offer a viewer (:func:`offers`): they ask the same
  functions the services call, so a button is shown exactly when the call can succeed
  (the service still decides every call).

Pure: no clock, no database.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from certdesk.core.access import Action, Actor, Role
from certdesk.core.workflow import (
    CERTIFICATE_TYPES,
    SUBMITTAL_REQUIRED,
    CaseType,
    Decision,
    Event,
    Party,
    State,
    Step,
    outstanding,
    transition,
)
from certdesk.errors import CertdeskError, Conflict, Forbidden, InvalidInput

# R3: which case types carry what. Submittals describe certificates to issue; a revocation,
# deletion or change names the certificate it is about (a renewal may); a delegated
# administrator set-up carries grants and people instead.
TAKES_SUBMITTALS = SUBMITTAL_REQUIRED
NEEDS_TARGET = frozenset({CaseType.REVOKE, CaseType.DELETE, CaseType.CHANGE})
MAY_TARGET = NEEDS_TARGET | {CaseType.RENEWAL}
REVOKES = frozenset({CaseType.REVOKE, CaseType.DELETE})
MAX_SUBMITTALS = 50
# R4: questions are answered by cert services straight from ``submitted``; they are never
# routed to approval, so no policy applies to them.
UNROUTED_TYPES = frozenset({CaseType.QUESTION})
# R5: a case is overdue while cert services still has to deliver it.
WORKING_STATES = (State.APPROVED, State.IN_PROGRESS)
SYSTEM_PARTIES = frozenset({Party.SYSTEM})


@dataclass(frozen=True)
class CaseFacts:
    """What the rules need to know about one case."""

    state: State
    type: CaseType
    org_id: int
    requester_id: int | None = None
    opened_by: str = ""


# --- who is acting ----------------------------------------------------------------------------


def parties_of(actor: Actor, org_id: int) -> frozenset[Party]:
    """Who ``actor`` is relative to a case of organization ``org_id``."""
    parties: set[Party] = set()
    if actor.has(Role.OPERATOR):
        parties.add(Party.OPERATOR)
    if actor.org_id == org_id:
        # A delegated administrator opens cases for its organization like a requester.
        if actor.has(Role.REQUESTER) or actor.has(Role.DELEGATED_ADMIN):
            parties.add(Party.REQUESTER)
        if actor.has(Role.APPROVER):
            parties.add(Party.APPROVER)
    return frozenset(parties)


def eligible_steps(actor: Actor, org_id: int) -> frozenset[Step]:
    """R4: an agency approver fills ``org_approver``, cert services fills ``operator``."""
    steps: set[Step] = set()
    if actor.has(Role.APPROVER) and actor.org_id == org_id:
        steps.add(Step.ORG_APPROVER)
    if actor.has(Role.OPERATOR):
        steps.add(Step.OPERATOR)
    return frozenset(steps)


# --- may this happen now ----------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    """An event the state machine allowed: checked once, then recorded as it is."""

    event: Event
    source: State
    target: State | None  # None: the service decides (route, approve, edit)

    def outcome(self, decided: State | None = None) -> State:
        """The state after the move: the machine's, else the service's, else unchanged."""
        return self.target or decided or self.source


def allow(case: CaseFacts, event: Event, actor: Actor | None) -> Move:
    """Ask the state machine whether ``actor`` (None: the system) may cause ``event`` now.

    Raises ``Conflict`` (the state or type does not allow it) before ``Forbidden`` (the
    actor is not a party that may), as :func:`certdesk.core.workflow.transition` does.
    """
    parties = SYSTEM_PARTIES if actor is None else parties_of(actor, case.org_id)
    return Move(event, case.state, transition(case.state, event, parties, case.type))


def may(case: CaseFacts, event: Event, actor: Actor | None) -> bool:
    """Whether :func:`allow` would let ``event`` happen (for showing or hiding an action)."""
    try:
        allow(case, event, actor)
    except CertdeskError:
        return False
    return True


# --- R4: approval by every party --------------------------------------------------------------


def own_request(case: CaseFacts, actor: Actor) -> bool:
    """R4: nobody decides on their own request. People are compared by user id; tokens and
    the local CLI, which carry none, by the name that opened the case."""
    return (
        actor.user_id is not None and actor.user_id == case.requester_id
    ) or actor.name == case.opened_by


def already_decided(decisions: Iterable[Decision], actor: Actor) -> bool:
    """R4: one person, one decision per round (by name, and by user id when there is one)."""
    return any(
        d.actor == actor.name or (actor.user_id is not None and d.user_id == actor.user_id)
        for d in decisions
    )


def open_steps(
    steps: Sequence[Step], decisions: Sequence[Decision], eligible: Collection[Step]
) -> tuple[Step, ...]:
    """The outstanding steps of this round that ``eligible`` steps may fill, in order."""
    return tuple(s for s in outstanding(steps, decisions) if s in eligible)


def decide_approval(
    case: CaseFacts,
    actor: Actor,
    event: Event,
    steps: Sequence[Step],
    decisions: Sequence[Decision],
) -> tuple[Move, Step]:
    """Check that ``actor`` may approve or reject now (R4) and return the move and the step
    the decision fills. ``decisions`` are the current round's. Raises before anything is
    written: the state (409), the party (403), self-approval (403), a second vote (409), no
    outstanding step of theirs (403)."""
    if event not in (Event.APPROVE, Event.REJECT):
        raise ValueError(f"{event} is not a decision")
    move = allow(case, event, actor)
    if own_request(case, actor):
        raise Forbidden("case.self_approval", "nobody approves their own request (R4)")
    if already_decided(decisions, actor):
        raise Conflict("case.already_decided", "you have already decided on this case")
    mine = open_steps(steps, decisions, eligible_steps(actor, case.org_id))
    if not mine:
        raise Forbidden(
            "case.not_an_approver", "no outstanding approval on this case is yours to give"
        )
    return move, mine[0]


# --- R3: what a case carries ------------------------------------------------------------------


def check_shape(kind: CaseType, *, submittals: int, target: bool, delegated: bool) -> None:
    """What a new case of ``kind`` may carry (R3); asked before the database is touched.

    ``submittals`` is how many it brings, ``target`` whether it names a certificate,
    ``delegated`` whether it carries grants or administrators.
    """
    if submittals:
        require_takes_submittals(kind)
    if submittals > MAX_SUBMITTALS:
        raise InvalidInput("case.submittals", f"a case carries at most {MAX_SUBMITTALS} submittals")
    if kind in NEEDS_TARGET and not target:
        raise InvalidInput(
            "case.target", f"a {kind} case names the certificate it is about (its serial)"
        )
    if target:
        require_may_target(kind)
    if delegated:
        require_delegated(kind)


def require_takes_submittals(kind: CaseType) -> None:
    """R3: only certificate cases carry Security Certificate Submittals."""
    if kind not in TAKES_SUBMITTALS:
        raise InvalidInput("case.submittal", f"a {kind} case carries no submittal")


def require_room_for_submittal(kind: CaseType, count: int) -> None:
    """R3: a submittal may be added to a case of ``kind`` that carries ``count`` already."""
    require_takes_submittals(kind)
    if count >= MAX_SUBMITTALS:
        raise Conflict("case.submittals", f"a case carries at most {MAX_SUBMITTALS} submittals")


def require_may_target(kind: CaseType) -> None:
    if kind not in MAY_TARGET:
        raise InvalidInput("case.target", f"a {kind} case names no certificate")


def require_delegated(kind: CaseType) -> None:
    if kind is not CaseType.DELEGATED_ADMIN_SETUP:
        raise InvalidInput(
            "case.delegated_admin",
            "grants and administrators belong on a delegated_admin_setup case",
        )


def check_complete(
    kind: CaseType,
    *,
    submittals: int,
    without_csr: Sequence[int],
    target: bool,
    setup_complete: bool,
) -> None:
    """What must be on a case before it is handed in (R3).

    ``without_csr`` lists the ids of submittals that carry no CSR; ``setup_complete``
    whether a delegated administrator set-up names a grant and an administrator.
    """
    if kind in SUBMITTAL_REQUIRED and not submittals:
        raise InvalidInput(
            "case.no_submittal",
            f"a {kind} case needs at least one Security Certificate Submittal before it is"
            " submitted (R3)",
        )
    if kind is CaseType.CSR and without_csr:
        raise InvalidInput(
            "case.csr_missing",
            "a csr case carries the agency's CSR on every submittal; submittal"
            f" {', '.join(map(str, without_csr))} has none",
        )
    if kind in NEEDS_TARGET and not target:
        raise InvalidInput("case.target", f"a {kind} case names the certificate it is about")
    if kind is CaseType.DELEGATED_ADMIN_SETUP and not setup_complete:
        raise InvalidInput(
            "case.delegated_admin",
            "a delegated administrator set-up needs at least one grant (zone: or host:)"
            " and one administrator before it is submitted",
        )


# --- what to offer ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Offered:
    """The actions a viewer is offered on a case (the service still decides each one)."""

    edit: bool = False
    submit: bool = False
    cancel: bool = False
    comment: bool = False
    decide: bool = False  # approve or reject (R4)
    own_request: bool = False  # pending, and the viewer opened it: another person decides
    start: bool = False
    fulfil: bool = False
    complete: bool = False
    close: bool = False
    window: bool = False  # R8: revoke or reissue inside the window
    keys: bool = False  # R12: download a generated key
    renew: bool = False
    # What the case's type carries (R3), for the forms that change it.
    takes_submittals: bool = False
    may_target: bool = False
    delegated: bool = False
    revokes: bool = False
    question: bool = False


def offers(
    actor: Actor,
    case: CaseFacts,
    *,
    steps: Sequence[Step] = (),
    decisions: Sequence[Decision] = (),
    window_open: bool = False,
) -> Offered:
    """What ``actor`` is offered on ``case``: each action is asked of the same rules the
    service applies (``decisions`` are the current round's; ``window_open`` is R8's answer
    for the case's delivery)."""
    opener = actor.may(Action.CASE_OPEN)
    worker = actor.may(Action.CASE_WORK)
    may_decide = (
        may(case, Event.APPROVE, actor)
        and actor.may(Action.CASE_APPROVE)
        and not already_decided(decisions, actor)
        and bool(open_steps(steps, decisions, eligible_steps(actor, case.org_id)))
    )
    own = own_request(case, actor)
    kind = case.type
    return Offered(
        edit=opener and may(case, Event.EDIT, actor),
        submit=opener and may(case, Event.SUBMIT, actor),
        cancel=opener and may(case, Event.CANCEL, actor),
        comment=actor.may(Action.CASE_COMMENT),
        decide=may_decide and not own,
        own_request=may_decide and own,
        start=worker and may(case, Event.START, actor),
        fulfil=worker and may(case, Event.FULFIL, actor),
        complete=worker and may(case, Event.COMPLETE, actor),
        close=opener and may(case, Event.CLOSE, actor),
        window=opener and window_open and kind in CERTIFICATE_TYPES,
        keys=opener and case.state in (State.DELIVERED, State.CLOSED),
        renew=opener,
        takes_submittals=kind in TAKES_SUBMITTALS,
        may_target=kind in MAY_TARGET,
        delegated=kind is CaseType.DELEGATED_ADMIN_SETUP,
        revokes=kind in REVOKES,
        question=kind is CaseType.QUESTION,
    )
