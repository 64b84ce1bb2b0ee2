"""The case API (core.cases): parties, one checked move, the R4 decision, R3 shapes, offers.

Table rows cite the rule they exercise. The services and the console ask these functions;
the tests here prove the answers without a database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from certdesk.core.access import Actor, Role
from certdesk.core.cases import (
    CaseFacts,
    allow,
    check_complete,
    check_shape,
    decide_approval,
    eligible_steps,
    offers,
    parties_of,
    require_room_for_submittal,
)
from certdesk.core.workflow import (
    DEFAULT_STEPS,
    CaseType,
    Decision,
    Event,
    Party,
    State,
    Step,
    window_ends_at,
    window_open,
)
from certdesk.errors import CertdeskError, Conflict, Forbidden, InvalidInput

ORG, OTHER = 1, 2
ANA = Actor("ana", Role.REQUESTER, org_id=ORG, user_id=10)  # opened the case
APP = Actor("abe", Role.APPROVER, org_id=ORG, user_id=11)
BOTH = Actor("bea", Role.REQUESTER, org_id=ORG, user_id=12, also=frozenset({Role.APPROVER}))
ADMIN = Actor("dee", Role.DELEGATED_ADMIN, org_id=ORG, user_id=13)
OUTSIDER = Actor("oz", Role.APPROVER, org_id=OTHER, user_id=20)
OPS = Actor("olga", Role.OPERATOR, user_id=30)
TOKEN = Actor("token:ops", Role.OPERATOR)  # no user id: compared by name
AUDITOR = Actor("aud", Role.AUDITOR, user_id=40)


def facts(state: State, kind: CaseType = CaseType.NEW, opened_by: str = "ana") -> CaseFacts:
    return CaseFacts(state, kind, ORG, requester_id=10, opened_by=opened_by)


# --- who is acting -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "parties", "steps"),
    [
        pytest.param(ANA, {Party.REQUESTER}, set(), id="R4/requester"),
        pytest.param(APP, {Party.APPROVER}, {Step.ORG_APPROVER}, id="R4/agency-approver"),
        pytest.param(BOTH, {Party.REQUESTER, Party.APPROVER}, {Step.ORG_APPROVER}, id="R4/both"),
        pytest.param(ADMIN, {Party.REQUESTER}, set(), id="R4/delegated-admin-requests"),
        pytest.param(OUTSIDER, set(), set(), id="R4/other-org-approver-is-nobody"),
        pytest.param(OPS, {Party.OPERATOR}, {Step.OPERATOR}, id="R4/operator"),
        pytest.param(AUDITOR, set(), set(), id="R4/auditor-reads-only"),
    ],
)
def test_r4_parties_and_steps(actor: Actor, parties: set[Party], steps: set[Step]) -> None:
    assert parties_of(actor, ORG) == parties
    assert eligible_steps(actor, ORG) == steps


# --- one checked move ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "event", "actor", "outcome"),
    [
        pytest.param(facts(State.DRAFT), Event.SUBMIT, ANA, State.SUBMITTED, id="R3/submit"),
        pytest.param(facts(State.DRAFT), Event.EDIT, ANA, State.DRAFT, id="R3/edit-keeps"),
        pytest.param(facts(State.SUBMITTED), Event.ROUTE, None, None, id="R4/system-routes"),
        pytest.param(facts(State.APPROVED), Event.START, OPS, State.IN_PROGRESS, id="R5/start"),
        pytest.param(
            facts(State.SUBMITTED, CaseType.QUESTION),
            Event.COMPLETE,
            OPS,
            State.CLOSED,
            id="R3/question-answered",
        ),
        pytest.param(facts(State.DELIVERED), Event.CLOSE, None, State.CLOSED, id="R8/window-end"),
    ],
)
def test_allow_returns_the_move_to_record(
    case: CaseFacts, event: Event, actor: Actor | None, outcome: State | None
) -> None:
    move = allow(case, event, actor)
    assert (move.event, move.source) == (event, case.state)
    if outcome is None:
        assert move.target is None
        assert move.outcome(State.APPROVED) is State.APPROVED  # the service decides
    else:
        assert move.outcome() is outcome


@pytest.mark.parametrize(
    ("case", "event", "actor", "error", "code"),
    [
        pytest.param(facts(State.APPROVED), Event.EDIT, ANA, Conflict, "case.state", id="R3/late"),
        pytest.param(facts(State.DRAFT), Event.SUBMIT, OUTSIDER, Forbidden, "case.party", id="R4"),
        pytest.param(facts(State.DRAFT), Event.SUBMIT, None, Forbidden, "case.party", id="sys"),
        pytest.param(
            facts(State.APPROVED, CaseType.REVOKE),
            Event.FULFIL,
            OPS,
            Conflict,
            "case.type",
            id="R3/revoke-delivers-nothing",
        ),
        pytest.param(
            facts(State.SUBMITTED, CaseType.REVOKE),
            Event.COMPLETE,
            OPS,
            Conflict,
            "case.state",
            id="R4/only-question-skips-approval",
        ),
    ],
)
def test_allow_refuses(
    case: CaseFacts, event: Event, actor: Actor | None, error: type[CertdeskError], code: str
) -> None:
    with pytest.raises(error) as err:
        allow(case, event, actor)
    assert err.value.code == code


# --- R4: the approval decision ---------------------------------------------------------------

PENDING = facts(State.PENDING_APPROVAL)


@pytest.mark.parametrize(
    ("case", "actor", "decisions", "expected"),
    [
        pytest.param(PENDING, APP, [], Step.ORG_APPROVER, id="R4/agency-fills"),
        pytest.param(PENDING, OPS, [], Step.OPERATOR, id="R4/operator-fills"),
        pytest.param(
            PENDING,
            OPS,
            [Decision(Step.OPERATOR, True, 31, "otto")],
            "case.not_an_approver",
            id="R4/step-already-filled",
        ),
        pytest.param(PENDING, ANA, [], "case.party", id="R4/requester-is-no-approver"),
        pytest.param(PENDING, OUTSIDER, [], "case.party", id="R4/other-org"),
        pytest.param(
            facts(State.PENDING_APPROVAL, opened_by="bea"),
            BOTH,
            [],
            "case.self_approval",
            id="R4/self-by-name",
        ),
        pytest.param(
            CaseFacts(State.PENDING_APPROVAL, CaseType.NEW, ORG, requester_id=11, opened_by="x"),
            APP,
            [],
            "case.self_approval",
            id="R4/self-by-user-id",
        ),
        pytest.param(
            facts(State.PENDING_APPROVAL, opened_by="token:ops"),
            TOKEN,
            [],
            "case.self_approval",
            id="R4/self-token-without-user-id",
        ),
        pytest.param(
            PENDING,
            APP,
            [Decision(Step.OPERATOR, True, 11, "abe")],
            "case.already_decided",
            id="R4/one-vote-by-user-id",
        ),
        pytest.param(
            PENDING,
            TOKEN,
            [Decision(Step.ORG_APPROVER, True, None, "token:ops")],
            "case.already_decided",
            id="R4/one-vote-by-name",
        ),
        pytest.param(facts(State.APPROVED), APP, [], "case.state", id="R4/not-pending"),
    ],
)
def test_r4_decide_approval(
    case: CaseFacts, actor: Actor, decisions: list[Decision], expected: Step | str
) -> None:
    for event in (Event.APPROVE, Event.REJECT):
        if isinstance(expected, Step):
            move, step = decide_approval(case, actor, event, DEFAULT_STEPS, decisions)
            assert step is expected
            assert move.event is event
        else:
            with pytest.raises(CertdeskError) as err:
                decide_approval(case, actor, event, DEFAULT_STEPS, decisions)
            assert err.value.code == expected


def test_r4_decide_refuses_the_state_before_the_person() -> None:
    """A case that is not pending answers 409 even to its own requester (state first)."""
    with pytest.raises(Conflict):
        decide_approval(facts(State.DRAFT), ANA, Event.APPROVE, DEFAULT_STEPS, [])


# --- R3: what a case carries ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "submittals", "target", "delegated", "code"),
    [
        pytest.param(CaseType.NEW, 1, False, False, None, id="R3/new-with-submittal"),
        pytest.param(CaseType.NEW, 51, False, False, "case.submittals", id="R3/too-many"),
        pytest.param(CaseType.QUESTION, 1, False, False, "case.submittal", id="R3/question"),
        pytest.param(CaseType.REVOKE, 0, False, False, "case.target", id="R3/revoke-needs"),
        pytest.param(CaseType.REVOKE, 0, True, False, None, id="R3/revoke-names"),
        pytest.param(CaseType.RENEWAL, 1, True, False, None, id="R3/renewal-may-name"),
        pytest.param(CaseType.NEW, 0, True, False, "case.target", id="R3/new-names-none"),
        pytest.param(CaseType.NEW, 0, False, True, "case.delegated_admin", id="R3/setup-only"),
        pytest.param(CaseType.DELEGATED_ADMIN_SETUP, 0, False, True, None, id="R3/setup"),
    ],
)
def test_r3_shape(
    kind: CaseType, submittals: int, target: bool, delegated: bool, code: str | None
) -> None:
    if code is None:
        check_shape(kind, submittals=submittals, target=target, delegated=delegated)
    else:
        with pytest.raises(InvalidInput) as err:
            check_shape(kind, submittals=submittals, target=target, delegated=delegated)
        assert err.value.code == code


def test_r3_room_for_one_more_submittal() -> None:
    require_room_for_submittal(CaseType.CSR, 49)
    with pytest.raises(Conflict):
        require_room_for_submittal(CaseType.CSR, 50)
    with pytest.raises(InvalidInput):
        require_room_for_submittal(CaseType.DELETE, 0)


@pytest.mark.parametrize(
    ("kind", "submittals", "without_csr", "target", "setup", "code"),
    [
        pytest.param(CaseType.NEW, 0, [], False, False, "case.no_submittal", id="R3/new-empty"),
        pytest.param(CaseType.NEW, 2, [7], False, False, None, id="R3/new-csr-optional"),
        pytest.param(CaseType.CSR, 2, [7], False, False, "case.csr_missing", id="R3/csr-all"),
        pytest.param(CaseType.CHANGE, 1, [], False, False, "case.target", id="R3/change-target"),
        pytest.param(CaseType.QUESTION, 0, [], False, False, None, id="R3/question-bare"),
        pytest.param(
            CaseType.DELEGATED_ADMIN_SETUP,
            0,
            [],
            False,
            False,
            "case.delegated_admin",
            id="R3/setup-incomplete",
        ),
        pytest.param(CaseType.DELEGATED_ADMIN_SETUP, 0, [], False, True, None, id="R3/setup"),
    ],
)
def test_r3_complete_before_submission(
    kind: CaseType,
    submittals: int,
    without_csr: list[int],
    target: bool,
    setup: bool,
    code: str | None,
) -> None:
    def check() -> None:
        check_complete(
            kind,
            submittals=submittals,
            without_csr=without_csr,
            target=target,
            setup_complete=setup,
        )

    if code is None:
        check()
    else:
        with pytest.raises(InvalidInput) as err:
            check()
        assert err.value.code == code


# --- what the console and CLI offer -----------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "actor", "decisions", "window", "shown"),
    [
        pytest.param(
            facts(State.DRAFT), ANA, [], False, {"edit", "submit", "cancel"}, id="R3/draft"
        ),
        pytest.param(PENDING, APP, [], False, {"decide"}, id="R4/approver-decides"),
        pytest.param(
            facts(State.PENDING_APPROVAL, opened_by="bea"),
            BOTH,
            [],
            False,
            {"own_request", "cancel"},
            id="R4/own-request-not-offered",
        ),
        pytest.param(
            PENDING,
            APP,
            [Decision(Step.ORG_APPROVER, True, 11, "abe")],
            False,
            set(),
            id="R4/decided-once",
        ),
        pytest.param(PENDING, ANA, [], False, {"cancel"}, id="R4/requester-waits"),
        pytest.param(
            facts(State.APPROVED), OPS, [], False, {"start", "fulfil", "cancel"}, id="R5/work"
        ),
        pytest.param(
            facts(State.APPROVED, CaseType.REVOKE),
            OPS,
            [],
            False,
            {"start", "complete", "cancel"},
            id="R3/revoke-completes",
        ),
        pytest.param(
            facts(State.SUBMITTED, CaseType.QUESTION),
            OPS,
            [],
            False,
            {"complete", "cancel"},
            id="R3/question-answered",
        ),
        pytest.param(
            facts(State.DELIVERED), ANA, [], True, {"close", "window", "keys"}, id="R8/open"
        ),
        pytest.param(facts(State.DELIVERED), ANA, [], False, {"close", "keys"}, id="R8/closed"),
        pytest.param(facts(State.DELIVERED), AUDITOR, [], True, set(), id="R8/auditor"),
    ],
)
def test_offers_follow_the_rules(
    case: CaseFacts, actor: Actor, decisions: list[Decision], window: bool, shown: set[str]
) -> None:
    got = offers(actor, case, steps=DEFAULT_STEPS, decisions=decisions, window_open=window)
    actions = {
        "edit", "submit", "cancel", "decide", "own_request", "start", "fulfil", "complete",
        "close", "window", "keys",
    }  # fmt: skip
    assert {a for a in actions if getattr(got, a)} == shown
    # Every offered move is one the service would allow.
    for name, event in (("start", Event.START), ("fulfil", Event.FULFIL), ("close", Event.CLOSE)):
        if getattr(got, name):
            allow(case, event, actor)
    if got.decide:
        decide_approval(case, actor, Event.APPROVE, DEFAULT_STEPS, decisions)


@pytest.mark.parametrize(
    ("kind", "carries"),
    [
        pytest.param(CaseType.NEW, {"takes_submittals"}, id="R3/new"),
        pytest.param(CaseType.RENEWAL, {"takes_submittals", "may_target"}, id="R3/renewal"),
        pytest.param(CaseType.REVOKE, {"may_target", "revokes"}, id="R3/revoke"),
        pytest.param(CaseType.DELEGATED_ADMIN_SETUP, {"delegated"}, id="R3/setup"),
        pytest.param(CaseType.QUESTION, {"question"}, id="R3/question"),
    ],
)
def test_r3_offers_say_what_a_case_carries(kind: CaseType, carries: set[str]) -> None:
    got = offers(ANA, facts(State.DRAFT, kind))
    flags = {"takes_submittals", "may_target", "delegated", "revokes", "question"}
    assert {f for f in flags if getattr(got, f)} == carries


def test_r8_window_open_agrees_with_the_end() -> None:
    delivered = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    end = window_ends_at(delivered)
    assert window_open(end, end - timedelta(seconds=1))
    assert not window_open(end, end)
    assert not window_open(None, delivered)
