"""Issue 10 finding 4 (R2): no API answer tells another agency's object from one that does
not exist.

The routes are read from the API routers themselves (as the console's matrix in
tests/console/test_console_authorization.py reads the console's), so a route added later with
an object in its path, or an ``org``/``cert``/``case`` filter, is checked without a row here.
For each one, each agency principal of chp asks twice: once naming dmv's object ("exists
elsewhere"), once naming a made-up object of the same shape ("does not exist"). The two
answers must be the same problem byte for byte: status, content type and body, where the
detail may echo the identifier the caller sent (compared with the identifier replaced by its
parameter's name). Routes with two objects are asked a second time with the caller's own
parent object, so that the child alone must not give the other agency's away either.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import trustme
from cryptography import x509
from fastapi.routing import APIRoute

import certdesk.web.api as api_package
from certdesk.core.access import Role
from conftest import BACKENDS, OPERATOR
from world.acme import register_through
from world.api import CaseApi, case_api
from world.csr import make_csr
from world.desk import CHP, DMV, START, contact, sub
from world.refusals import PROBLEM

# The principals who ask: chp's agency roles (dmv is "the other agency"); cert services only
# for the control (the objects named exist).
TOKENS: dict[str, tuple[Role, str | None]] = {
    "requester": (Role.REQUESTER, CHP),
    "approver": (Role.APPROVER, CHP),
    "delegated_admin": (Role.DELEGATED_ADMIN, CHP),
    "operator": (Role.OPERATOR, None),
}
AGENCY = ["requester", "approver", "delegated_admin"]

# Parameter (in the path, or a query filter) → the kind of object it names. A path
# parameter missing here fails test_every_object_parameter_is_known.
OBJECT_PARAMS = {
    "serial": "serial",
    "number": "case",
    "submittal_id": "submittal",
    "code": "org",
    "contact_id": "contact",
    "grant": "grant",
    "login": "login",
    "prefix": "prefix",
    "kid": "eab",  # an ACME EAB key (R17)
    "account_id": "acme_account",
    "external_id": "external",  # an external certificate (R18)
    "webhook_id": "webhook",  # an outbound webhook (issue 14)
    "attachment_id": "attachment",
    "job_id": "discovery_job",  # a discovery job (R18): its requester's organization's
}
QUERY_FILTERS = {"org": "org", "cert": "serial", "case": "case"}
# Path parameters that name no agency's object: a vendor issuer is cert services' (R16).
# A vendor contract is cert services' too (an agency is refused every contract route).
NOT_OBJECTS: set[str] = {"name", "contract"}

# The body each route with one is asked with: valid, so that the answer comes from looking
# the object up and not from the request's shape. ``{kind}`` is filled like the path.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/cases"): {
        "org": "{org}",
        "type": "new",
        "title": "probe",
        "submittals": [
            {
                "names": ["www.chp.ca.gov"],
                "contacts": [{"kind": "technical", "name": "Carl", "email": "carl@chp.ca.gov"}],
            }
        ],
    },
    ("PATCH", "/api/v1/cases/{number}"): {"title": "probe"},
    ("POST", "/api/v1/cases/{number}/submittals"): {
        "names": ["probe.chp.ca.gov"],
        "contacts": [{"kind": "technical", "name": "Carl", "email": "carl@chp.ca.gov"}],
    },
    ("POST", "/api/v1/cases/{number}/approve"): {"note": ""},
    ("POST", "/api/v1/cases/{number}/reject"): {"reason": "probe"},
    ("POST", "/api/v1/cases/{number}/start"): {"note": ""},
    ("POST", "/api/v1/cases/{number}/comment"): {"text": "probe"},
    ("POST", "/api/v1/cases/{number}/cancel"): {"reason": "probe"},
    ("POST", "/api/v1/cases/{number}/complete"): {"comment": "probe"},
    ("POST", "/api/v1/cases/{number}/submittals/{submittal_id}/key"): {
        "password": "a long enough password"
    },
    ("POST", "/api/v1/cases/{number}/revoke"): {"serial": "{serial}"},
    ("POST", "/api/v1/cases/{number}/reissue"): {"submittal_id": "{submittal}"},
    ("PUT", "/api/v1/orgs/{code}/approval-policy"): {"case_type": "new", "steps": None},
    ("POST", "/api/v1/certificates"): {"org": "{org}", "csr": "{csr}"},
    ("POST", "/api/v1/certificates/{serial}/revoke"): {"reason": "unspecified"},
    ("POST", "/api/v1/orgs/{code}/contacts"): {
        "kind": "billing",
        "name": "Probe",
        "email": "probe@chp.ca.gov",
    },
    ("PATCH", "/api/v1/orgs/{code}/contacts/{contact_id}"): {"name": "Probe"},
    ("POST", "/api/v1/orgs/{code}/contacts/replace"): {"old": "1", "new": "2"},
    ("PATCH", "/api/v1/contracts/{contract}"): {"notes": "probe"},
    ("PATCH", "/api/v1/orgs/{code}"): {"self_managed": True},
    ("POST", "/api/v1/orgs/{code}/grants"): {"grant": "zone:probe.ca.gov"},
    ("PUT", "/api/v1/orgs/{code}/grants/issuer"): {"grant": "zone:dmv.ca.gov", "issuer": "builtin"},
    ("PUT", "/api/v1/orgs/{code}/cost"): {"cents_per_year": 100},
    ("POST", "/api/v1/policy/check"): {"names": ["www.chp.ca.gov"], "org": "{org}"},
    ("POST", "/api/v1/csr/validate"): {"csr": "{csr}", "org": "{org}"},
    ("POST", "/api/v1/tokens"): {"role": "requester", "org": "{org}"},
    ("POST", "/api/v1/users"): {
        "login_id": "probe",
        "name": "Probe",
        "email": "probe@chp.ca.gov",
        "org": "{org}",
        "roles": ["requester"],
    },
    ("PUT", "/api/v1/users/{login}/roles"): {"roles": ["requester"]},
    ("POST", "/api/v1/acme/accounts/{account_id}/persist-record"): {"domain": "www.dmv.ca.gov"},
    ("PUT", "/api/v1/external/{external_id}/contacts"): {
        "contacts": [{"name": "Probe", "email": "probe@chp.ca.gov"}]
    },
    ("POST", "/api/v1/external/{external_id}/assign"): {"org": None},
    ("PUT", "/api/v1/users/{login}/mail-preferences"): {"choices": {"submitted": "digest"}},
    ("POST", "/api/v1/webhooks"): {"url": "https://probe.example/hook", "org": "{org}"},
}
# Body fields that name an object (filled like the path, so both answers are compared).
BODY_OBJECTS = {"org", "serial", "submittal"}
# Query parameters a route needs to be asked at all (a report's period).
REQUIRED_QUERY = {
    "/api/v1/reports/usage": {"from": "2026-01-01", "to": "2026-12-31"},
    "/api/v1/reports/sla": {"from": "2026-01-01", "to": "2026-12-31"},
    "/api/v1/cases/{number}/attachments": {"filename": "probe.txt"},
}
# Nested routes whose own parent case must be a draft (changing submittals); the others
# are asked with an own delivered case, so that the child is looked up at all.
DRAFT_PARENT = {"/api/v1/cases/{number}/submittals/{submittal_id}"}


@dataclass(frozen=True)
class Probe:
    """One route and the object parameters it is asked about."""

    method: str
    path: str  # as declared, with {parameters}
    objects: tuple[str, ...]  # the object kinds named in the path, in order
    query: tuple[str, ...]  # query filters naming objects
    body: bool

    @property
    def kinds(self) -> set[str]:
        """Every kind of object this probe names (path, query and body)."""
        body = json.dumps(BODIES.get((self.method, self.path)))
        named = {k for k in BODY_OBJECTS if f"{{{k}}}" in body}
        return set(self.objects) | {QUERY_FILTERS[q] for q in self.query} | named

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}" + "".join(f" ?{q}=" for q in self.query)


def api_routes() -> list[APIRoute]:
    out = []
    for info in pkgutil.iter_modules(api_package.__path__):
        module = importlib.import_module(f"{api_package.__name__}.{info.name}")
        out.extend(r for r in module.router.routes if isinstance(r, APIRoute))
    return out


def probes() -> list[Probe]:
    """Every API route with an object in its path, or a filter or body field naming one."""
    out = []
    for route in api_routes():
        params = [p for p in re.findall(r"\{(\w+)", route.path) if p not in NOT_OBJECTS]
        query = tuple(p.alias for p in route.dependant.query_params if p.alias in QUERY_FILTERS)
        for method in sorted(route.methods - {"HEAD"}):
            body = BODIES.get((method, route.path))
            named = body is not None and any(f"{{{k}}}" in json.dumps(body) for k in BODY_OBJECTS)
            if not params and not query and not named:
                continue
            kinds = tuple(OBJECT_PARAMS.get(p, p) for p in params)
            out.append(Probe(method, route.path, kinds, query, body is not None))
    return sorted(out, key=lambda p: p.id)


PROBES = probes()


def test_every_object_parameter_is_known() -> None:
    assert len(PROBES) >= 45, [p.id for p in PROBES]
    for route in api_routes():
        for param in re.findall(r"\{(\w+)", route.path):
            assert param in OBJECT_PARAMS or param in NOT_OBJECTS, f"{route.path}: {param}?"
        for method in route.methods:
            if route.dependant.body_params and "{" in route.path:
                assert (method, route.path) in BODIES, f"add a valid body for {method} {route.path}"


@dataclass
class Objects:
    """The identifiers that fill a probe: dmv's (elsewhere), made-up ones, and chp's own."""

    elsewhere: dict[str, str]
    nowhere: dict[str, str]
    own: dict[str, str]


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CaseApi]:
    with case_api(request.param, tmp_path_factory.mktemp("oracle"), TOKENS) as world:
        world.desk.at(START)
        yield world


@pytest.fixture(scope="module")
def objects(world: CaseApi) -> Objects:
    desk, svc = world.desk, world.desk.services
    # dmv's: a delivered case and its certificate, a contact, a token, a person, a grant.
    view = desk.approved(DMV, submittals=(sub(f"{desk.unique('hidden')}.dmv.ca.gov"),))
    number = svc.fulfilment.fulfil(desk["opal"], view.number).number
    serial = svc.window.certificates_of_case(desk["opal"], number).certificates[0].serial
    case = svc.cases.show(desk["opal"], number)
    added = svc.contacts.add(OPERATOR, DMV, contact("billing", "bea"))
    attached = svc.attachments.attach(OPERATOR, number, "minutes.txt", b"kick-off minutes\n")
    token = svc.tokens.create(OPERATOR, role=Role.REQUESTER, org_code=DMV)
    # An ACME key and an account of dmv: ACME needs a self-managed organization for the
    # moment they are made; dmv is managed again afterwards (the rows stay dmv's).
    svc.orgs.set_service(OPERATOR, DMV, self_managed=True)
    eab = svc.acme_eab.create(OPERATOR, DMV)
    bound = svc.acme_eab.create(OPERATOR, DMV)
    account_id, _ = register_through(
        world.client, svc.rt.settings.base_url, bound.kid, bound.hmac_key
    )
    svc.orgs.set_service(OPERATOR, DMV, self_managed=False)
    # An external certificate attributed to dmv by its grant (R18).
    issued = trustme.CA().issue_cert(f"{desk.unique('outside')}.dmv.ca.gov")
    outside, _ = svc.external.add(
        OPERATOR, x509.load_pem_x509_certificate(issued.cert_chain_pems[0].bytes()),
        source="import",
    )  # fmt: skip
    assert outside is not None and outside.organization == DMV
    hook = svc.webhooks.add(OPERATOR, "https://dmv.example/hook", org_code=DMV)
    job = svc.discovery_jobs.start(OPERATOR, ["127.0.0.1:9"])  # cert services', left queued
    elsewhere = {
        "serial": serial,
        "case": number,
        "submittal": str(case.submittals[0].id),
        "org": DMV,
        "contact": str(added.id),
        "grant": "zone:dmv.ca.gov",
        "login": "ana",
        "prefix": token.prefix,
        "eab": eab.kid,
        "acme_account": str(account_id),
        "external": str(outside.id),
        "webhook": str(hook.webhook.id),
        "attachment": str(attached.id),
        "discovery_job": str(job.id),
    }
    # Made up, each of the same shape as dmv's, and held by nobody.
    nowhere = {
        "serial": ("f" + serial[1:]) if serial[0] != "f" else ("e" + serial[1:]),
        "case": number[:-4] + "9999",
        "submittal": "9" * len(elsewhere["submittal"]) + "1",
        "org": "qzx",
        "contact": "9" * len(elsewhere["contact"]) + "1",
        "grant": "zone:qzx.ca.gov",
        "login": "zed",
        "prefix": "f" * len(token.prefix),
        "eab": "kid-" + "f" * (len(eab.kid) - 4),
        "acme_account": "9" * len(str(account_id)) + "1",
        "external": "9" * len(str(outside.id)) + "1",
        "webhook": "9" * len(str(hook.webhook.id)) + "1",
        "attachment": "9" * len(str(attached.id)) + "1",
        "discovery_job": "9" * len(str(job.id)) + "1",
    }
    # chp's own, for the parents of nested routes: a delivered case, a draft, a contact.
    approved = desk.approved(CHP, submittals=(sub(f"{desk.unique('own')}.chp.ca.gov"),))
    delivered = svc.fulfilment.fulfil(desk["opal"], approved.number).number
    draft = desk.draft("carl", CHP, submittals=(sub(f"{desk.unique('own')}.chp.ca.gov"),))
    mine = svc.contacts.add(OPERATOR, CHP, contact("billing", "carl"))
    own = {"case": delivered, "draft": draft.number, "org": CHP, "contact": str(mine.id)}
    for key, value in nowhere.items():
        assert value != elsewhere[key], key
    return Objects(elsewhere, nowhere, own)


def fill(template: Any, values: dict[str, str]) -> Any:
    """``template`` (a path, or a JSON body) with each ``{kind}`` replaced by its value."""
    if isinstance(template, str):
        if template == "{csr}":
            return make_csr(["www.chp.ca.gov"]).decode()
        if template == "{submittal}":
            return int(values["submittal"])
        return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    return template


def ask(world: CaseApi, who: str, probe: Probe, values: dict[str, str]) -> tuple[int, str, str]:
    """(status, content type, body with each identifier sent replaced by its kind)."""
    path = re.sub(r"\{(\w+)\}", lambda m: "{" + OBJECT_PARAMS[m.group(1)] + "}", probe.path)
    url = fill(path, values)
    params = {q: values[QUERY_FILTERS[q]] for q in probe.query}
    params.update(REQUIRED_QUERY.get(probe.path, {}))
    body = fill(BODIES[(probe.method, probe.path)], values) if probe.body else None
    resp = world.call(who, probe.method, url, body, **params)
    text = resp.text
    sent = {kind: values[kind] for kind in probe.kinds}
    for kind, value in sorted(sent.items(), key=lambda kv: -len(kv[1])):
        text = re.sub(rf"(?<![\w.-]){re.escape(value)}(?![\w-])", f"<{kind}>", text)
    return resp.status_code, resp.headers.get("content-type", ""), text


@pytest.mark.parametrize("who", AGENCY)
@pytest.mark.parametrize("probe", PROBES, ids=[p.id for p in PROBES])
def test_r2_another_agency_object_answers_like_a_made_up_one(
    world: CaseApi, objects: Objects, probe: Probe, who: str
) -> None:
    before = world.desk.counts()
    elsewhere = ask(world, who, probe, objects.elsewhere)
    nowhere = ask(world, who, probe, objects.nowhere)
    assert elsewhere == nowhere
    status, media, _ = nowhere
    assert media == PROBLEM and status in (403, 404), nowhere
    assert world.desk.counts() == before


def parents(probe: Probe) -> tuple[str, ...]:
    """The objects a child hangs under: all but the last in the path, or the whole path when
    the body names the child (a case's certificate to revoke, its submittal to reissue)."""
    in_body = probe.kinds - set(probe.objects) - {QUERY_FILTERS[q] for q in probe.query}
    return probe.objects if in_body and probe.objects else probe.objects[:-1]


NESTED = [p for p in PROBES if parents(p)]


@pytest.mark.parametrize("who", AGENCY)
@pytest.mark.parametrize("probe", NESTED, ids=[p.id for p in NESTED])
def test_r2_another_agency_child_of_an_own_object_answers_like_a_made_up_one(
    world: CaseApi, objects: Objects, probe: Probe, who: str
) -> None:
    own = {k: objects.own[k] for k in parents(probe)}
    if probe.path in DRAFT_PARENT:
        own["case"] = objects.own["draft"]
    before = world.desk.counts()
    elsewhere = ask(world, who, probe, {**objects.elsewhere, **own})
    nowhere = ask(world, who, probe, {**objects.nowhere, **own})
    assert elsewhere == nowhere
    # 403: the caller's role may not do this to its own parent object, whatever the child.
    assert nowhere[1] == PROBLEM and nowhere[0] in (403, 404), nowhere
    assert world.desk.counts() == before


READS = [p for p in PROBES if p.method == "GET"]


@pytest.mark.parametrize("probe", READS, ids=[p.id for p in READS])
def test_r2_the_other_agency_objects_exist(world: CaseApi, objects: Objects, probe: Probe) -> None:
    """The control: cert services read dmv's objects through the same URLs (a 404 above is
    not a typo's), and a made-up one is unknown to them too."""
    status, _, text = ask(world, "operator", probe, objects.elsewhere)
    assert status == 200, (probe.id, text[:300])
    status, _, _ = ask(world, "operator", probe, objects.nowhere)
    assert status == 404, probe.id


def _setup_case(world: CaseApi, grant: str, login: str) -> tuple[int, str]:
    body = {
        "org": CHP,
        "type": "delegated_admin_setup",
        "title": "Self-manage chp",
        "grants": [grant],
        "admins": [{"name": "New Admin", "email": "new.admin@chp.ca.gov", "login_id": login}],
    }
    resp = world.call("requester", "POST", "/api/v1/cases", body)
    text = resp.text.replace(grant, "<grant>").replace(f'"{login}"', '"<login>"')
    if resp.status_code == 201:
        text = text.replace(resp.json()["number"], "<number>")
    return resp.status_code, text


def test_sec_setup_case_neither_zones_nor_logins_of_others_show(
    world: CaseApi, objects: Objects
) -> None:
    """Issue 10 finding 8 through the API: a set-up asking for another agency's zone is
    refused exactly like one asking for nobody's, and one naming an existing login ID (of
    another agency) drafts exactly like one naming a free ID."""
    before = world.desk.counts()
    held = _setup_case(world, "zone:dmv.ca.gov", "zed.free")
    free = _setup_case(world, "zone:qzx.ca.gov", "zed.free")
    assert held == free and held[0] == 400 and "grant.outside" in held[1]
    assert world.desk.counts() == before
    taken = _setup_case(world, "zone:apps.chp.ca.gov", objects.elsewhere["login"])
    unused = _setup_case(world, "zone:apps.chp.ca.gov", "zed.free")
    assert taken == unused and taken[0] == 201
