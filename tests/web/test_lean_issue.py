"""The issuing route on its lean path (web/lean.py) answers exactly what FastAPI's own handler
answers: every request of the table goes to both, on SQLite and PostgreSQL.

What must hold (DESIGN §7, R15, issue 16): a caller without a valid token is refused (401)
before the body's fields are looked at; a NUL anywhere is refused before the token is checked,
as by the app-wide check; every refusal is the same problem document and changes nothing; an
issuance is one active certificate and one audit event, whichever way it is served.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import delete

from certdesk.core.issuers import Backend
from certdesk.store.models import Issuer
from certdesk.web.api import certificates
from certdesk.web.app import create_app
from certdesk.web.lean import LeanRoute, bearer_secret
from conftest import BACKENDS
from world.api import ORG_A, ORG_B, ORG_M, TestClient, World, bearer, build_world, delta
from world.csr import csr_text
from world.loop import on_loop_calls

URL = "/api/v1/certificates"
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with build_world(request.param, tmp_path_factory.mktemp("lean")) as w:
        yield w


@pytest.fixture(scope="module")
def standard(world: World) -> Iterator[TestClient]:
    """The same services behind an app whose issuing route FastAPI serves the usual way."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(LeanRoute, "_body_model", lambda self: None)
        app = create_app(world.services)
    # No lifespan: the world's own client ran start-up for these services.
    yield TestClient(app, raise_server_exceptions=False)


def _body(org: str = ORG_A, **more: Any) -> dict[str, Any]:
    return {"org": org, "csr": csr_text([f"lean.{org}.ca.gov"]), **more}


# (who, headers besides the token, raw body or a JSON value, query) -> same answer both ways.
REFUSALS = [
    pytest.param(None, JSON, _body(), "", id="auth/no-token"),
    pytest.param("nobody", JSON, _body(), "", id="auth/unknown-token"),
    pytest.param("revoked-operator", JSON, _body(), "", id="auth/revoked-token"),
    pytest.param("basic", JSON, _body(), "", id="auth/basic-scheme"),
    pytest.param("nobody", JSON, {}, "", id="auth/bad-token-before-fields"),
    pytest.param("nobody", JSON, b"{not json", "", id="body/malformed-json-any-token"),
    pytest.param("nobody", JSON, _body(org="a\u0000b"), "", id="body/nul-before-token"),
    pytest.param("operator", JSON, {}, "", id="body/fields-missing"),
    pytest.param("operator", JSON, [], "", id="body/not-an-object"),
    pytest.param("operator", JSON, _body(days="many"), "", id="body/days-not-a-number"),
    pytest.param("operator", JSON, _body(days=0), "", id="body/days-below-one"),
    pytest.param("operator", JSON, b"", "", id="body/empty"),
    pytest.param("operator", {"Content-Type": "text/plain"}, _body(), "", id="media/text"),
    pytest.param("operator", {}, _body(), "", id="media/none"),
    pytest.param("nobody", JSON, _body(), "?note=a%00b", id="query/nul-before-token"),
    pytest.param("operator", JSON, _body(org="nosuch"), "", id="org/unknown"),
    pytest.param("requester-A", JSON, _body(org=ORG_B), "", id="org/another-agency"),
    pytest.param("delegated_admin-M", JSON, _body(org=ORG_M), "", id="org/managed"),
    pytest.param("delegated_admin-A", JSON, _body(csr="junk"), "", id="csr/unparseable"),
    pytest.param(
        "delegated_admin-A",
        JSON,
        {"org": ORG_A, "csr": csr_text(["www.bravo.ca.gov"])},
        "",
        id="grant/name-not-granted",
    ),
]


def _send(client: TestClient, world: World, who: str | None, headers: dict[str, str],
          body: Any, query: str) -> tuple[int, Any]:  # fmt: skip
    sent = dict(headers)
    if who == "basic":
        sent["Authorization"] = "Basic dXNlcjpwdw=="
    elif who is not None:
        sent.update(bearer(world.tokens.get(who, "cd_nobody_0000")))
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    resp = client.post(URL + query, content=content, headers=sent)
    return resp.status_code, resp.json()


@pytest.mark.parametrize(("who", "headers", "body", "query"), REFUSALS)
def test_refusal_is_the_same_document_both_ways(
    world: World,
    standard: TestClient,
    who: str | None,
    headers: dict[str, str],
    body: Any,
    query: str,
) -> None:
    assert world.client is not None
    before = world.counts()
    lean = _send(world.client, world, who, headers, body, query)
    usual = _send(standard, world, who, headers, body, query)
    assert lean == usual
    assert 400 <= lean[0] < 500, lean
    assert delta(before, world.counts()) == {}  # a refusal changes nothing


@pytest.mark.parametrize("who", ["operator", "delegated_admin-A"])
def test_issuance_is_the_same_answer_and_one_audit_event_both_ways(
    world: World, standard: TestClient, who: str
) -> None:
    assert world.client is not None
    answers = []
    for client in (world.client, standard):
        before = world.counts()
        status, answer = _send(client, world, who, JSON, _body(days=30), "")
        assert status == 201, answer
        # R15 and the pipeline's invariant: delivered once active and audited.
        assert delta(before, world.counts()) == {"audit": 1, "certs.active": 1}
        assert world.status_of(answer["serial"]) == "active"
        answers.append(answer)
    lean, usual = ({k: v for k, v in a.items() if k not in _PER_CERTIFICATE} for a in answers)
    assert lean == usual
    assert answers[0]["fullchain"] == answers[0]["certificate"] + answers[0]["chain"]
    assert answers[0]["serial"] != answers[1]["serial"]  # never reused


_PER_CERTIFICATE = {"serial", "certificate", "fullchain"}


def test_the_issuing_route_is_served_lean() -> None:
    routes = [r for r in certificates.router.routes if isinstance(r, LeanRoute)]
    assert [(r.path, r.methods) for r in routes] == [(URL, {"POST"})]
    assert routes[0]._body_model() is certificates.IssueIn


def test_a_route_with_other_dependencies_is_served_by_fastapi_alone() -> None:
    app = FastAPI()

    def other() -> None:
        return None

    def endpoint(body: certificates.IssueIn, extra: Annotated[None, Depends(other)]) -> None:
        return None

    app.router.add_api_route("/x", endpoint, methods=["POST"], route_class_override=LeanRoute)
    route = app.router.routes[-1]
    assert isinstance(route, LeanRoute)
    assert route._body_model() is None


@pytest.mark.parametrize(
    ("header", "secret"),
    [
        pytest.param("Bearer abc", "abc", id="bearer"),
        pytest.param("bearer  abc ", "abc", id="any-case-and-spaces"),
        pytest.param("Basic abc", None, id="other-scheme"),
        pytest.param("Bearer", None, id="no-credentials"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_bearer_secret_reads_the_header_as_httpbearer_does(
    header: str | None, secret: str | None
) -> None:
    assert bearer_secret(header) == secret


def test_issuance_runs_on_the_event_loop_on_sqlite_and_in_a_thread_on_postgresql(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16: on SQLite the work skips the thread hop (its CPU cost); PostgreSQL's network
    round trips must never hold the event loop."""
    assert world.client is not None
    seen = on_loop_calls(monkeypatch, world.services.issuance, "issue")
    status, answer = _send(world.client, world, "operator", JSON, _body(days=30), "")
    assert status == 201, answer
    sqlite = world.services.rt.engine.dialect.name == "sqlite"
    assert seen == [sqlite]


def test_issuance_runs_in_a_thread_wherever_a_vendor_ca_is_configured(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A vendor's order is driven over the network for seconds: never on the event loop, even
    on SQLite, once any vendor CA is configured (enabled or not)."""
    assert world.client is not None
    rt = world.services.rt
    sqlite = rt.engine.dialect.name == "sqlite"
    assert rt.waits_are_local(vendors=True) is sqlite
    with rt.sessions.begin() as s:
        vendor = Issuer(
            slug="lean-vendor",
            name="lean-vendor",
            backend=Backend.ACME,
            is_root=False,
            active=False,
            created_at=world.clock(),
        )
        s.add(vendor)
    try:
        assert rt.waits_are_local(vendors=True) is False
        assert rt.waits_are_local(vendors=False) is sqlite  # the rest of ACME is unchanged
        seen = on_loop_calls(monkeypatch, world.services.issuance, "issue")
        status, answer = _send(world.client, world, "operator", JSON, _body(days=30), "")
        assert status == 201, answer  # the organization's names still go to the built-in CA
        assert seen == [False]
    finally:
        with rt.sessions.begin() as s:
            s.execute(delete(Issuer).where(Issuer.slug == "lean-vendor"))
