"""/api/v1/cases and the organization's contacts and approval policy (R3, R4, R5, R9).

One populated certdesk per backend behind one TestClient (``tests/world/desk.py``), with an API
token per principal. The authorization matrix asserts every (action, principal) cell: the
status and problem code, and that nothing changed when refused (case, event, approval,
comment, submittal, contact, policy and audit counts, and the cases' states).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from certdesk.core.access import Role
from certdesk.services.casework.contacts import ContactInput
from conftest import BACKENDS
from world.api import CaseApi, case_api
from world.csr import make_csr
from world.desk import CHP, DMV, START
from world.refusals import assert_problem

API = "/api/v1"

# principal -> (role, organization) of its API token
TOKENS: dict[str, tuple[Role, str | None]] = {
    "operator": (Role.OPERATOR, None),
    "operator-2": (Role.OPERATOR, None),
    "auditor": (Role.AUDITOR, None),
    "requester-own": (Role.REQUESTER, DMV),
    "approver-own": (Role.APPROVER, DMV),
    "delegated_admin-own": (Role.DELEGATED_ADMIN, DMV),
    "requester-other": (Role.REQUESTER, CHP),
    "approver-other": (Role.APPROVER, CHP),
}
PRINCIPALS = [p for p in TOKENS if p != "operator-2"] + ["no-token"]


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CaseApi]:
    with case_api(request.param, tmp_path_factory.mktemp("casesapi"), TOKENS) as world:
        yield world


@pytest.fixture(autouse=True)
def _start(world: CaseApi) -> None:
    world.desk.at(START)


def submittal_json(name: str, **kw: Any) -> dict[str, Any]:
    return {
        "names": [name],
        "platform": "virtual",
        "contacts": [{"kind": "technical", "name": "Ana", "email": "ana@dmv.ca.gov"}],
        **kw,
    }


# --------------------------------------------------------------------------- journeys


def test_journey_two_approvals_turnaround_and_history(world: CaseApi) -> None:
    name = f"{world.desk.unique('www')}.dmv.ca.gov"
    san = [f"{world.desk.unique('a')}.dmv.ca.gov", "permits.ca.gov"]
    resp = world.call(
        "requester-own",
        "POST",
        f"{API}/cases",
        {
            "org": DMV,
            "type": "new",
            "title": "Portal certificates",
            "requested_delivery": "2026-12-23",
            "submittals": [
                submittal_json(name, server_software="nginx", server_version="1.26"),
                {"names": san, "cert_type": "san", "csr": make_csr(san).decode(),
                 "platform": "dedicated"},
            ],
        },
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    case = resp.json()
    number = case["number"]
    assert case["state"] == "draft" and case["organization"] == DMV
    assert [s["cert_type"] for s in case["submittals"]] == ["single", "san"]
    assert case["submittals"][1]["csr"].startswith("-----BEGIN CERTIFICATE REQUEST")

    case = world.call("requester-own", "POST", f"{API}/cases/{number}/submit").json()
    assert case["state"] == "pending_approval"
    assert case["approval"]["outstanding"] == ["org_approver", "operator"]
    case = world.call("approver-own", "POST", f"{API}/cases/{number}/approve", {}).json()
    assert case["approval"]["outstanding"] == ["operator"]
    world.desk.at(datetime(2026, 12, 4, 20, 0, tzinfo=UTC))  # a Friday
    resp = world.call("operator", "POST", f"{API}/cases/{number}/approve", {"note": "ok"})
    assert resp.status_code == 200, resp.text
    case = resp.json()
    assert case["state"] == "approved"
    assert (case["target_date"], case["due_date"], case["expedite"]) == (
        "2026-12-09",
        "2026-12-23",  # R5: the later requested date is the due date
        False,
    )
    assert [h["event"] for h in case["history"]] == [
        "open",
        "submit",
        "route",
        "approve",
        "approve",
    ]
    assert {"from", "to"} <= set(case["history"][0])
    shown = world.call("auditor", "GET", f"{API}/cases/{number}").json()
    assert shown == case

    listed = world.call("requester-own", "GET", f"{API}/cases", state="approved").json()
    assert number in [c["number"] for c in listed["items"]]
    assert all(c["organization"] == DMV for c in listed["items"])
    world.desk.at(datetime(2026, 12, 24, 8, 0, tzinfo=UTC))  # 00:00 Pacific after the due date
    overdue = world.call("operator", "GET", f"{API}/cases", overdue="true").json()["items"]
    assert number in [c["number"] for c in overdue]
    assert all(c["overdue"] for c in overdue)


def test_rejection_and_resubmission(world: CaseApi) -> None:
    number = world.desk.draft("ana").number
    assert world.call("requester-own", "POST", f"{API}/cases/{number}/submit").status_code == 200
    resp = world.call("approver-own", "POST", f"{API}/cases/{number}/reject", {"reason": "why?"})
    assert resp.json()["state"] == "rejected"
    assert resp.json()["approvals"][-1]["reason"] == "why?"
    resp = world.call(
        "requester-own",
        "PATCH",
        f"{API}/cases/{number}",
        {"description": "Because the portal moves.", "requested_delivery": None},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["history"][-1]["event"] == "edit"
    resubmitted = world.call("requester-own", "POST", f"{API}/cases/{number}/submit").json()
    assert resubmitted["approval"]["round"] == 2
    assert resubmitted["state"] == "pending_approval"
    assert [h["event"] for h in resubmitted["history"]].count("reject") == 1


def test_self_approval_by_token_is_refused(world: CaseApi) -> None:
    resp = world.call(
        "operator",
        "POST",
        f"{API}/cases",
        {"org": DMV, "title": "On behalf", "submittals": [submittal_json("opb.dmv.ca.gov")]},
    )
    number = resp.json()["number"]
    world.call("operator", "POST", f"{API}/cases/{number}/submit")
    before = world.desk.counts()
    assert_problem(
        world.call("operator", "POST", f"{API}/cases/{number}/approve"), 403, "case.self_approval"
    )
    assert world.desk.counts() == before
    world.call("approver-own", "POST", f"{API}/cases/{number}/approve")
    assert world.call("operator-2", "POST", f"{API}/cases/{number}/approve").json()["state"] == (
        "approved"
    )


def test_approval_policy_routes(world: CaseApi) -> None:
    got = world.call("requester-own", "GET", f"{API}/orgs/{DMV}/approval-policy").json()
    assert got["organization"] == DMV
    assert {p["case_type"] for p in got["policies"]} == {
        "new", "renewal", "change", "revoke", "delete", "csr", "delegated_admin_setup",
    }  # fmt: skip
    put = world.call(
        "operator",
        "PUT",
        f"{API}/orgs/{CHP}/approval-policy",
        {"case_type": "csr", "steps": ["operator"]},
    )
    assert put.status_code == 200, put.text
    entry = next(p for p in put.json()["policies"] if p["case_type"] == "csr")
    assert entry == {"case_type": "csr", "steps": ["operator"], "default": False}
    reset = world.call(
        "operator", "PUT", f"{API}/orgs/{CHP}/approval-policy", {"case_type": "csr", "steps": None}
    )
    assert next(p for p in reset.json()["policies"] if p["case_type"] == "csr")["default"]
    assert_problem(
        world.call(
            "operator", "PUT", f"{API}/orgs/{CHP}/approval-policy", {"case_type": "x", "steps": []}
        ),
        422,
        "request.invalid",
    )


def test_contacts_routes(world: CaseApi) -> None:
    resp = world.call(
        "requester-own",
        "POST",
        f"{API}/orgs/{DMV}/contacts",
        {"kind": "billing", "name": "Accounts", "email": "ap@dmv.ca.gov", "phone": "916 555 0111"},
    )
    assert resp.status_code == 201, resp.text
    contact_id = resp.json()["id"]
    changed = world.call(
        "requester-own",
        "PATCH",
        f"{API}/orgs/{DMV}/contacts/{contact_id}",
        {"email": "payables@dmv.ca.gov"},
    ).json()
    assert changed["email"] == "payables@dmv.ca.gov" and changed["kind"] == "billing"
    events = world.call(
        "auditor", "GET", f"{API}/audit", object_type="contact", object_id=str(contact_id)
    ).json()["items"]
    assert events[0]["action"] == "contact.change"
    assert events[0]["summary"]["before"]["email"] == "ap@dmv.ca.gov"
    assert events[0]["summary"]["after"]["email"] == "payables@dmv.ca.gov"
    world.desk.draft("ana")  # a submittal naming a contact
    listed = world.call("approver-own", "GET", f"{API}/orgs/{DMV}/contacts").json()
    assert contact_id in [c["id"] for c in listed]
    with_subs = world.call(
        "approver-own", "GET", f"{API}/orgs/{DMV}/contacts", include_submittals="true"
    ).json()
    assert len(with_subs) > len(listed)
    assert (
        world.call("requester-own", "DELETE", f"{API}/orgs/{DMV}/contacts/{contact_id}").json()[
            "id"
        ]
        == contact_id
    )
    assert_problem(
        world.call("requester-own", "DELETE", f"{API}/orgs/{DMV}/contacts/{contact_id}"),
        404,
        "contact.unknown",
    )


def test_openapi_documents_the_case_routes(world: CaseApi) -> None:
    spec = world.client.get("/openapi.json").json()
    paths = spec["paths"]
    for path, methods in {
        "/api/v1/cases": {"get", "post"},
        "/api/v1/cases/{number}": {"get", "patch"},
        "/api/v1/cases/{number}/submittals": {"post"},
        "/api/v1/cases/{number}/submit": {"post"},
        "/api/v1/cases/{number}/approve": {"post"},
        "/api/v1/cases/{number}/reject": {"post"},
        "/api/v1/cases/{number}/comment": {"post"},
        "/api/v1/cases/{number}/cancel": {"post"},
        "/api/v1/cases/{number}/start": {"post"},
        "/api/v1/orgs/{code}/approval-policy": {"get", "put"},
        "/api/v1/orgs/{code}/contacts": {"get", "post"},
        "/api/v1/orgs/{code}/contacts/{contact_id}": {"patch", "delete"},
    }.items():
        assert methods <= set(paths[path]), path
    ok = paths["/api/v1/cases/{number}"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/CaseOut")
    case_out = spec["components"]["schemas"]["CaseOut"]["properties"]
    assert {"target_date", "due_date", "expedite", "overdue", "history", "approval"} <= set(
        case_out
    )


# --------------------------------------------------------------------------- bad input


BIG_CSR = "-----BEGIN CERTIFICATE REQUEST-----\n" + "A" * 70_000 + "\n"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param(submittal_json("x.dmv.ca.gov", csr=BIG_CSR), 400, "csr.too_large",
                     id="R12/oversize-upload"),
        pytest.param(submittal_json("x.dmv.ca.gov", csr="just text"), 400, "csr.unparseable",
                     id="R12/non-csr-upload"),
        pytest.param(submittal_json("www.chp.ca.gov"), 400, "name.not_granted",
                     id="R2/name-outside-the-grant"),
        pytest.param(submittal_json("x.dmv.ca.gov", csr=make_csr(["www.chp.ca.gov"]).decode()),
                     400, "name.not_granted", id="R2/csr-name-outside-the-grant"),
        pytest.param(submittal_json("bad_name.dmv.ca.gov"), 400, "name.underscore",
                     id="R1/underscore"),
        pytest.param(submittal_json("x.dmv.ca.gov", platform="cloud"), 422, "request.invalid",
                     id="R11/platform-enum"),
        pytest.param({"names": ["x.dmv.ca.gov"], "contacts": [{"kind": "technical",
                      "name": "A", "email": "nope"}]}, 400, "contact.email",
                     id="R9/contact-email"),
    ],
)  # fmt: skip
def test_bad_submittals_change_nothing(
    world: CaseApi, body: dict[str, Any], status: int, code: str
) -> None:
    number = world.desk.draft("ana").number
    before = world.desk.counts()
    assert_problem(
        world.call("requester-own", "POST", f"{API}/cases/{number}/submittals", body), status, code
    )
    assert_problem(
        world.call(
            "requester-own",
            "POST",
            f"{API}/cases",
            {"org": DMV, "title": "t", "submittals": [body]},
        ),
        status,
        code,
    )
    assert world.desk.counts() == before


@pytest.mark.parametrize(
    ("who", "method", "path", "body", "status", "code"),
    [
        pytest.param("operator", "GET", "/cases/CS-2026-999999", None, 404, "case.unknown",
                     id="unknown-case"),
        pytest.param("operator", "POST", "/cases/CS-2026-999999/submit", None, 404,
                     "case.unknown", id="unknown-case-submit"),
        pytest.param("operator", "POST", "/cases/{draft}/approve", None, 409, "case.state",
                     id="R4/approve-a-draft"),
        pytest.param("requester-own", "POST", "/cases/{draft}/reject", {"reason": "x"}, 403,
                     "auth.forbidden", id="R4/requester-rejects"),
        pytest.param("approver-own", "POST", "/cases/{draft}/reject", {}, 422,
                     "request.invalid", id="R4/reject-without-reason"),
        pytest.param("requester-own", "POST", "/cases/{draft}/submit", None, 400,
                     "case.no_submittal", id="R3/submit-without-submittal"),
        pytest.param("requester-own", "POST", "/cases", {"org": DMV, "title": "t",
                     "requested_delivery": "soon"}, 422, "request.invalid", id="bad-date"),
        pytest.param("requester-own", "POST", "/cases", {"org": DMV, "title": "t",
                     "type": "revoke"}, 400, "case.target", id="R3/revoke-without-target"),
        pytest.param("requester-own", "POST", "/cases/{draft}/comment", {"text": ""}, 422,
                     "request.invalid", id="empty-comment"),
        pytest.param("requester-own", "GET", "/cases?cursor=abc", None, 400, "page.cursor",
                     id="bad-cursor"),
        pytest.param("requester-own", "GET", "/cases?state=lost", None, 422,
                     "request.invalid", id="bad-state"),
        pytest.param("requester-own", "DELETE", "/cases/{draft}/submittals/999999", None, 404,
                     "submittal.unknown", id="unknown-submittal"),
        pytest.param("requester-own", "PATCH", "/orgs/dmv/contacts/99999999999", {}, 422,
                     "request.invalid", id="contact-id-out-of-range"),
    ],
)  # fmt: skip
def test_bad_requests_change_nothing(
    world: CaseApi, who: str, method: str, path: str, body: Any, status: int, code: str
) -> None:
    draft = world.desk.draft("ana", submittals=()).number
    before = world.desk.counts()
    assert_problem(world.call(who, method, API + path.format(draft=draft), body), status, code)
    assert world.desk.counts() == before


# --------------------------------------------------------------------------- the matrix


@dataclass
class Cell:
    method: str
    url: str
    body: Any = None


def _draft(w: CaseApi) -> str:
    return w.desk.draft("ana").number


def _pending(w: CaseApi) -> str:
    return w.desk.pending("ana").number


def _contact(w: CaseApi) -> int:
    added = w.desk.services.contacts.add(
        w.desk["ana"], DMV, ContactInput("technical", "Matrix", f"{w.desk.unique('m')}@dmv.ca.gov")
    )
    return added.id


ACTIONS: dict[str, tuple[Callable[[CaseApi], Cell], dict[str, int | str]]] = {}
F, CASE_404, ORG_404 = "403:auth.forbidden", "404:case.unknown", "404:org.unknown"


def _action(name: str, prepare: Callable[[CaseApi], Cell], **expect: int | str) -> None:
    # ``other`` is what both principals of the other organization get.
    ACTIONS[name] = (prepare, expect)


_action(
    "R3/open",
    lambda w: Cell("POST", f"{API}/cases", {"org": DMV, "title": "m",
                   "submittals": [submittal_json(f"{w.desk.unique('o')}.dmv.ca.gov")]}),
    operator=201, auditor=F, requester_own=201, approver_own=F, delegated_admin_own=201,
    other=ORG_404,
)  # fmt: skip
_action(
    "R3/list-org",
    lambda w: Cell("GET", f"{API}/cases?org={DMV}"),
    operator=200, auditor=200, requester_own=200, approver_own=200, delegated_admin_own=200,
    other=ORG_404,
)  # fmt: skip
_action(
    "R3/show",
    lambda w: Cell("GET", f"{API}/cases/{_draft(w)}"),
    operator=200, auditor=200, requester_own=200, approver_own=200, delegated_admin_own=200,
    other=CASE_404,
)  # fmt: skip
_action(
    "R3/edit",
    lambda w: Cell("PATCH", f"{API}/cases/{_draft(w)}", {"title": "edited"}),
    operator=200, auditor=F, requester_own=200, approver_own=F, delegated_admin_own=200,
    other=CASE_404,
)  # fmt: skip
_action(
    "R3/add-submittal",
    lambda w: Cell("POST", f"{API}/cases/{_draft(w)}/submittals",
                   submittal_json(f"{w.desk.unique('s')}.dmv.ca.gov")),
    operator=201, auditor=F, requester_own=201, approver_own=F, delegated_admin_own=201,
    other=CASE_404,
)  # fmt: skip
_action(
    "R3/submit",
    lambda w: Cell("POST", f"{API}/cases/{_draft(w)}/submit"),
    operator=200, auditor=F, requester_own=200, approver_own=F, delegated_admin_own=200,
    other=CASE_404,
)  # fmt: skip
_action(
    "R4/approve",
    lambda w: Cell("POST", f"{API}/cases/{_pending(w)}/approve"),
    operator=200, auditor=F, requester_own=F, approver_own=200, delegated_admin_own=F,
    other=CASE_404,
)  # fmt: skip
_action(
    "R4/reject",
    lambda w: Cell("POST", f"{API}/cases/{_pending(w)}/reject", {"reason": "no"}),
    operator=200, auditor=F, requester_own=F, approver_own=200, delegated_admin_own=F,
    other=CASE_404,
)  # fmt: skip
_action(
    "R5/start",
    lambda w: Cell("POST", f"{API}/cases/{w.desk.approved().number}/start", {"note": "go"}),
    operator=200, auditor=F, requester_own=F, approver_own=F, delegated_admin_own=F,
    other=CASE_404,
)  # fmt: skip
_action(
    "R3/comment",
    lambda w: Cell("POST", f"{API}/cases/{_draft(w)}/comment", {"text": "hello"}),
    operator=201, auditor=F, requester_own=201, approver_own=201, delegated_admin_own=201,
    other=CASE_404,
)  # fmt: skip
_action(
    "R3/cancel",
    lambda w: Cell("POST", f"{API}/cases/{_pending(w)}/cancel", {"reason": "dup"}),
    operator=200, auditor=F, requester_own=200, approver_own=F, delegated_admin_own=200,
    other=CASE_404,
)  # fmt: skip
_action(
    "R4/get-policy",
    lambda w: Cell("GET", f"{API}/orgs/{DMV}/approval-policy"),
    operator=200, auditor=200, requester_own=200, approver_own=200, delegated_admin_own=200,
    other=ORG_404,
)  # fmt: skip
_action(
    "R4/put-policy",
    lambda w: Cell("PUT", f"{API}/orgs/{DMV}/approval-policy",
                   {"case_type": "delete", "steps": ["org_approver", "operator"]}),
    operator=200, auditor=F, requester_own=F, approver_own=F, delegated_admin_own=F,
    other=ORG_404,
)  # fmt: skip
_action(
    "R9/list-contacts",
    lambda w: Cell("GET", f"{API}/orgs/{DMV}/contacts"),
    operator=200, auditor=200, requester_own=200, approver_own=200, delegated_admin_own=200,
    other=ORG_404,
)  # fmt: skip
_action(
    "R9/add-contact",
    lambda w: Cell("POST", f"{API}/orgs/{DMV}/contacts",
                   {"kind": "technical", "name": "New",
                    "email": f"{w.desk.unique('new')}@dmv.ca.gov"}),
    operator=201, auditor=F, requester_own=201, approver_own=F, delegated_admin_own=201,
    other=ORG_404,
)  # fmt: skip
_action(
    "R9/change-contact",
    lambda w: Cell("PATCH", f"{API}/orgs/{DMV}/contacts/{_contact(w)}", {"name": "Changed"}),
    operator=200, auditor=F, requester_own=200, approver_own=F, delegated_admin_own=200,
    other=ORG_404,
)  # fmt: skip
_action(
    "R9/remove-contact",
    lambda w: Cell("DELETE", f"{API}/orgs/{DMV}/contacts/{_contact(w)}"),
    operator=200, auditor=F, requester_own=200, approver_own=F, delegated_admin_own=200,
    other=ORG_404,
)  # fmt: skip


def _expected(expect: dict[str, int | str], principal: str) -> int | str:
    if principal == "no-token":
        return "401:auth.token"
    if principal.endswith("-other"):
        return expect["other"]
    return expect[principal.replace("-", "_")]


CELLS = [
    pytest.param(action, principal, id=f"{action}/{principal}")
    for action in ACTIONS
    for principal in PRINCIPALS
]


@pytest.mark.parametrize(("action", "principal"), CELLS)
def test_authorization_matrix(world: CaseApi, action: str, principal: str) -> None:
    prepare, expect = ACTIONS[action]
    cell = prepare(world)
    wanted = _expected(expect, principal)
    before = world.desk.counts()
    resp = world.call(principal, cell.method, cell.url, cell.body)
    after = world.desk.counts()
    if isinstance(wanted, int):
        assert resp.status_code == wanted, resp.text
        if cell.method != "GET":
            assert after["audit"] > before["audit"]  # R15: the change was audited
        else:
            assert after == before
    else:
        status, code = wanted.split(":")
        assert_problem(resp, int(status), code)
        assert after == before
