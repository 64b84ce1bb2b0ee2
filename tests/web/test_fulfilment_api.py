"""/api/v1/cases/{number}/fulfil|complete|close|certificates|revoke|reissue, the one key
download, /api/v1/certificates/{serial}/renewal-case, /api/v1/reports/usage and
/api/v1/orgs/{code}/cost (R2, R8, R11, R12), on SQLite and PostgreSQL.

One populated certdesk per backend behind one TestClient (``tests/world/desk.py``), with an
API token per principal; refused calls are checked for their status, problem code and that
nothing changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from certdesk.core.access import Role
from certdesk.services.casework.cases import CaseInput
from conftest import BACKENDS
from world.api import CaseApi, case_api
from world.csr import make_csr
from world.desk import CHP, DMV, START, add_agency, approved_case, delivered, sub
from world.refusals import refused_request

API = "/api/v1"
PASSWORD = "correct horse battery staple"

TOKENS: dict[str, tuple[Role, str | None]] = {
    "operator": (Role.OPERATOR, None),
    "auditor": (Role.AUDITOR, None),
    "requester-own": (Role.REQUESTER, DMV),
    "approver-own": (Role.APPROVER, DMV),
    "delegated_admin-own": (Role.DELEGATED_ADMIN, DMV),
    "requester-other": (Role.REQUESTER, CHP),
}


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CaseApi]:
    with case_api(request.param, tmp_path_factory.mktemp("fulfilapi"), TOKENS) as world:
        yield world


@pytest.fixture(autouse=True)
def _start(world: CaseApi) -> None:
    world.desk.at(START)


def test_operator_fulfils_and_the_requester_receives(world: CaseApi) -> None:
    desk = world.desk
    view = desk.approved(
        DMV,
        submittals=(
            sub(f"{desk.unique('www')}.dmv.ca.gov", validity_days=90),
            sub(csr=make_csr([f"{desk.unique('api')}.dmv.ca.gov"])),
        ),
    )
    url = f"{API}/cases/{view.number}"
    refused_request(
        lambda: world.call("requester-own", "POST", url + "/fulfil"),
        403,
        "auth.forbidden",
        state=world.desk.snapshot,
    )
    resp = world.call("operator", "POST", url + "/fulfil")
    assert resp.status_code == 200, resp.text
    case = resp.json()
    assert case["state"] == "delivered"
    assert case["window_ends_at"] == (START + timedelta(days=25)).isoformat().replace("+00:00", "Z")
    assert all(s["certificate"] for s in case["submittals"])

    got = world.call("requester-own", "GET", url + "/certificates").json()
    assert got["window_open"] is True and len(got["certificates"]) == 2
    assert [c["key"] for c in got["certificates"]] == ["stored", "agency"]
    assert got["certificates"][0]["fullchain"].count("BEGIN CERTIFICATE") == 2
    for who in ("approver-own", "auditor"):
        assert world.call(who, "GET", url + "/certificates").status_code == 200

    key_url = f"{url}/submittals/{case['submittals'][0]['id']}/key"
    refused_request(
        lambda: world.call("requester-own", "POST", key_url, {"password": "x"}),
        400,
        "pkcs12.password",
        state=world.desk.snapshot,
    )
    refused_request(
        lambda: world.call("requester-other", "POST", key_url, {"password": PASSWORD}),
        404,
        "case.unknown",
        state=world.desk.snapshot,
    )
    refused_request(
        lambda: world.call("approver-own", "POST", key_url, {"password": PASSWORD}),
        403,
        "auth.forbidden",
        state=world.desk.snapshot,
    )
    resp = world.call("requester-own", "POST", key_url, {"password": PASSWORD})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/x-pkcs12"
    assert resp.headers["cache-control"] == "no-store"
    key, cert, _chain = pkcs12.load_key_and_certificates(resp.content, PASSWORD.encode())
    assert key is not None and cert is not None
    body = refused_request(
        lambda: world.call("requester-own", "POST", key_url, {"password": PASSWORD}),
        409,
        "key.downloaded",
        state=world.desk.snapshot,
    )
    assert "cannot be downloaded again" in body["detail"]
    agency_key = f"{url}/submittals/{case['submittals'][1]['id']}/key"
    refused_request(
        lambda: world.call("requester-own", "POST", agency_key, {"password": PASSWORD}),
        409,
        "key.none",
        state=world.desk.snapshot,
    )


WINDOW_ACTIONS = ["revoke", "reissue"]


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        pytest.param("requester-own", 200, None, id="R8/requester"),
        pytest.param("delegated_admin-own", 200, None, id="R8/delegated-admin"),
        pytest.param("operator", 200, None, id="R8/operator"),
        pytest.param("approver-own", 403, "auth.forbidden", id="R8/approver"),
        pytest.param("auditor", 403, "auth.forbidden", id="R8/auditor"),
        pytest.param("requester-other", 404, "case.unknown", id="R8/other-org"),
        pytest.param("no-token", 401, "auth.token", id="R8/no-token"),
    ],
)
@pytest.mark.parametrize("action", WINDOW_ACTIONS)
def test_window_actions_by_principal(
    world: CaseApi, who: str, status: int, code: str | None, action: str
) -> None:
    view = delivered(world.desk)
    first = view.submittals[0]
    body = (
        {"serial": first.certificate_serial, "reason": "keyCompromise"}
        if action == "revoke"
        else {"submittal_id": first.id, "platform": "dedicated"}
    )
    url = f"{API}/cases/{view.number}/{action}"
    if code is not None:
        refused_request(
            lambda: world.call(who, "POST", url, body), status, code, state=world.desk.snapshot
        )
        return
    resp = world.call(who, "POST", url, body)
    assert resp.status_code == 200, resp.text
    certs = resp.json()["certificates"]
    if action == "revoke":
        assert certs[0]["status"] == "revoked"
    else:
        # R8: the replaced certificate stays valid until the window closes (the overlap).
        assert certs[0]["status"] == "active"
        assert certs[0]["retire_at"] == resp.json()["window_ends_at"]
        assert certs[1]["renewal_of"] == first.certificate_serial
        assert certs[1]["platform"] == "dedicated" and certs[1]["submittal_id"] == first.id


@pytest.mark.parametrize(
    "days", [pytest.param(24, id="R8/day-24-ok"), pytest.param(25, id="R8/day-25-refused")]
)
def test_window_closes_after_25_days(world: CaseApi, days: int) -> None:
    view = delivered(world.desk)
    world.desk.clock.advance(days=days)
    url = f"{API}/cases/{view.number}/reissue"
    body = {"submittal_id": view.submittals[0].id}
    if days < 25:
        assert world.call("requester-own", "POST", url, body).status_code == 200
        return
    refused_body = refused_request(
        lambda: world.call("requester-own", "POST", url, body),
        409,
        "case.window_closed",
        state=world.desk.snapshot,
    )
    assert "open a new case (R8)" in refused_body["detail"]


def test_complete_close_and_renewal_case(world: CaseApi) -> None:
    desk = world.desk
    view = delivered(desk)
    serial = view.submittals[0].certificate_serial
    resp = world.call("requester-own", "POST", f"{API}/certificates/{serial}/renewal-case")
    assert resp.status_code == 201, resp.text
    renewal = resp.json()
    assert renewal["type"] == "renewal" and renewal["target_certificate"] == serial
    assert renewal["submittals"][0]["names"] == list(view.submittals[0].names)
    refused_request(
        lambda: world.call("requester-own", "POST", f"{API}/certificates/{serial}/renewal-case"),
        409,
        "case.renewal_open",
        state=world.desk.snapshot,
    )
    refused_request(
        lambda: world.call("requester-other", "POST", f"{API}/certificates/{serial}/renewal-case"),
        404,
        "cert.unknown",
        state=world.desk.snapshot,
    )

    closed = world.call("requester-own", "POST", f"{API}/cases/{view.number}/close")
    assert closed.status_code == 200 and closed.json()["state"] == "closed"

    question = desk.services.cases.open(desk["ana"], CaseInput(DMV, "question", "Which form?"))
    desk.services.cases.submit(desk["ana"], question.number)
    url = f"{API}/cases/{question.number}/complete"
    refused_request(
        lambda: world.call("operator", "POST", url), 400, "case.answer", state=world.desk.snapshot
    )
    refused_request(
        lambda: world.call("requester-own", "POST", url, {"comment": "x"}),
        403,
        "auth.forbidden",
        state=world.desk.snapshot,
    )
    done = world.call("operator", "POST", url, {"comment": "The SAN form."})
    assert done.status_code == 200 and done.json()["comments"][-1]["text"] == "The SAN form."


def test_usage_report_and_cost(world: CaseApi) -> None:
    desk = world.desk
    agency = add_agency(desk, "apic")
    url = f"{API}/orgs/{agency.code}/cost"
    refused_request(
        lambda: world.call("auditor", "PUT", url, {"cents_per_year": 1}),
        403,
        "auth.forbidden",
        state=world.desk.snapshot,
    )
    refused_request(
        lambda: world.call("requester-own", "PUT", url, {"cents_per_year": 1}),
        404,
        "org.unknown",
        state=world.desk.snapshot,
    )
    resp = world.call("operator", "PUT", url, {"cents_per_year": 73000})
    assert resp.json() == {
        "organization": agency.code,
        "service": "managed",
        "cents_per_year": 73000,
        "effective_cents_per_year": 73000,
        "default": False,
    }
    case = approved_case(
        desk, agency.code, agency.requester, agency.approver,
        [sub(f"www.{agency.code}.ca.gov", validity_days=73, platform="dedicated")],
    )  # fmt: skip
    desk.services.fulfilment.fulfil(desk["opal"], case.number)
    day = START.date().isoformat()
    params = {"org": agency.code, "from": day, "to": day}
    got = world.call("auditor", "GET", f"{API}/reports/usage", **params)
    assert got.status_code == 200, got.text
    assert got.json()["rows"] == [
        {
            "organization": agency.code, "name": f"Agency {agency.code}", "service": "managed",
            "certificates": 1, "dedicated": 1, "virtual": 0, "cost_cents": 14600,
        }
    ]  # fmt: skip
    assert got.json()["from"] == day
    csv = world.call("operator", "GET", f"{API}/reports/usage", format="csv", **params)
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[1] == (
        f"{agency.code},Agency {agency.code},managed,1,1,0,14600,146.00"
    )
    own = {**params, "org": DMV}
    refused_request(
        lambda: world.call("requester-own", "GET", f"{API}/reports/usage", **own),
        403,
        "auth.forbidden",
        state=world.desk.snapshot,
    )
    refused_request(
        lambda: world.call("delegated_admin-own", "GET", f"{API}/reports/usage", **params),
        404,
        "org.unknown",
        state=world.desk.snapshot,
    )
    refused_request(
        lambda: world.call(
            "operator", "GET", f"{API}/reports/usage", **{"from": day, "to": "2026-01-01"}
        ),
        400,
        "report.period",
        state=world.desk.snapshot,
    )
    assert world.call("operator", "GET", f"{API}/reports/usage", to=day).status_code == 422


def test_openapi_documents_the_fulfilment_routes(world: CaseApi) -> None:
    paths = world.client.get("/openapi.json").json()["paths"]
    for path, method in [
        ("/api/v1/cases/{number}/fulfil", "post"),
        ("/api/v1/cases/{number}/complete", "post"),
        ("/api/v1/cases/{number}/close", "post"),
        ("/api/v1/cases/{number}/certificates", "get"),
        ("/api/v1/cases/{number}/submittals/{submittal_id}/key", "post"),
        ("/api/v1/cases/{number}/revoke", "post"),
        ("/api/v1/cases/{number}/reissue", "post"),
        ("/api/v1/certificates/{serial}/renewal-case", "post"),
        ("/api/v1/reports/usage", "get"),
        ("/api/v1/orgs/{code}/cost", "put"),
    ]:
        assert method in paths[path], path
        assert paths[path][method].get("security"), path
    key = paths["/api/v1/cases/{number}/submittals/{submittal_id}/key"]["post"]
    assert "application/x-pkcs12" in key["responses"]["200"]["content"]
