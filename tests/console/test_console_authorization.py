"""R2/R10: every console route with an object in its path hides another agency's object.

The routes are read from the app itself, so a page added later without a row here fails
this test instead of slipping through. Each is asked by a person of another agency (chp)
for dmv's objects: a page answers 404 (never 200, never a redirect to a page of the object),
a form post is refused (403/404; 400 when the form itself is incomplete, which says nothing
about the object) and changes nothing (the audit log, where every change is an event, R15,
keeps its length), and no answer shows the object's names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import trustme
from cryptography import x509
from fastapi.routing import APIRoute
from sqlalchemy import func, select

from certdesk.core.access import Role
from certdesk.store.models import AuditRow
from certdesk.web.console.guard import is_console_path
from certdesk.web.console.pages import PAGES
from conftest import OPERATOR
from world.console import Visitor, console_desk, set_password, visitor
from world.desk import DMV, Desk, add_person, contact, desk_fixture, sub

SECRET_NAME = "hidden-{n}.dmv.ca.gov"

# path parameter → which dmv object fills it (see ``objects``)
PARAMS = {
    "serial": "serial",
    "number": "case",
    "submittal_id": "submittal",
    "id": "submittal",
    "code": "org",
    "org": "org",
    "org_code": "org",
    "login": "login",
    "login_id": "login",
    "prefix": "prefix",
    "contact_id": "contact",
    "external_id": "external",
    "webhook_id": "webhook",
    "attachment_id": "attachment",
    "job_id": "discovery_job",
}
# Routes with a path parameter that is not another agency's object (a vendor CA is cert
# services' own; agencies are refused it outright: tests/ca/acme/test_vendor_console.py).
# Vendor contracts are cert services' alone (tests/console/test_console_contracts.py).
PUBLIC = {
    "/enroll/{token}",
    "/issuers/{name}/disable",
    "/issuers/{name}/rollover",
    "/contracts/{contract_id}",
}


desk = desk_fixture("console-authz", backend="sqlite", opener=console_desk)


@pytest.fixture(scope="module")
def objects(desk: Desk) -> dict[str, str]:
    """dmv's objects: a delivered case and its certificate, a contact, a token, a person."""
    svc = desk.services
    name = SECRET_NAME.format(n=1)
    view = desk.approved(DMV, submittals=(sub(name),))
    number = svc.fulfilment.fulfil(desk["opal"], view.number).number
    delivery = svc.window.certificates_of_case(desk["opal"], number)
    added = svc.contacts.add(OPERATOR, DMV, contact("billing", "bea"))
    attached = svc.attachments.attach(OPERATOR, number, f"{name}.txt", b"secret minutes\n")
    token = svc.tokens.create(OPERATOR, role=Role.REQUESTER, org_code=DMV, label="dmv script")
    case = svc.cases.show(desk["opal"], number)
    issued = trustme.CA().issue_cert("outside.dmv.ca.gov")
    outside, _ = svc.external.add(
        OPERATOR, x509.load_pem_x509_certificate(issued.cert_chain_pems[0].bytes()),
        source="import",
    )  # fmt: skip
    assert outside is not None
    hook = svc.webhooks.add(OPERATOR, "https://dmv.example/hook", org_code=DMV)
    job = svc.discovery_jobs.start(OPERATOR, ["127.0.0.1:9"])  # cert services', queued
    return {
        "serial": delivery.certificates[0].serial,
        "case": number,
        "submittal": str(case.submittals[0].id),
        "org": DMV,
        "login": "ana",
        "prefix": token.prefix,
        "contact": str(added.id),
        "webhook": str(hook.webhook.id),
        "attachment": str(attached.id),
        "discovery_job": str(job.id),
        "name": name,
        "external": str(outside.id),
    }


def console_routes() -> list[tuple[str, str]]:
    """(method, path) of every console route with a path parameter."""
    out = []
    for route in (r for module in PAGES for r in module.router.routes):
        if not isinstance(route, APIRoute) or "{" not in route.path:
            continue
        if not is_console_path(route.path) or route.path in PUBLIC:
            continue
        for method in sorted(route.methods - {"HEAD"}):
            out.append((method, route.path))
    return sorted(out)


ROUTES = console_routes()


def audit_length(desk: Desk) -> int:
    with desk.services.rt.reads() as s:
        return int(s.scalar(select(func.count()).select_from(AuditRow)) or 0)


def fill(path: str, objects: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        param = match.group(1)
        assert param in PARAMS, f"add {param!r} of {path} to PARAMS"
        return objects[PARAMS[param]]

    return re.sub(r"\{(\w+)(?::\w+)?\}", one, path)


def test_every_console_route_with_an_object_is_listed() -> None:
    assert len(ROUTES) >= 30, ROUTES  # the console's object pages and actions
    for _method, path in ROUTES:
        for param in re.findall(r"\{(\w+)", path):
            assert param in PARAMS, f"{path}: add {param!r} to PARAMS"


@pytest.fixture(scope="module")
def outsiders(desk: Desk) -> Iterator[dict[str, Visitor]]:
    """chp's requester, and a chp delegated administrator, signed in."""
    desk.people["chad"] = add_person(desk.services, "chad", "chp", [Role.DELEGATED_ADMIN])
    set_password(desk, "chad")
    with visitor(desk, "carl") as carl, visitor(desk, "chad") as chad:
        yield {"carl": carl, "chad": chad}


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
@pytest.mark.parametrize("who", ["carl", "chad"])
def test_r2_another_agency_object_is_not_found(
    desk: Desk,
    objects: dict[str, str],
    outsiders: dict[str, Visitor],
    who: str,
    method: str,
    path: str,
) -> None:
    v = outsiders[who]
    url = fill(path, objects)
    before = audit_length(desk)
    if method == "GET":
        response = v.get(url)
        assert response.status_code == 404, (url, response.status_code, response.text[:300])
    else:
        response = v.post(url, {})
        assert response.status_code in (400, 403, 404), (url, response.status_code)
    assert objects["name"] not in response.text
    assert audit_length(desk) == before, f"{method} {url} changed something"


GETS = [p for m, p in ROUTES if m == "GET"]


@pytest.mark.parametrize("path", GETS, ids=GETS)
def test_r2_the_same_urls_open_for_cert_services(
    desk: Desk, objects: dict[str, str], path: str
) -> None:
    """The control: the filled-in URLs name real objects (a 404 above is not a typo's)."""
    with visitor(desk, "opal") as opal:
        response = opal.get(fill(path, objects))
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
