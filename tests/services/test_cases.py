"""Cases through the service layer (R3, R4, R5, R9, R15), on SQLite and PostgreSQL.

One populated certdesk per backend serves the whole module (see ``tests/world/desk.py``);
every test works on cases of its own and sets the clock it needs.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from certdesk.errors import CertdeskError, Conflict, Forbidden, InvalidInput, NotFound
from certdesk.services.casework.cases import CaseEdit, CaseFilter, CaseInput
from certdesk.services.casework.contacts import ContactChange, ContactInput
from certdesk.services.casework.delegation import AdminInput
from certdesk.services.pki.issuance import IssueCommand
from certdesk.store.models import AuditRow
from conftest import AUDITOR, OPERATOR
from world.csr import make_csr
from world.desk import CHP, DMV, EDD, START, Desk, contact, desk_fixture, sub
from world.refusals import refused

desk = desk_fixture("cases")


@pytest.fixture(autouse=True)
def _start(desk: Desk) -> None:
    desk.at(START)


# --------------------------------------------------------------------------- R4 approvals


@pytest.mark.parametrize("first", ["abe", "opal"], ids=["R4/agency-first", "R4/operator-first"])
def test_case_needs_every_approval(desk: Desk, first: str) -> None:
    cases, approvals = desk.services.cases, desk.services.approvals
    view = desk.draft("ana")
    assert view.state == "draft"
    assert view.number.startswith("CS-2026-") and len(view.number) == 14
    view = cases.submit(desk["ana"], view.number)
    assert view.state == "pending_approval"
    assert view.as_dict()["approval"] == {
        "steps": ["org_approver", "operator"],
        "round": 1,
        "outstanding": ["org_approver", "operator"],
    }
    second = "opal" if first == "abe" else "abe"
    view = approvals.approve(desk[first], view.number)
    assert view.state == "pending_approval"  # R4: not until every party approved
    assert view.approved_at is None and view.summary.due_date is None
    view = approvals.approve(desk[second], view.number)
    assert view.state == "approved"
    assert view.approved_at == START
    assert [(a["step"], a["decision"], a["actor"]) for a in view.approvals] == sorted(
        [("org_approver", "approved", "user:abe"), ("operator", "approved", "user:opal")],
        key=lambda a: 0 if a[2] == f"user:{first}" else 1,
    )
    assert [h["event"] for h in view.history] == ["open", "submit", "route", "approve", "approve"]
    assert [h["to"] for h in view.history][-2:] == ["pending_approval", "approved"]
    assert desk.audit_actions(view.number) == [
        "case.open",
        "case.submit",
        "case.approve",
        "case.approve",
    ]


def test_an_agency_approver_cannot_fill_the_operator_step(desk: Desk) -> None:
    view = desk.pending("ana")
    desk.services.approvals.approve(desk["abe"], view.number)
    # bea is an approver of dmv too, but the agency's step is filled; the operator's is not hers.
    refused(
        Forbidden,
        "case.not_an_approver",
        lambda: desk.services.approvals.approve(desk["bea"], view.number),
        state=desk.counts,
    )


@pytest.mark.parametrize(
    ("opener", "decider"),
    [
        pytest.param("bea", "bea", id="R4/self-approval/agency-user"),
        pytest.param("opal", "opal", id="R4/self-approval/operator-user"),
    ],
)
def test_nobody_approves_their_own_request(desk: Desk, opener: str, decider: str) -> None:
    view = desk.pending(opener)
    detail = refused(
        Forbidden,
        "case.self_approval",
        lambda: desk.services.approvals.approve(desk[decider], view.number),
        state=desk.counts,
    ).detail
    assert "own request" in detail
    refused(
        Forbidden,
        "case.self_approval",
        lambda: desk.services.approvals.reject(desk[decider], view.number, "no"),
        state=desk.counts,
    )


def test_cli_operator_does_not_approve_what_it_opened(desk: Desk) -> None:
    # Tokens and the local CLI carry no user id: the name that opened the case is compared.
    view = desk.pending(OPERATOR)
    refused(
        Forbidden,
        "case.self_approval",
        lambda: desk.services.approvals.approve(OPERATOR, view.number),
        state=desk.counts,
    )
    desk.services.approvals.approve(desk["abe"], view.number)
    assert desk.services.approvals.approve(desk["opal"], view.number).state == "approved"


def test_nobody_decides_twice(desk: Desk) -> None:
    view = desk.pending("ana")
    desk.services.approvals.approve(desk["abe"], view.number)
    refused(
        Conflict,
        "case.already_decided",
        lambda: desk.services.approvals.approve(desk["abe"], view.number),
        state=desk.counts,
    )


def test_rejection_returns_with_reason_keeps_history_and_resubmission_is_a_new_round(
    desk: Desk,
) -> None:
    cases, approvals = desk.services.cases, desk.services.approvals
    view = desk.pending("ana")
    approvals.approve(desk["opal"], view.number)
    view = approvals.reject(desk["abe"], view.number, "  use the permits host, not www  ")
    assert view.state == "rejected"
    rejected = view.approvals[-1]
    assert (rejected["decision"], rejected["reason"], rejected["round"]) == (
        "rejected",
        "use the permits host, not www",
        1,
    )
    assert view.history[-1]["event"] == "reject"
    assert view.history[-1]["note"] == "use the permits host, not www"
    history_at_rejection = list(view.history)

    # Revise: a better submittal, the old one off, then resubmit.
    view = cases.add_submittal(desk["ana"], view.number, sub("permits.ca.gov"))
    old_id = view.submittals[0].id
    view = cases.remove_submittal(desk["ana"], view.number, old_id)
    view = cases.edit(desk["ana"], view.number, CaseEdit(title="Permits certificate"))
    view = cases.submit(desk["ana"], view.number)
    assert view.state == "pending_approval"
    assert view.approval_round == 2
    assert view.outstanding == ("org_approver", "operator")  # every party decides again
    assert list(view.history[: len(history_at_rejection)]) == history_at_rejection
    assert [a["round"] for a in view.approvals] == [1, 1]  # round 1 kept
    approvals.approve(desk["opal"], view.number)
    view = approvals.approve(desk["abe"], view.number)
    assert view.state == "approved"
    assert [s.names for s in view.submittals] == [("permits.ca.gov",)]
    assert [h["event"] for h in view.history] == [
        "open", "submit", "route", "approve", "reject", "edit", "edit", "edit", "submit",
        "route", "approve", "approve",
    ]  # fmt: skip
    assert "case.reject" in desk.audit_actions(view.number)


def test_reject_needs_a_reason(desk: Desk) -> None:
    view = desk.pending("ana")
    refused(
        InvalidInput,
        "case.reject",
        lambda: desk.services.approvals.reject(desk["abe"], view.number, "   "),
        state=desk.counts,
    )


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    actions=st.lists(
        st.sampled_from(["edit", "comment", "submit", "approve", "reject", "cancel"]), max_size=8
    )
)
def test_property_a_rejected_case_keeps_its_history(desk: Desk, actions: list[str]) -> None:
    """Whatever happens to a case, its history only grows: entries are never rewritten."""
    cases, approvals = desk.services.cases, desk.services.approvals
    number = desk.draft("ana").number
    seen = list(cases.show(desk["ana"], number).history)
    calls = {
        "edit": lambda: cases.edit(desk["ana"], number, CaseEdit(title=desk.unique("t"))),
        "comment": lambda: cases.comment(desk["abe"], number, "looks fine"),
        "submit": lambda: cases.submit(desk["ana"], number),
        "approve": lambda: approvals.approve(desk["abe"], number),
        "reject": lambda: approvals.reject(desk["abe"], number, "not yet"),
        "cancel": lambda: cases.cancel(desk["ana"], number),
    }
    for action in actions:
        try:
            calls[action]()
        except CertdeskError:
            pass  # refused in this state: nothing may change
        history = list(cases.show(desk["ana"], number).history)
        assert history[: len(seen)] == seen
        seen = history


# --------------------------------------------------------------------------- R4 policy


def test_approval_policy_per_org_and_type_is_fixed_at_submission(desk: Desk) -> None:
    approvals, cases = desk.services.approvals, desk.services.cases
    view = approvals.set_policy(OPERATOR, EDD, "renewal", "operator")
    entries = {e.case_type: e for e in view.entries}
    assert entries["renewal"].steps == ("operator",) and not entries["renewal"].default
    assert entries["new"].steps == ("org_approver", "operator") and entries["new"].default
    assert "question" not in entries

    # EDD's new cases now need cert services only; a case submitted before the change keeps
    # the steps it was submitted with.
    before = desk.pending("eve", EDD)
    approvals.set_policy(OPERATOR, EDD, "new", ["operator"])
    assert cases.show(OPERATOR, before.number).approval_steps == ("org_approver", "operator")
    after = desk.pending("eve", EDD)
    assert after.approval_steps == ("operator",)
    assert approvals.approve(desk["opal"], after.number).state == "approved"

    # No step at all: approved on submission, with its R5 dates.
    approvals.set_policy(OPERATOR, EDD, "new", "")
    instant = desk.pending("eve", EDD)
    assert instant.state == "approved"
    assert instant.approved_at == START and instant.summary.due_date == date(2026, 12, 4)
    assert [h["event"] for h in instant.history] == ["open", "submit", "route"]

    back = approvals.set_policy(OPERATOR, EDD, "new", None)
    assert {e.case_type: e for e in back.entries}["new"].default
    approvals.set_policy(OPERATOR, EDD, "renewal", None)
    assert DMV not in [e.case_type for e in back.entries]
    with desk.services.rt.reads() as s:
        sets = s.scalars(select(AuditRow).where(AuditRow.action == "approval_policy.set")).all()
    assert len(sets) >= 5


@pytest.mark.parametrize(
    ("who", "org", "args", "exc", "code"),
    [
        pytest.param("ana", DMV, ("new", "operator"), Forbidden, "auth.forbidden",
                     id="R4/policy/requester-may-not-set"),
        pytest.param("abe", DMV, ("new", ""), Forbidden, "auth.forbidden",
                     id="R4/policy/approver-may-not-set"),
        pytest.param("carl", DMV, ("new", ""), NotFound, "org.unknown",
                     id="R4/policy/other-org-is-unknown"),
        pytest.param("opal", DMV, ("new", "boss"), InvalidInput, "approval.step",
                     id="R4/policy/unknown-step"),
        pytest.param("opal", DMV, ("nonsense", ""), InvalidInput, "case.type",
                     id="R4/policy/unknown-type"),
        pytest.param("opal", DMV, ("question", ""), InvalidInput, "approval.type",
                     id="R4/policy/questions-are-not-approved"),
    ],
)  # fmt: skip
def test_approval_policy_refusals(
    desk: Desk, who: str, org: str, args: tuple[str, str], exc: type[CertdeskError], code: str
) -> None:
    refused(
        exc,
        code,
        lambda: desk.services.approvals.set_policy(desk[who], org, *args),
        state=desk.counts,
    )


# --------------------------------------------------------------------------- R5 turnaround


@pytest.mark.parametrize(
    ("approved_at", "requested", "target", "due", "expedite"),
    [
        pytest.param(datetime(2026, 12, 4, 20, 0, tzinfo=UTC), None, date(2026, 12, 9),
                     date(2026, 12, 11), False, id="R5/friday-approval"),
        pytest.param(datetime(2026, 11, 25, 17, 0, tzinfo=UTC), None, date(2026, 12, 2),
                     date(2026, 12, 4), False, id="R5/thanksgiving-week"),
        pytest.param(datetime(2026, 11, 26, 18, 0, tzinfo=UTC), None, date(2026, 12, 2),
                     date(2026, 12, 4), False, id="R5/on-thanksgiving"),
        pytest.param(datetime(2026, 12, 5, 7, 30, tzinfo=UTC), None, date(2026, 12, 9),
                     date(2026, 12, 11), False, id="R5/friday-late-pacific-is-friday"),
        pytest.param(datetime(2026, 12, 4, 20, 0, tzinfo=UTC), date(2026, 12, 23),
                     date(2026, 12, 9), date(2026, 12, 23), False,
                     id="R5/requested-later-becomes-due"),
        pytest.param(datetime(2026, 12, 4, 20, 0, tzinfo=UTC), date(2026, 12, 7),
                     date(2026, 12, 9), date(2026, 12, 11), True,
                     id="R5/requested-earlier-is-expedite"),
        pytest.param(datetime(2026, 12, 4, 20, 0, tzinfo=UTC), date(2026, 12, 11),
                     date(2026, 12, 9), date(2026, 12, 11), False, id="R5/requested-equal"),
    ],
)  # fmt: skip
def test_turnaround_from_the_last_approval(
    desk: Desk,
    approved_at: datetime,
    requested: date | None,
    target: date,
    due: date,
    expedite: bool,
) -> None:
    desk.at(datetime(2026, 11, 23, 16, 0, tzinfo=UTC))  # opened the Monday before
    view = desk.pending("ana", requested_delivery=requested)
    desk.services.approvals.approve(desk["abe"], view.number)
    desk.at(approved_at)
    view = desk.services.approvals.approve(desk["opal"], view.number)
    assert view.approved_at == approved_at
    assert (view.summary.target_date, view.summary.due_date, view.summary.expedite) == (
        target,
        due,
        expedite,
    )


def test_submittal_delivery_date_counts_when_the_case_has_none(desk: Desk) -> None:
    desk.at(datetime(2026, 11, 23, 16, 0, tzinfo=UTC))
    subs = (
        sub(f"{desk.unique('a')}.dmv.ca.gov", requested_delivery=date(2026, 12, 30)),
        sub(f"{desk.unique('b')}.dmv.ca.gov", requested_delivery=date(2026, 12, 1)),
    )
    view = desk.pending("ana", submittals=subs)
    desk.services.approvals.approve(desk["abe"], view.number)
    view = desk.services.approvals.approve(desk["opal"], view.number)
    # Approved Monday 2026-11-23: due Wednesday 12-02 (Thanksgiving and the day after are
    # closed); the earliest requested date, 12-01, is before it: expedite.
    assert view.summary.due_date == date(2026, 12, 2)
    assert view.summary.expedite is True


def test_overdue_cases_are_listed(desk: Desk) -> None:
    cases = desk.services.cases
    view = desk.approved(CHP)
    assert view.summary.due_date == date(2026, 12, 4)
    overdue = CaseFilter(org_code=CHP, overdue=True)
    desk.at(datetime(2026, 12, 5, 7, 59, tzinfo=UTC))  # 23:59 Pacific on the due date
    assert view.number not in [c.number for c in cases.search(OPERATOR, overdue).items]
    assert cases.show(OPERATOR, view.number).summary.overdue is False
    desk.at(datetime(2026, 12, 5, 8, 0, tzinfo=UTC))  # 00:00 Pacific the day after
    listed = cases.search(OPERATOR, overdue).items
    assert view.number in [c.number for c in listed]
    assert all(c.overdue for c in listed)
    assert cases.show(desk["carl"], view.number).summary.overdue is True
    # A cancelled or not yet approved case is never overdue.
    draft = desk.draft("carl", CHP)
    assert draft.number not in [c.number for c in cases.search(OPERATOR, overdue).items]
    # The agency sees its own overdue cases, not another's.
    assert cases.search(desk["ana"], CaseFilter(overdue=True)).items == [
        c for c in cases.search(desk["ana"], CaseFilter(overdue=True)).items if c.org_code == DMV
    ]


def test_cert_services_starts_an_approved_case(desk: Desk) -> None:
    cases = desk.services.cases
    pending = desk.pending("ana").number
    refused(Conflict, "case.state", lambda: cases.start(desk["opal"], pending), state=desk.counts)
    number = desk.approved().number
    refused(
        Forbidden, "auth.forbidden", lambda: cases.start(desk["ana"], number), state=desk.counts
    )
    refused(
        Forbidden, "auth.forbidden", lambda: cases.start(desk["abe"], number), state=desk.counts
    )
    view = cases.start(desk["otto"], number, "on it")
    assert view.state == "in_progress"
    assert view.history[-1] == {
        "at": "2026-11-26T18:00:00Z",
        "actor": "user:otto",
        "event": "start",
        "from": "approved",
        "to": "in_progress",
        "note": "on it",
    }
    desk.at(datetime(2026, 12, 5, 8, 0, tzinfo=UTC))
    assert cases.show(desk["ana"], number).summary.overdue is True  # in progress, past due
    assert desk.audit_actions(number)[-1] == "case.start"


# --------------------------------------------------------------------------- R3 shapes


def test_r3_submit_needs_a_submittal(desk: Desk) -> None:
    view = desk.draft("ana", submittals=())
    refused(
        InvalidInput,
        "case.no_submittal",
        lambda: desk.services.cases.submit(desk["ana"], view.number),
        state=desk.counts,
    )
    view = desk.services.cases.add_submittal(
        desk["ana"], view.number, sub("*.apps.dmv.ca.gov", platform="dedicated")
    )
    assert view.submittals[0].cert_type == "wildcard"
    assert desk.services.cases.submit(desk["ana"], view.number).state == "pending_approval"


def test_r3_csr_case_needs_a_csr_on_every_submittal(desk: Desk) -> None:
    name = f"{desk.unique('csr')}.dmv.ca.gov"
    view = desk.services.cases.open(
        desk["ana"], CaseInput(DMV, "csr", "Our CSR", submittals=(sub(name),))
    )
    refused(
        InvalidInput,
        "case.csr_missing",
        lambda: desk.services.cases.submit(desk["ana"], view.number),
        state=desk.counts,
    )
    view = desk.services.cases.add_submittal(desk["ana"], view.number, sub(csr=make_csr([name])))
    view = desk.services.cases.remove_submittal(desk["ana"], view.number, view.submittals[0].id)
    assert desk.services.cases.submit(desk["ana"], view.number).state == "pending_approval"


def test_question_waits_for_cert_services_without_approval(desk: Desk) -> None:
    view = desk.services.cases.open(
        desk["ana"], CaseInput(DMV, "question", "Can we get EV certificates?", "details")
    )
    view = desk.services.cases.submit(desk["ana"], view.number)
    assert view.state == "submitted"
    assert view.approval_steps == ()
    view = desk.services.cases.comment(desk["opal"], view.number, "No: DV/OV only.")
    assert view.comments[0]["text"] == "No: DV/OV only."
    draft = desk.services.cases.open(desk["ana"], CaseInput(DMV, "question", "Another?"))
    refused(
        InvalidInput,
        "case.submittal",
        lambda: desk.services.cases.add_submittal(desk["ana"], draft.number, sub("www.dmv.ca.gov")),
        state=desk.counts,
    )


def test_delegated_admin_setup_carries_grants_and_people(desk: Desk) -> None:
    cases = desk.services.cases
    view = cases.open(
        desk["ana"],
        CaseInput(
            DMV,
            "delegated_admin_setup",
            "Self-manage dmv",
            grants=("zone:apps.dmv.ca.gov", "host:Permits.CA.gov"),
        ),
    )
    refused(
        InvalidInput,
        "case.delegated_admin",
        lambda: cases.submit(desk["ana"], view.number),
        state=desk.counts,
    )
    view = cases.edit(
        desk["ana"],
        view.number,
        CaseEdit(admins=(AdminInput("Dee Admin", "Dee@DMV.ca.gov", "Dee.Admin"),)),
    )
    assert view.delegated_setup == {
        "grants": ["zone:apps.dmv.ca.gov", "host:permits.ca.gov"],
        "admins": [{"name": "Dee Admin", "email": "Dee@dmv.ca.gov", "login_id": "dee.admin"}],
    }
    assert cases.submit(desk["ana"], view.number).state == "pending_approval"


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        pytest.param(dict(type="revoke"), "case.target", id="R3/revoke-needs-a-certificate"),
        pytest.param(dict(type="question", grants=("zone:x.dmv.ca.gov",)),
                     "case.delegated_admin", id="R3/grants-only-on-setup"),
        pytest.param(dict(type="delegated_admin_setup", grants=("zone:ca.gov",)),
                     "name.bare_suffix", id="R1/grant-on-a-bare-suffix"),
        pytest.param(dict(type="delegated_admin_setup", grants=("*.dmv.ca.gov",)),
                     "grant.invalid", id="R2/grant-syntax"),
        pytest.param(dict(type="delegated_admin_setup",
                          admins=(AdminInput("X", "x@dmv.ca.gov", "a b"),)),
                     "case.admin_login", id="R3/admin-login-id"),
        pytest.param(dict(type="question", submittals=(sub("www.dmv.ca.gov"),)),
                     "case.submittal", id="R3/question-carries-no-submittal"),
        pytest.param(dict(type="nope"), "case.type", id="R3/unknown-type"),
        pytest.param(dict(title="  "), "case.title", id="R3/empty-title"),
        pytest.param(dict(requested_delivery=date(2026, 11, 25)), "case.delivery_past",
                     id="R5/requested-delivery-in-the-past"),
    ],
)  # fmt: skip
def test_case_shape_refusals(desk: Desk, spec: dict[str, object], code: str) -> None:
    fields: dict[str, object] = {"type": "new", "title": "t", **spec}
    refused(
        InvalidInput,
        code,
        lambda: desk.services.cases.open(desk["ana"], CaseInput(DMV, **fields)),
        state=desk.counts,
    )  # type: ignore[arg-type]


def test_revoke_and_change_reference_a_certificate_of_the_org(desk: Desk) -> None:
    issued = desk.services.issuance.issue(
        OPERATOR, IssueCommand(DMV, make_csr([f"{desk.unique('r')}.dmv.ca.gov"]), days=30)
    )
    view = desk.services.cases.open(
        desk["ana"], CaseInput(DMV, "revoke", "Key lost", target_serial=issued.serial)
    )
    assert view.target_serial == issued.serial
    assert desk.services.cases.submit(desk["ana"], view.number).state == "pending_approval"
    # The serial of another organization's certificate is as unknown as a made-up one.
    refused(
        NotFound,
        "cert.unknown",
        lambda: desk.services.cases.open(
            desk["carl"], CaseInput(CHP, "revoke", "x", target_serial=issued.serial)
        ),
        state=desk.counts,
    )
    refused(
        NotFound,
        "cert.unknown",
        lambda: desk.services.cases.open(
            desk["ana"], CaseInput(DMV, "delete", "x", target_serial="abcdef")
        ),
        state=desk.counts,
    )
    change = desk.services.cases.open(
        desk["ana"],
        CaseInput(DMV, "change", "Add a name", target_serial=issued.serial,
                  submittals=(sub(f"{desk.unique('c')}.dmv.ca.gov"),)),
    )  # fmt: skip
    assert change.summary.submittals == 1


# --------------------------------------------------------------------------- submittals


def _weak_csr() -> bytes:
    return make_csr(["weak.dmv.ca.gov"], key=rsa.generate_private_key(65537, 1024))


@pytest.mark.parametrize(
    ("make", "code"),
    [
        pytest.param(lambda: sub(csr=b"-----BEGIN CERTIFICATE REQUEST-----\n" + b"A" * 70000),
                     "csr.too_large", id="R12/oversize-upload"),
        pytest.param(lambda: sub(csr=b"hello, this is not a CSR"), "csr.unparseable",
                     id="R12/not-a-csr"),
        pytest.param(lambda: sub(csr=_weak_csr()), "key.too_small", id="R12/rsa-1024"),
        pytest.param(lambda: sub("www.chp.ca.gov"), "name.not_granted",
                     id="R2/name-outside-the-grant"),
        pytest.param(lambda: sub(csr=make_csr(["www.chp.ca.gov"])), "name.not_granted",
                     id="R2/csr-name-outside-the-grant"),
        pytest.param(lambda: sub("x.permits.ca.gov"), "name.not_granted",
                     id="R2/below-a-host-grant"),
        pytest.param(lambda: sub("www.example.com"), "name.outside_suffixes",
                     id="R1/outside-the-suffixes"),
        pytest.param(lambda: sub("a.dmv.ca.gov", csr=make_csr(["b.dmv.ca.gov"])),
                     "submittal.csr_names", id="R3/csr-names-differ"),
        pytest.param(lambda: sub("a.dmv.ca.gov", "b.dmv.ca.gov", cert_type="single"),
                     "submittal.cert_type", id="R3/single-with-two-names"),
        pytest.param(lambda: sub("a.dmv.ca.gov", cert_type="san"), "submittal.cert_type",
                     id="R3/san-with-one-name"),
        pytest.param(lambda: sub("*.dmv.ca.gov", cert_type="single"), "submittal.cert_type",
                     id="R3/wildcard-as-single"),
        pytest.param(lambda: sub("a.dmv.ca.gov", cert_type="wildcard"), "submittal.cert_type",
                     id="R3/wildcard-without-star"),
        pytest.param(lambda: sub(), "submittal.names", id="R3/no-name"),
        pytest.param(lambda: sub("a.dmv.ca.gov", platform="cloud"), "cert.platform",
                     id="R11/platform"),
        pytest.param(lambda: sub("a.dmv.ca.gov", service_option="self-managed"),
                     "submittal.service_option", id="R11/service-option-is-the-orgs"),
        pytest.param(lambda: sub("a.dmv.ca.gov", key_type="dsa1024"), "key.type",
                     id="R12/key-type"),
        pytest.param(lambda: sub("a.dmv.ca.gov", key_type="rsa2048",
                                 csr=make_csr(["a.dmv.ca.gov"])),
                     "submittal.key_type", id="R12/key-type-differs-from-csr"),
        pytest.param(lambda: sub("a.dmv.ca.gov", validity_days=500), "submittal.validity",
                     id="R13/validity"),
        pytest.param(lambda: sub("a.dmv.ca.gov", requested_delivery=date(2026, 1, 1)),
                     "submittal.delivery_past", id="R5/delivery-in-the-past"),
        pytest.param(lambda: sub("a.dmv.ca.gov", contacts=(ContactInput("technical", "A", "a@b"),)),
                     "contact.email", id="R9/contact-email"),
        pytest.param(lambda: sub("a.dmv.ca.gov", contacts=(ContactInput("boss", "A", "a@b.gov"),)),
                     "contact.kind", id="R9/contact-kind"),
        pytest.param(lambda: sub("a.dmv.ca.gov",
                                 contacts=(ContactInput("billing", "A", "a@b.gov", "call me"),)),
                     "contact.phone", id="R9/contact-phone"),
    ],
)  # fmt: skip
def test_submittal_refusals_change_nothing(desk: Desk, make: object, code: str) -> None:
    view = desk.draft("ana")
    spec = make()  # type: ignore[operator]
    refused(
        InvalidInput,
        code,
        lambda: desk.services.cases.add_submittal(desk["ana"], view.number, spec),
        state=desk.counts,
    )
    refused(
        InvalidInput,
        code,
        lambda: desk.services.cases.open(
            desk["ana"], CaseInput(DMV, "new", "t", submittals=(spec,))
        ),
        state=desk.counts,
    )


def test_submittal_with_csr_and_contacts(desk: Desk) -> None:
    names = [f"{desk.unique('api')}.dmv.ca.gov", "permits.ca.gov"]
    view = desk.draft(
        "ana",
        submittals=(
            sub(
                csr=make_csr(names, der=True),
                platform="dedicated",
                server_software="IIS",
                server_version="10",
                validity_days=90,
                contacts=(contact("technical", "ana"), contact("billing", "bill")),
            ),
        ),
    )
    (s,) = view.submittals
    assert s.names == tuple(names)
    assert (s.cert_type, s.platform, s.key_type, s.service_option) == (
        "san",
        "dedicated",
        "ec256",
        "managed",
    )
    assert s.csr_pem is not None and s.csr_pem.startswith("-----BEGIN CERTIFICATE REQUEST")
    assert [(c.kind, c.email) for c in s.contacts] == [
        ("technical", "ana@dmv.ca.gov"),
        ("billing", "bill@dmv.ca.gov"),
    ]


def test_operator_may_request_any_r1_name_for_an_org(desk: Desk) -> None:
    view = desk.draft(OPERATOR, submittals=(sub("www.elsewhere.ca.gov"),))
    assert view.submittals[0].names == ("www.elsewhere.ca.gov",)
    assert view.summary.opened_by == "cli:operator" and view.requester_id is None


def test_submittal_without_contacts_names_the_orgs(desk: Desk) -> None:
    """R9: a submittal given no contacts names the organization's own records (no copies);
    one given a known address names that record, not a second one."""
    address = f"{desk.unique('admin')}@dmv.ca.gov"
    org_contact = desk.services.contacts.add(
        desk["ana"], DMV, ContactInput("administrative", "Org Admin", address)
    )
    before = len(desk.services.contacts.list(desk["ana"], DMV))
    view = desk.draft("ana", submittals=(sub(f"{desk.unique('n')}.dmv.ca.gov", contacts=()),))
    named = view.submittals[0].contacts
    assert ("administrative", address, org_contact.id) in [(c.kind, c.email, c.id) for c in named]
    again = desk.draft(
        "ana",
        submittals=(
            sub(
                f"{desk.unique('n')}.dmv.ca.gov",
                contacts=(ContactInput("billing", "Someone Else", address.upper()),),
            ),
        ),
    )
    (only,) = again.submittals[0].contacts
    assert (only.id, only.kind, only.name) == (org_contact.id, "billing", "Org Admin")
    assert len(desk.services.contacts.list(desk["ana"], DMV)) == before
    for case in (view, again):
        desk.services.cases.cancel(desk["ana"], case.number, "test over")
    desk.services.contacts.remove(desk["ana"], DMV, org_contact.id)


# --------------------------------------------------------------------------- states and access


@pytest.mark.parametrize(
    ("action", "state", "exc", "code"),
    [
        pytest.param("approve", "draft", Conflict, "case.state", id="R4/approve-a-draft"),
        pytest.param("reject", "draft", Conflict, "case.state", id="R4/reject-a-draft"),
        pytest.param("submit", "pending_approval", Conflict, "case.state",
                     id="R4/submit-twice"),
        pytest.param("edit", "pending_approval", Conflict, "case.state",
                     id="R3/edit-in-approval"),
        pytest.param("add_submittal", "approved", Conflict, "case.state",
                     id="R3/submittal-after-approval"),
        pytest.param("approve", "approved", Conflict, "case.state", id="R4/approve-approved"),
        pytest.param("cancel", "cancelled", Conflict, "case.state", id="R4/cancel-twice"),
        pytest.param("submit", "cancelled", Conflict, "case.state", id="R4/submit-cancelled"),
    ],
)  # fmt: skip
def test_wrong_state_is_refused(desk: Desk, action: str, state: str, exc: type, code: str) -> None:
    cases, approvals = desk.services.cases, desk.services.approvals
    if state == "draft":
        number = desk.draft("ana").number
    elif state == "pending_approval":
        number = desk.pending("ana").number
    elif state == "approved":
        number = desk.approved().number
    else:
        number = desk.pending("ana").number
        cases.cancel(desk["ana"], number, "not needed")
    calls = {
        "approve": (approvals.approve, desk["otto"], number),
        "reject": (approvals.reject, desk["otto"], number, "no"),
        "submit": (cases.submit, desk["ana"], number),
        "edit": (cases.edit, desk["ana"], number, CaseEdit(title="x")),
        "add_submittal": (cases.add_submittal, desk["ana"], number, sub("z.dmv.ca.gov")),
        "cancel": (cases.cancel, desk["ana"], number),
    }
    call, *args = calls[action]
    refused(exc, code, lambda: call(*args), state=desk.counts)


def test_unknown_and_other_org_cases_look_the_same(desk: Desk) -> None:
    mine = desk.pending("carl", CHP).number
    for number in ("CS-2026-999999", "nonsense", mine):
        for call, args in (
            (desk.services.cases.show, ()),
            (desk.services.cases.comment, ("hi",)),
            (desk.services.cases.submit, ()),
            (desk.services.cases.cancel, ()),
        ):
            who = desk["ana"]
            refused(NotFound, "case.unknown", call, who, number, *args, state=desk.counts)
        refused(
            NotFound,
            "case.unknown",
            desk.services.approvals.approve,
            desk["abe"],
            number,
            state=desk.counts,
        )
    refused(
        NotFound,
        "org.unknown",
        lambda: desk.services.cases.open(
            desk["ana"], CaseInput(CHP, "new", "t", submittals=(sub("www.chp.ca.gov"),))
        ),
        state=desk.counts,
    )


def test_roles_without_the_right_are_refused(desk: Desk) -> None:
    cases, approvals = desk.services.cases, desk.services.approvals
    pending = desk.pending("ana").number
    refused(
        Forbidden,
        "auth.forbidden",
        lambda: approvals.approve(desk["ana"], pending),
        state=desk.counts,
    )
    refused(
        Forbidden, "auth.forbidden", lambda: cases.cancel(desk["abe"], pending), state=desk.counts
    )
    refused(
        Forbidden,
        "auth.forbidden",
        lambda: approvals.approve(desk["aud"], pending),
        state=desk.counts,
    )
    refused(
        Forbidden,
        "auth.forbidden",
        lambda: cases.comment(AUDITOR, pending, "hi"),
        state=desk.counts,
    )
    refused(
        Forbidden,
        "auth.forbidden",
        lambda: cases.open(
            desk["abe"], CaseInput(DMV, "new", "t", submittals=(sub("q.dmv.ca.gov"),))
        ),
        state=desk.counts,
    )
    assert cases.show(AUDITOR, pending).number == pending
    # A delegated administrator opens cases for its organization like a requester.
    assert desk.draft("dan").state == "draft"


def test_cancel_and_comment(desk: Desk) -> None:
    cases = desk.services.cases
    number = desk.pending("ana").number
    view = cases.comment(desk["abe"], number, "Which server?")
    view = cases.comment(desk["ana"], number, "The permits portal.")
    assert [(c["actor"], c["text"]) for c in view.comments] == [
        ("user:abe", "Which server?"),
        ("user:ana", "The permits portal."),
    ]
    view = cases.cancel(desk["ana"], number, "duplicate of another case")
    assert view.state == "cancelled" and view.closed_at == START
    assert view.history[-1]["note"] == "duplicate of another case"
    refused(
        Conflict,
        "case.state",
        lambda: desk.services.approvals.approve(desk["abe"], number),
        state=desk.counts,
    )
    assert cases.comment(desk["opal"], number, "closing").state == "cancelled"


def test_list_filters_and_keyset_pages(desk: Desk) -> None:
    cases = desk.services.cases
    made = [desk.draft("eve", EDD).number for _ in range(5)]
    page1 = cases.search(desk["eve"], CaseFilter(state="draft", type="new", limit=3))
    assert [c.number for c in page1.items] == made[::-1][:3]
    assert page1.next_cursor is not None
    page2 = cases.search(desk["eve"], CaseFilter(state="draft", limit=3, cursor=page1.next_cursor))
    assert [c.number for c in page2.items][:2] == made[::-1][3:]
    assert all(c.org_code == EDD for c in page1.items + page2.items)
    assert {c.org_code for c in cases.search(OPERATOR, CaseFilter(limit=500)).items} >= {DMV, EDD}
    for bad, code in (
        (CaseFilter(state="lost"), "case.state"),
        (CaseFilter(type="lost"), "case.type"),
        (CaseFilter(cursor="x1"), "page.cursor"),
        (CaseFilter(limit=0), "page.limit"),
    ):
        refused(InvalidInput, code, cases.search, OPERATOR, bad, state=desk.counts)
    refused(
        NotFound,
        "org.unknown",
        lambda: cases.search(desk["eve"], CaseFilter(org_code=DMV)),
        state=desk.counts,
    )


def test_case_numbers_are_unique_under_concurrency(desk: Desk) -> None:
    numbers: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(3):
                numbers.append(desk.draft("eve", EDD, submittals=()).number)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(numbers) == len(set(numbers)) == 18
    assert all(n.startswith("CS-2026-") for n in numbers)


# --------------------------------------------------------------------------- R9 contacts


def test_contact_changes_are_audited_with_old_and_new(desk: Desk) -> None:
    contacts = desk.services.contacts
    added = contacts.add(desk["carl"], CHP, ContactInput("technical", "Tom Tech", "tom@chp.ca.gov"))
    desk.at(datetime(2026, 12, 1, 17, 0, tzinfo=UTC))
    changed = contacts.change(
        desk["carl"], CHP, added.id, ContactChange(email="Thomas@CHP.ca.gov", phone="916 555 0199")
    )
    assert (changed.email, changed.phone) == ("Thomas@chp.ca.gov", "916 555 0199")
    views, _ = desk.services.audit.search(OPERATOR, object_type="contact", object_id=str(added.id))
    change_event = views[0]
    assert (change_event.action, change_event.actor) == ("contact.change", "user:carl")
    assert change_event.at == "2026-12-01T17:00:00Z"
    assert change_event.summary["before"]["email"] == "tom@chp.ca.gov"
    assert change_event.summary["after"] == {
        "kind": "technical",
        "name": "Tom Tech",
        "email": "Thomas@chp.ca.gov",
        "phone": "916 555 0199",
    }
    # A submittal names organization contacts: changing one changes it on every submittal.
    case = desk.draft("carl", CHP)
    sc = case.submittals[0].contacts[0]
    moved = contacts.change(desk["carl"], CHP, sc.id, ContactChange(name="New Tech"))
    assert moved.case_number is None and moved.name == "New Tech"
    assert desk.services.cases.show(desk["carl"], case.number).submittals[0].contacts[0].name == (
        "New Tech"
    )
    listed = contacts.list(desk["cara"], CHP, with_submittals=True)
    assert (sc.id, case.number) in [(c.id, c.case_number) for c in listed]
    assert sc.id in [c.id for c in contacts.list(desk["cara"], CHP)]
    removed = contacts.remove(desk["carl"], CHP, added.id)
    assert removed.id == added.id
    assert [
        v.action
        for v in desk.services.audit.search(
            OPERATOR, object_type="contact", object_id=str(added.id)
        )[0]
    ][:3] == ["contact.remove", "contact.change", "contact.add"]  # fmt: skip  (SQLite reuses ids)


@pytest.mark.parametrize(
    ("who", "org", "exc", "code"),
    [
        pytest.param("abe", DMV, Forbidden, "auth.forbidden", id="R9/approver-may-not-change"),
        pytest.param("aud", DMV, Forbidden, "auth.forbidden", id="R9/auditor-may-not-change"),
        pytest.param("carl", DMV, NotFound, "org.unknown", id="R9/other-org-is-unknown"),
    ],
)
def test_contact_refusals(
    desk: Desk, who: str, org: str, exc: type[CertdeskError], code: str
) -> None:
    contacts = desk.services.contacts
    target = contacts.add(
        desk["ana"], DMV, ContactInput("billing", "Bill", f"{desk.unique('bill')}@dmv.ca.gov")
    )
    refused(
        exc,
        code,
        lambda: contacts.add(desk[who], org, ContactInput("billing", "B", "b@x.gov")),
        state=desk.counts,
    )
    refused(
        exc,
        code,
        lambda: contacts.change(desk[who], org, target.id, ContactChange(name="X")),
        state=desk.counts,
    )
    refused(exc, code, lambda: contacts.remove(desk[who], org, target.id), state=desk.counts)
    contacts.remove(desk["ana"], DMV, target.id)


def test_contact_bad_input(desk: Desk) -> None:
    contacts = desk.services.contacts
    refused(
        InvalidInput,
        "contact.email",
        lambda: contacts.add(desk["ana"], DMV, ContactInput("technical", "A", "not an address")),
        state=desk.counts,
    )
    refused(
        InvalidInput,
        "contact.name",
        lambda: contacts.add(desk["ana"], DMV, ContactInput("technical", " ", "a@dmv.ca.gov")),
        state=desk.counts,
    )
    refused(
        NotFound,
        "contact.unknown",
        lambda: contacts.change(desk["ana"], DMV, 999999, ContactChange(name="x")),
        state=desk.counts,
    )


# --------------------------------------------------------------------------- asked once


def test_each_command_asks_the_state_machine_once_per_event(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """R3/R4: a command checks each event once (core.cases.allow) and records that answer;
    the state machine is not asked again when the move is written."""
    from certdesk.core import cases as core_cases

    asked: list[str] = []
    real = core_cases.transition

    def counted(*args: Any) -> Any:
        asked.append(str(args[1]))
        return real(*args)

    monkeypatch.setattr(core_cases, "transition", counted)
    cases, approvals = desk.services.cases, desk.services.approvals
    view = desk.draft("ana")
    assert asked == []  # opening a draft is no event of the machine
    cases.edit(desk["ana"], view.number, CaseEdit(title="Renamed"))
    assert asked == ["edit"]
    asked.clear()
    cases.add_submittal(desk["ana"], view.number, sub(f"{desk.unique('x')}.dmv.ca.gov"))
    assert asked == ["edit"]
    asked.clear()
    cases.submit(desk["ana"], view.number)
    assert asked == ["submit", "route"]
    asked.clear()
    approvals.approve(desk["abe"], view.number)
    assert asked == ["approve"]
    asked.clear()
    approvals.reject(desk["opal"], view.number, "not this name")
    assert asked == ["reject"]
    asked.clear()
    cases.cancel(desk["ana"], view.number)
    assert asked == ["cancel"]
