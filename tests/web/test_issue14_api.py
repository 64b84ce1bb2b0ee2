"""The API of organization contacts, case attachments and vendor contracts: a file comes back
only to the case's parties and always as a download; contracts are cert services' alone;
contact replacement is one call. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from certdesk.core.access import Role
from certdesk.services.casework.contacts import ContactInput
from conftest import BACKENDS
from world.api import CaseApi, bearer, case_api
from world.desk import CHP, DMV, START, sub
from world.refusals import assert_problem

API = "/api/v1"
TOKENS: dict[str, tuple[Role, str | None]] = {
    "operator": (Role.OPERATOR, None),
    "auditor": (Role.AUDITOR, None),
    "requester-own": (Role.REQUESTER, DMV),
    "approver-own": (Role.APPROVER, DMV),
    "delegated_admin-own": (Role.DELEGATED_ADMIN, DMV),
    "other": (Role.REQUESTER, CHP),
}


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CaseApi]:
    with case_api(request.param, tmp_path_factory.mktemp("issue14api"), TOKENS) as world:
        world.desk.at(START)
        yield world


def upload(world: CaseApi, who: str, number: str, name: str, data: bytes) -> httpx.Response:
    headers = {"Content-Type": "application/octet-stream"}
    headers.update(bearer(world.secrets[who]))
    return world.client.post(
        f"{API}/cases/{number}/attachments", params={"filename": name}, content=data,
        headers=headers,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("who", "status"),
    [
        pytest.param("requester-own", 201, id="R2/requester-attaches"),
        pytest.param("approver-own", 201, id="R2/approver-attaches"),
        pytest.param("operator", 201, id="R2/cert-services-attach"),
        pytest.param("auditor", 403, id="R2/auditor-reads-only"),
        pytest.param("other", 404, id="R2/another-agency-sees-no-case"),
    ],
)
def test_attach_by_party(world: CaseApi, who: str, status: int) -> None:
    number = world.desk.draft("ana", DMV).number
    resp = upload(world, who, number, "Übersicht <1>.html", b"<html><script>x</script>")
    assert resp.status_code == status, resp.text


def test_a_file_posted_as_a_multipart_form_is_refused(world: CaseApi) -> None:
    # The app's character check parsed a multipart form and the upload route then found its
    # stream consumed (a 500). The route takes the file's bytes as the body, nothing else.
    number = world.desk.draft("ana", DMV).number
    resp = world.client.post(
        f"{API}/cases/{number}/attachments",
        params={"filename": "plan.txt"},
        files={"file": ("plan.txt", b"the plan")},
        headers=bearer(world.secrets["requester-own"]),
    )
    assert resp.status_code == 400, resp.text
    assert "not as a form" in resp.json()["detail"]
    listed = world.call("requester-own", "GET", f"{API}/cases/{number}/attachments")
    assert listed.json() == []


def test_download_is_always_an_inert_attachment(world: CaseApi) -> None:
    number = world.desk.draft("ana", DMV).number
    resp = upload(world, "requester-own", number, "Übersicht <1>.html", b"<html><script>x")
    held = resp.json()
    assert held["content_type"] == "application/octet-stream"  # never text/html
    listed = world.call("approver-own", "GET", f"{API}/cases/{number}/attachments").json()
    assert [a["id"] for a in listed] == [held["id"]]
    got = world.call("auditor", "GET", f"{API}/cases/{number}/attachments/{held['id']}")
    assert got.status_code == 200 and got.content == b"<html><script>x"
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert got.headers["content-disposition"] == (
        "attachment; filename=\"_bersicht _1_.html\"; filename*=UTF-8''"
        + quote("Übersicht <1>.html", safe="")
    )
    hidden = world.call("other", "GET", f"{API}/cases/{number}/attachments/{held['id']}")
    made_up = world.call("other", "GET", f"{API}/cases/{number[:-4]}9999/attachments/1")
    assert_problem(hidden, 404, "case.unknown")
    assert hidden.json()["detail"].replace(number, "N") == made_up.json()["detail"].replace(
        number[:-4] + "9999", "N"
    )


def test_an_oversize_body_is_refused_before_it_is_stored(world: CaseApi) -> None:
    number = world.desk.draft("ana", DMV).number
    limit = world.desk.services.attachments.limits.max_bytes
    before = world.desk.counts()
    resp = upload(world, "requester-own", number, "big.bin", b"x" * (limit + 1))
    body = assert_problem(resp, 413, "attachment.too_large")
    assert body["limit"] == limit and f"at most {limit:,} are accepted" in body["detail"]
    assert world.desk.counts() == before


def test_an_oversize_body_without_a_length_is_refused_with_413(world: CaseApi) -> None:
    """A chunked body (no Content-Length) is cut off once it passes the limit."""
    number = world.desk.draft("ana", DMV).number
    limit = world.desk.services.attachments.limits.max_bytes
    before = world.desk.counts()

    def chunks() -> Iterator[bytes]:
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    headers = {"Content-Type": "application/octet-stream"}
    headers.update(bearer(world.secrets["requester-own"]))
    resp = world.client.post(
        f"{API}/cases/{number}/attachments", params={"filename": "big.bin"}, content=chunks(),
        headers=headers,
    )  # fmt: skip
    body = assert_problem(resp, 413, "attachment.too_large")
    assert body["limit"] == limit and "more than" in body["detail"]
    assert world.desk.counts() == before


def test_r15_each_download_is_audited(world: CaseApi) -> None:
    number = world.desk.draft("ana", DMV).number
    held = upload(world, "requester-own", number, "a.txt", b"minutes\n").json()
    url = f"{API}/cases/{number}/attachments/{held['id']}"
    for who in ("approver-own", "auditor"):
        assert world.call(who, "GET", url).status_code == 200
    assert world.call("other", "GET", url).status_code == 404  # not a download: no event
    assert world.desk.audit_actions(number)[-3:] == [
        "case.attach", "case.attachment_download", "case.attachment_download"]  # fmt: skip


@pytest.mark.parametrize(
    ("uploader", "who", "status"),
    [
        pytest.param("requester-own", "requester-own", 204, id="delete/own-editor"),
        pytest.param("approver-own", "delegated_admin-own", 204, id="delete/org-admin"),
        pytest.param("requester-own", "operator", 204, id="delete/cert-services"),
        pytest.param("requester-own", "approver-own", 403, id="delete/approver-refused"),
        pytest.param("requester-own", "auditor", 403, id="delete/auditor-refused"),
        pytest.param("operator", "requester-own", 403, id="delete/not-cert-services-file"),
        pytest.param("requester-own", "other", 404, id="delete/R2-other-agency-sees-nothing"),
    ],
)
def test_delete_an_attachment(world: CaseApi, uploader: str, who: str, status: int) -> None:
    number = world.desk.draft("ana", DMV).number
    held = upload(world, uploader, number, "a.txt", b"minutes\n").json()
    url = f"{API}/cases/{number}/attachments/{held['id']}"
    before = world.desk.counts()
    resp = world.call(who, "DELETE", url)
    assert resp.status_code == status, resp.text
    if status != 204:
        assert world.desk.counts() == before
        assert world.call("operator", "GET", url).status_code == 200
        return
    assert resp.content == b""
    assert world.desk.audit_actions(number)[-1] == "case.attachment_delete"
    assert_problem(world.call("operator", "GET", url), 404, "attachment.unknown")


def test_delete_refused_once_the_case_is_closed(world: CaseApi) -> None:
    desk = world.desk
    view = desk.approved(DMV)
    number = desk.services.fulfilment.fulfil(desk["opal"], view.number).number
    held = upload(world, "requester-own", number, "a.txt", b"minutes\n").json()
    desk.services.fulfilment.close(desk["ana"], number)
    before = desk.counts()
    resp = world.call("operator", "DELETE", f"{API}/cases/{number}/attachments/{held['id']}")
    assert_problem(resp, 409, "attachment.case_finished")
    assert desk.counts() == before


@pytest.mark.parametrize(
    ("who", "status"),
    [
        pytest.param("operator", 201, id="cert-services-record"),
        pytest.param("auditor", 403, id="auditor-refused"),
        pytest.param("delegated_admin-own", 403, id="agency-admin-refused"),
        pytest.param("requester-own", 403, id="agency-requester-refused"),
    ],
)
def test_contracts_are_cert_services_alone(world: CaseApi, who: str, status: int) -> None:
    number = world.desk.unique("V-API-")
    body = {"vendor": "Example CA", "number": number, "licences_total": 10,
            "licences_used": 2, "starts_on": "2026-01-01", "ends_on": "2027-01-01"}  # fmt: skip
    resp = world.call(who, "POST", f"{API}/contracts", body)
    assert resp.status_code == status, resp.text
    for method, url, payload in (
        ("GET", f"{API}/contracts", None),
        ("GET", f"{API}/contracts/{number}", None),
        ("PATCH", f"{API}/contracts/{number}", {"licences_used": 3}),
    ):
        answered = world.call(who, method, url, payload)
        assert answered.status_code == (200 if status == 201 else 403), answered.text
    if status == 201:
        shown = world.call(who, "GET", f"{API}/contracts/{number}").json()
        assert (shown["licences_used"], shown["ends_on"]) == (3, "2027-01-01")
        bad = world.call(who, "PATCH", f"{API}/contracts/{number}", {"ends_on": "2025-01-01"})
        assert_problem(bad, 400, "contract.dates")


def test_replace_a_contact_in_one_call(world: CaseApi) -> None:
    desk = world.desk
    old = ContactInput("technical", "Olga", f"{desk.unique('olga')}@dmv.ca.gov")
    number = desk.draft("ana", DMV, submittals=(sub(f"{desk.unique('w')}.dmv.ca.gov",
                                                    contacts=(old,)),)).number  # fmt: skip
    new = world.call("requester-own", "POST", f"{API}/orgs/{DMV}/contacts",
                     {"kind": "billing", "name": "Nora",
                      "email": f"{desk.unique('nora')}@dmv.ca.gov"}).json()  # fmt: skip
    done = world.call("requester-own", "POST", f"{API}/orgs/{DMV}/contacts/replace",
                      {"old": old.email, "new": str(new["id"])})  # fmt: skip
    assert done.status_code == 200, done.text
    assert done.json()["cases"] == [number] and done.json()["old_removed"] is True
    detail = world.call("approver-own", "GET", f"{API}/orgs/{DMV}/contacts/{new['id']}").json()
    assert [(u["case"], u["kind"]) for u in detail["named_on"]] == [(number, "technical")]
    refused = world.call("approver-own", "POST", f"{API}/orgs/{DMV}/contacts/replace",
                         {"old": str(new["id"]), "new": str(new["id"])})  # fmt: skip
    assert_problem(refused, 403, "auth.forbidden")
    hidden = world.call("other", "POST", f"{API}/orgs/{DMV}/contacts/replace",
                        {"old": "1", "new": "2"})  # fmt: skip
    assert_problem(hidden, 404, "org.unknown")
