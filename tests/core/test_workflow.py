"""The case state machine (R3, R4, R8): every (state, event, party) cell, and its invariants."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certdesk.core.cases import open_steps
from certdesk.core.workflow import (
    CERTIFICATE_TYPES,
    DEFAULT_STEPS,
    RULES,
    CaseType,
    Decision,
    Event,
    Party,
    State,
    Step,
    after_approval,
    parse_steps,
    require_window_open,
    route_target,
    transition,
    window_ends_at,
)
from certdesk.errors import Conflict, Forbidden, InvalidInput

S, E, P = State, Event, Party

# The expected machine, written out independently of RULES: (event) -> (sources, parties,
# target). A change to RULES that is not mirrored here fails the matrix below.
EXPECTED: dict[Event, tuple[set[State], set[Party], State | None]] = {
    E.EDIT: ({S.DRAFT, S.REJECTED}, {P.REQUESTER, P.OPERATOR}, None),
    E.SUBMIT: ({S.DRAFT, S.REJECTED}, {P.REQUESTER, P.OPERATOR}, S.SUBMITTED),
    E.ROUTE: ({S.SUBMITTED}, {P.SYSTEM}, None),
    E.APPROVE: ({S.PENDING_APPROVAL}, {P.APPROVER, P.OPERATOR}, None),
    E.REJECT: ({S.PENDING_APPROVAL}, {P.APPROVER, P.OPERATOR}, S.REJECTED),
    E.START: ({S.APPROVED}, {P.OPERATOR}, S.IN_PROGRESS),
    E.FULFIL: ({S.APPROVED, S.IN_PROGRESS}, {P.OPERATOR}, S.DELIVERED),
    E.COMPLETE: ({S.APPROVED, S.IN_PROGRESS, S.SUBMITTED}, {P.OPERATOR, P.SYSTEM}, S.CLOSED),
    E.CLOSE: ({S.DELIVERED}, {P.REQUESTER, P.OPERATOR, P.SYSTEM}, S.CLOSED),
    E.CANCEL: (
        {S.DRAFT, S.SUBMITTED, S.PENDING_APPROVAL, S.REJECTED, S.APPROVED},
        {P.REQUESTER, P.OPERATOR},
        S.CANCELLED,
    ),
}


def _case_type_for(event: Event, state: State) -> CaseType:
    if event is E.COMPLETE:
        return CaseType.QUESTION
    return CaseType.NEW


CELLS = [
    pytest.param(state, event, party, id=f"workflow/{event}/{state}/{party}")
    for event, state, party in itertools.product(Event, State, Party)
]


@pytest.mark.parametrize(("state", "event", "party"), CELLS)
def test_every_transition_allowed_or_refused(state: State, event: Event, party: Party) -> None:
    sources, parties, target = EXPECTED[event]
    case_type = _case_type_for(event, state)
    if state not in sources:
        with pytest.raises(Conflict):
            transition(state, event, [party], case_type)
    elif party not in parties:
        with pytest.raises(Forbidden):
            transition(state, event, [party], case_type)
    else:
        assert transition(state, event, [party], case_type) == target


def test_expected_table_covers_every_event() -> None:
    assert set(EXPECTED) == set(RULES) == set(Event)


@pytest.mark.parametrize(
    ("event", "case_type", "ok"),
    [
        pytest.param(E.FULFIL, CaseType.NEW, True, id="R3/fulfil/new"),
        pytest.param(E.FULFIL, CaseType.RENEWAL, True, id="R3/fulfil/renewal"),
        pytest.param(E.FULFIL, CaseType.CSR, True, id="R3/fulfil/csr"),
        pytest.param(E.FULFIL, CaseType.CHANGE, True, id="R3/fulfil/change"),
        pytest.param(E.FULFIL, CaseType.REVOKE, False, id="R3/fulfil/revoke-refused"),
        pytest.param(E.FULFIL, CaseType.QUESTION, False, id="R3/fulfil/question-refused"),
        pytest.param(E.COMPLETE, CaseType.REVOKE, True, id="R3/complete/revoke"),
        pytest.param(E.COMPLETE, CaseType.DELETE, True, id="R3/complete/delete"),
        pytest.param(E.COMPLETE, CaseType.DELEGATED_ADMIN_SETUP, True, id="R3/complete/da"),
        pytest.param(E.COMPLETE, CaseType.NEW, False, id="R3/complete/new-refused"),
    ],
)
def test_fulfil_is_for_certificate_cases_complete_for_the_rest(
    event: Event, case_type: CaseType, ok: bool
) -> None:
    if ok:
        assert transition(S.IN_PROGRESS, event, [P.OPERATOR], case_type) is not None
    else:
        with pytest.raises(Conflict):
            transition(S.IN_PROGRESS, event, [P.OPERATOR], case_type)


def test_only_a_question_is_answered_straight_after_submission() -> None:
    assert transition(S.SUBMITTED, E.COMPLETE, [P.OPERATOR], CaseType.QUESTION) is S.CLOSED
    with pytest.raises(Conflict):
        transition(S.SUBMITTED, E.COMPLETE, [P.OPERATOR], CaseType.REVOKE)


# --- R4 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "decisions", "expected"),
    [
        pytest.param(DEFAULT_STEPS, [], S.PENDING_APPROVAL, id="R4/none-yet"),
        pytest.param(
            DEFAULT_STEPS,
            [Decision(Step.ORG_APPROVER, True, 1)],
            S.PENDING_APPROVAL,
            id="R4/agency-only",
        ),
        pytest.param(
            DEFAULT_STEPS,
            [Decision(Step.OPERATOR, True, 2)],
            S.PENDING_APPROVAL,
            id="R4/operator-only",
        ),
        pytest.param(
            DEFAULT_STEPS,
            [Decision(Step.ORG_APPROVER, True, 1), Decision(Step.OPERATOR, True, 2)],
            S.APPROVED,
            id="R4/both",
        ),
        pytest.param(
            (Step.OPERATOR,),
            [Decision(Step.OPERATOR, True, 2)],
            S.APPROVED,
            id="R4/configured-operator-only",
        ),
    ],
)
def test_approved_only_when_all_parties_approved(
    steps: tuple[Step, ...], decisions: list[Decision], expected: State
) -> None:
    assert after_approval(steps, decisions) is expected


def test_route_target() -> None:
    assert route_target(DEFAULT_STEPS) is S.PENDING_APPROVAL
    assert route_target(()) is S.APPROVED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("org_approver,operator", DEFAULT_STEPS, id="R4/steps/default"),
        pytest.param("operator", (Step.OPERATOR,), id="R4/steps/operator"),
        pytest.param("", (), id="R4/steps/none"),
        pytest.param(" operator , operator ", (Step.OPERATOR,), id="R4/steps/dedupe"),
    ],
)
def test_parse_steps(text: str, expected: tuple[Step, ...]) -> None:
    assert parse_steps(text) == expected


def test_parse_steps_refuses_unknown() -> None:
    with pytest.raises(InvalidInput):
        parse_steps("manager")


# --- R8 ---------------------------------------------------------------------------------

DELIVERED = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("offset", "open_"),
    [
        pytest.param(timedelta(0), True, id="R8/at-delivery"),
        pytest.param(timedelta(days=24, hours=23), True, id="R8/day-24"),
        pytest.param(timedelta(days=25) - timedelta(seconds=1), True, id="R8/last-second"),
        pytest.param(timedelta(days=25), False, id="R8/day-25-closed"),
        pytest.param(timedelta(days=40), False, id="R8/long-after"),
    ],
)
def test_window_is_25_calendar_days(offset: timedelta, open_: bool) -> None:
    end = window_ends_at(DELIVERED)
    if open_:
        require_window_open(end, DELIVERED + offset, "revoke")
    else:
        with pytest.raises(Conflict) as err:
            require_window_open(end, DELIVERED + offset, "revoke")
        assert err.value.code == "case.window_closed"
        assert "new case" in err.value.detail


def test_window_needs_a_delivery() -> None:
    with pytest.raises(Conflict):
        require_window_open(None, DELIVERED, "revoke")


# --- invariants (hypothesis) --------------------------------------------------------------

EVENTS = st.sampled_from(list(Event))
PARTIES = st.sets(st.sampled_from(list(Party)), min_size=1, max_size=2)
TYPES = st.sampled_from(list(CaseType))


def _run(
    case_type: CaseType, steps: tuple[Step, ...], moves: list[tuple[Event, set[Party]]]
) -> tuple[list[State], list[Decision]]:
    """Drive a case with random events the way the service does; return its history."""
    state = S.DRAFT
    history = [state]
    decisions: list[Decision] = []
    for event, parties in moves:
        try:
            target = transition(state, event, parties, case_type)
        except (Conflict, Forbidden):
            continue  # refused: nothing changes
        if event is E.ROUTE:
            target = route_target(steps)
        elif event is E.APPROVE:
            eligible = [Step.OPERATOR] if P.OPERATOR in parties else []
            if P.APPROVER in parties:
                eligible.insert(0, Step.ORG_APPROVER)
            mine = open_steps(steps, decisions, eligible)
            if not mine:
                continue
            step = mine[0]
            decisions.append(Decision(step, True, None))
            target = after_approval(steps, decisions)
        elif event is E.EDIT:
            target = state
        if event in (E.REJECT, E.SUBMIT):
            decisions = []  # a new round of approvals after a rejection (R4)
        assert target is not None
        state = target
        history.append(state)
    return history, decisions


@settings(max_examples=300, deadline=None)
@given(
    TYPES,
    st.sampled_from([DEFAULT_STEPS, (Step.OPERATOR,), ()]),
    st.lists(st.tuples(EVENTS, PARTIES), max_size=25),
)
def test_never_delivered_or_worked_without_every_approval(
    case_type: CaseType, steps: tuple[Step, ...], moves: list[tuple[Event, set[Party]]]
) -> None:
    history, _ = _run(case_type, steps, moves)
    for before, after in itertools.pairwise(history):
        if after in (S.APPROVED,) and before is S.PENDING_APPROVAL:
            continue
        if after in (S.IN_PROGRESS, S.DELIVERED):
            # Work starts only from an approved case (or one already in progress).
            assert before in (S.APPROVED, S.IN_PROGRESS)
    # Every route into "approved" passed through pending_approval when approvals exist.
    if steps:
        for i, state in enumerate(history):
            if state is S.APPROVED:
                assert history[i - 1] is S.PENDING_APPROVAL
    # Delivery only for certificate cases.
    if S.DELIVERED in history:
        assert case_type in CERTIFICATE_TYPES


@settings(max_examples=200, deadline=None)
@given(TYPES, st.lists(st.tuples(EVENTS, PARTIES), max_size=25))
def test_terminal_states_are_final(
    case_type: CaseType, moves: list[tuple[Event, set[Party]]]
) -> None:
    history, _ = _run(case_type, DEFAULT_STEPS, moves)
    for i, state in enumerate(history):
        if state in (S.CLOSED, S.CANCELLED):
            assert all(s is state for s in history[i:])
