"""Bad input gets a 4xx RFC 9457 problem document that names the problem and changes nothing.

DESIGN §7: never a 500, never internals. The table runs on SQLite and PostgreSQL against one
shared, populated certdesk per backend; a fuzz over random JSON bodies runs on SQLite.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from certdesk.core.access import Role
from certdesk.core.text import BAD_CHARACTERS, EXCERPT_LENGTH
from certdesk.errors import CertdeskError, Conflict, InvalidInput, NotFound
from certdesk.services.pki.revocation import Reason
from certdesk.services.registry import Services
from certdesk.web import problems
from certdesk.web.app import create_app
from certdesk.web.console.guard import SESSION_COOKIE
from certdesk.web.status import STATUS
from conftest import BACKENDS, OPERATOR
from world.api import ORG_A, TestClient, World, bearer, build_world, delta
from world.csr import SHA1_CSR, csr_text
from world.refusals import PROBLEM, assert_problem

API = "/api/v1"


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with build_world(request.param, tmp_path_factory.mktemp("problems")) as w:
        yield w


# --------------------------------------------------------------------------- inputs


def _ca_pem(w: World) -> str:
    cert = w.services.authority.all_certificates()[0][1]
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _flip_signature(pem: str) -> str:
    csr = x509.load_pem_x509_csr(pem.encode())
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # the last byte belongs to the signature's s value
    return x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()


def _revoked(w: World) -> str:
    serial = w.issue(ORG_A, f"{w.unique('twice')}.alpha.ca.gov", days=5)
    w.services.revocation.revoke(OPERATOR, serial, Reason.SUPERSEDED)
    return serial


@dataclass
class Bad:
    method: str
    url: str
    json: Any = None
    content: bytes | None = None
    who: str = "operator"


Expect = tuple[int, str]


@dataclass
class Case:
    make: Callable[[World], Bad]
    expect: Expect | dict[str, Expect]  # by backend when the backends differ
    detail: str = ""  # a fragment the problem's detail must contain
    check: Callable[[dict[str, Any]], None] | None = None


def _post(url: str, body: Any, who: str = "operator") -> Callable[[World], Bad]:
    return lambda w: Bad("POST", url, json=body, who=who)


def _raw(url: str, content: bytes) -> Callable[[World], Bad]:
    return lambda w: Bad("POST", url, content=content)


def _get(url: str) -> Callable[[World], Bad]:
    return lambda w: Bad("GET", url)


def _issue(csr: Callable[[World], str] | str, **extra: Any) -> Callable[[World], Bad]:
    def make(w: World) -> Bad:
        text = csr(w) if callable(csr) else csr
        return Bad("POST", f"{API}/certificates", json={"org": ORG_A, "csr": text, **extra})

    return make


def _on_cert(suffix: str, method: str = "GET", body: Any = None) -> Callable[[World], Bad]:
    return lambda w: Bad(method, f"{API}/certificates/{w.certs[ORG_A]}{suffix}", json=body)


def _verdicts(expected: list[tuple[str, bool, str]]) -> Callable[[dict[str, Any]], None]:
    def check(body: dict[str, Any]) -> None:
        got = [(v["name"], v["allowed"], v["code"]) for v in body["verdicts"]]
        assert got == expected

    return check


def _short_detail(body: dict[str, Any]) -> None:
    assert len(json.dumps(body)) < 600, body


def _fields(**expected: Any) -> Callable[[dict[str, Any]], None]:
    def check(body: dict[str, Any]) -> None:
        assert {k: body.get(k) for k in expected} == expected

    return check


MANY_NAMES = [f"n{i}.alpha.ca.gov" for i in range(101)]

CASES: dict[str, Case] = {
    # --- the request itself
    "json/malformed-org": Case(
        lambda w: Bad("POST", f"{API}/orgs", content=b'{"code": "x",'),
        (422, "request.invalid"),
        "JSON decode error",
    ),
    "json/malformed-issue": Case(
        _raw(f"{API}/certificates", b'{"org": "alpha", "csr": "'),
        (422, "request.invalid"),
        "JSON decode error",
    ),
    "json/malformed-policy": Case(
        _raw(f"{API}/policy/check", b"names=www.alpha.ca.gov"), (422, "request.invalid")
    ),
    "json/not-an-object": Case(_post(f"{API}/certificates", ["alpha"]), (422, "request.invalid")),
    "field/missing-csr": Case(
        _post(f"{API}/certificates", {"org": ORG_A}), (422, "request.invalid"), "body.csr"
    ),
    "field/missing-org-name": Case(
        _post(f"{API}/orgs", {"code": "neworg"}), (422, "request.invalid"), "body.name"
    ),
    "field/days-not-a-number": Case(
        _issue(csr_text(["www.alpha.ca.gov"]), days="ten"), (422, "request.invalid"), "body.days"
    ),
    "field/days-zero": Case(
        _issue(csr_text(["www.alpha.ca.gov"]), days=0), (422, "request.invalid"), "body.days"
    ),
    "field/no-names": Case(
        _post(f"{API}/policy/check", {"names": []}), (422, "request.invalid"), "body.names"
    ),
    "field/unknown-platform": Case(
        _issue(csr_text(["www.alpha.ca.gov"]), platform="mainframe"),
        (422, "request.invalid"),
        "body.platform",
    ),
    # --- CSRs (R12)
    "csr/garbage": Case(_issue("hello, I would like a certificate"), (400, "csr.unparseable")),
    "csr/certificate-instead": Case(
        _issue(_ca_pem), (400, "csr.unparseable"), "this is a certificate, not a CSR"
    ),
    "csr/private-key-instead": Case(
        _issue(lambda w: _key_pem()), (400, "csr.unparseable"), "private key"
    ),
    "csr/damaged-pem": Case(
        _issue("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"),
        (400, "csr.unparseable"),
        "damaged",
    ),
    "csr/sha1": Case(_issue(SHA1_CSR), (400, "csr.sha1"), "SHA1", _fields(rule="R12")),
    "csr/rsa-1024": Case(
        _issue(lambda w: csr_text(["www.alpha.ca.gov"], key=rsa.generate_private_key(65537, 1024))),
        (400, "key.too_small"),
        "RSA 1024-bit",
        _fields(rule="R12", bits=1024),
    ),
    "csr/bad-signature": Case(
        _issue(lambda w: _flip_signature(csr_text(["www.alpha.ca.gov"]))),
        (400, "csr.bad_signature"),
    ),
    "csr/validate-garbage": Case(
        _post(f"{API}/csr/validate", {"csr": "garbage"}), (400, "csr.unparseable")
    ),
    # --- names (R1/R2) and validity (R13)
    "R1/names-outside-suffixes": Case(
        _issue(csr_text(["ok.alpha.ca.gov", "www.example.com", "ca.gov.example.com"])),
        (400, "name.outside_suffixes"),
        "www.example.com",
        _verdicts(
            [
                ("ok.alpha.ca.gov", True, "name.allowed"),
                ("www.example.com", False, "name.outside_suffixes"),
                ("ca.gov.example.com", False, "name.lookalike"),
            ]
        ),
    ),
    "R1/wildcard-on-suffix": Case(
        _issue(csr_text(["*.ca.gov"])),
        (400, "name.wildcard_on_suffix"),
        check=_verdicts([("*.ca.gov", False, "name.wildcard_on_suffix")]),
    ),
    "R2/not-granted": Case(
        lambda w: Bad(
            "POST",
            f"{API}/certificates",
            json={"org": ORG_A, "csr": csr_text(["www.alpha.ca.gov", "www.bravo.ca.gov"])},
            who="delegated_admin-A",
        ),
        (400, "name.not_granted"),
        "www.bravo.ca.gov",
        _verdicts(
            [
                ("www.alpha.ca.gov", True, "name.allowed"),
                ("www.bravo.ca.gov", False, "name.not_granted"),
            ]
        ),
    ),
    "R13/days-too-long": Case(
        _issue(csr_text(["www.alpha.ca.gov"]), days=201),
        (400, "validity.too_long"),
        "200 days",
        _fields(rule="R13", days=201, limit=200),
    ),
    # --- unknown things
    "unknown-org/issue": Case(
        _post(f"{API}/certificates", {"org": "nosuch", "csr": csr_text(["a.alpha.ca.gov"])}),
        (404, "org.unknown"),
        "nosuch",
    ),
    "unknown-org/show": Case(_get(f"{API}/orgs/nosuch"), (404, "org.unknown")),
    "unknown-org/add-grant": Case(
        _post(f"{API}/orgs/nosuch/grants", {"grant": "zone:x.ca.gov"}), (404, "org.unknown")
    ),
    "unknown-org/token": Case(
        _post(f"{API}/tokens", {"role": "requester", "org": "nosuch"}), (404, "org.unknown")
    ),
    "unknown-org/policy": Case(
        _post(f"{API}/policy/check", {"org": "nosuch", "names": ["a.ca.gov"]}),
        (404, "org.unknown"),
    ),
    "unknown-org/list": Case(_get(f"{API}/certificates?org=nosuch"), (404, "org.unknown")),
    "unknown-serial/show": Case(_get(f"{API}/certificates/abcdef12"), (404, "cert.unknown")),
    "unknown-serial/export": Case(
        _get(f"{API}/certificates/abcdef12/export"), (404, "cert.unknown")
    ),
    "unknown-serial/revoke": Case(
        _post(f"{API}/certificates/abcdef12/revoke", {"reason": "superseded"}),
        (404, "cert.unknown"),
    ),
    "unknown-serial/renewal-of": Case(
        _issue(csr_text(["www.alpha.ca.gov"]), renewal_of="abcdef12"), (404, "cert.unknown")
    ),
    "unknown-ca/crl": Case(_get("/crl/nosuch.crl"), (404, "ca.unknown")),
    "unknown-ca/cer": Case(_get("/ca/nosuch.cer"), (404, "ca.unknown")),
    "unknown-route": Case(_get(f"{API}/nothing-here"), (404, "http.404")),
    "wrong-method": Case(lambda w: Bad("PUT", f"{API}/orgs"), (405, "http.405")),
    # --- malformed identifiers and parameters
    "bad-serial/show": Case(_get(f"{API}/certificates/not-hex"), (400, "cert.serial"), "not-hex"),
    "bad-serial/too-long": Case(_get(f"{API}/certificates/{'f' * 41}"), (400, "cert.serial")),
    "bad-serial/export": Case(_get(f"{API}/certificates/xyz/export"), (400, "cert.serial")),
    "bad-serial/revoke": Case(
        _post(f"{API}/certificates/xyz/revoke", {"reason": "superseded"}), (400, "cert.serial")
    ),
    "bad-export-format": Case(
        _on_cert("/export?format=zip"), (422, "request.invalid"), "query.format"
    ),
    "bad-revocation-reason": Case(
        _on_cert("/revoke", "POST", {"reason": "boredom"}), (422, "request.invalid"), "body.reason"
    ),
    "bad-revocation-reason/certificateHold": Case(
        _on_cert("/revoke", "POST", {"reason": "certificateHold"}),
        (422, "request.invalid"),
        "body.reason",
    ),
    "bad-status-filter": Case(_get(f"{API}/certificates?status=lost"), (400, "cert.status")),
    "bad-limit": Case(_get(f"{API}/certificates?limit=501"), (422, "request.invalid")),
    "bad-cursor/text": Case(_get(f"{API}/certificates?cursor=abc"), (400, "page.cursor")),
    "bad-cursor/negative": Case(_get(f"{API}/certificates?cursor=-3"), (400, "page.cursor")),
    "bad-cursor/superscript-digit": Case(
        _get(f"{API}/certificates?cursor=%C2%B2"),
        (400, "page.cursor"),
    ),
    "bad-cursor/huge": Case(
        _get(f"{API}/certificates?cursor={'9' * 25}"),
        (400, "page.cursor"),
    ),
    "bad-expiring-within/text": Case(
        _get(f"{API}/certificates?expiring_within=soon"), (400, "duration"), "soon"
    ),
    "bad-expiring-within/negative": Case(
        _get(f"{API}/certificates?expiring_within=-1d"), (400, "duration")
    ),
    "bad-expiring-within/nan": Case(
        _get(f"{API}/certificates?expiring_within=nan"),
        (400, "duration"),
    ),
    # --- organizations, grants, tokens
    "duplicate-org": Case(
        _post(f"{API}/orgs", {"code": ORG_A, "name": "Again"}), (409, "org.exists"), ORG_A
    ),
    "duplicate-org/case": Case(
        _post(f"{API}/orgs", {"code": "ALPHA", "name": "Again"}), (409, "org.exists")
    ),
    "bad-org-code": Case(_post(f"{API}/orgs", {"code": "1st", "name": "X"}), (400, "org.code")),
    "bad-org-grant": Case(
        _post(f"{API}/orgs", {"code": "neworg", "name": "X", "grants": ["zone:x.example.com"]}),
        (400, "name.outside_suffixes"),
    ),
    "duplicate-grant": Case(
        _post(f"{API}/orgs/{ORG_A}/grants", {"grant": "zone:alpha.ca.gov"}), (409, "grant.exists")
    ),
    "bad-grant-kind": Case(
        _post(f"{API}/orgs/{ORG_A}/grants", {"grant": "realm:x.alpha.ca.gov"}),
        (400, "grant.invalid"),
    ),
    "wildcard-grant": Case(
        _post(f"{API}/orgs/{ORG_A}/grants", {"grant": "zone:*.alpha.ca.gov"}),
        (400, "grant.wildcard"),
        check=_fields(rule="R2"),
    ),
    "remove-unheld-grant": Case(
        lambda w: Bad("DELETE", f"{API}/orgs/{ORG_A}/grants/host:nothing.alpha.ca.gov"),
        (404, "grant.unknown"),
    ),
    "token/global-role-with-org": Case(
        _post(f"{API}/tokens", {"role": "operator", "org": ORG_A}), (400, "token.org")
    ),
    "token/org-role-without-org": Case(
        _post(f"{API}/tokens", {"role": "requester"}), (400, "token.org")
    ),
    "token/unknown-role": Case(
        _post(f"{API}/tokens", {"role": "superuser"}), (422, "request.invalid"), "body.role"
    ),
    # --- state
    "revoke-twice": Case(
        lambda w: Bad("POST", f"{API}/certificates/{_revoked(w)}/revoke", json={}),
        (409, "cert.revoked"),
        "already revoked",
    ),
    "ocsp/too-large": Case(_raw("/ocsp", b"0" * 9000), (400, "ocsp.too_large")),
    # --- characters no text input may carry: refused alike on SQLite and PostgreSQL (issue 10,
    # finding 5; SQLite used to store a NUL that PostgreSQL refused, and a lone surrogate
    # gave a 500 when the answer was encoded)
    "sec/bad-characters/nul-in-body": Case(
        _post(f"{API}/certificates", {"org": "al\x00pha", "csr": csr_text(["a.alpha.ca.gov"])}),
        (400, BAD_CHARACTERS),
        "body.org: character 3 is a NUL",
        _fields(where="body.org"),
    ),
    "sec/bad-characters/nul-in-path": Case(
        _get(f"{API}/orgs/al%00pha"), (400, BAD_CHARACTERS), "path"
    ),
    "sec/bad-characters/nul-in-query": Case(
        _get(f"{API}/certificates?name=a%00b"), (400, BAD_CHARACTERS), "query.name"
    ),
    "sec/bad-characters/nul-in-query-key": Case(
        _get(f"{API}/certificates?na%00me=a"), (400, BAD_CHARACTERS), "query"
    ),
    "sec/bad-characters/nul-in-policy-org": Case(
        _post(f"{API}/policy/check", {"org": "\x00", "names": ["a.ca.gov"]}),
        (400, BAD_CHARACTERS),
        "body.org",
    ),
    "sec/bad-characters/nul-in-token-label": Case(
        _post(f"{API}/tokens", {"role": "auditor", "label": "ci\x00"}),
        (400, BAD_CHARACTERS),
        "body.label",
    ),
    "sec/bad-characters/nul-in-org-name": Case(
        _post(f"{API}/orgs", {"code": "nulorg", "name": "Nul\x00Agency"}),
        (400, BAD_CHARACTERS),
        "body.name",
    ),
    "sec/bad-characters/surrogate-in-policy-names": Case(
        _raw(f"{API}/policy/check", b'{"names": ["\\udfff"]}'),
        (400, BAD_CHARACTERS),
        "body.names.0: character 1 is a lone surrogate U+DFFF",
    ),
    "sec/bad-characters/surrogate-after-valid-pair": Case(
        _raw(f"{API}/policy/check", b'{"names": ["\\ud83d\\ude00.ca.gov\\ud800"]}'),
        (400, BAD_CHARACTERS),
        "body.names.0: character 9 is a lone surrogate U+D800",
    ),
    "sec/bad-characters/surrogate-as-key": Case(
        _raw(f"{API}/policy/check", b'{"names": ["a.ca.gov"], "\\udc00": 1}'),
        (400, BAD_CHARACTERS),
        "body: character 1 is a lone surrogate",
    ),
    "sec/bad-characters/surrogate-nested": Case(
        _raw(f"{API}/orgs", b'{"code": "x", "name": "X", "grants": [["\\ud800"]]}'),
        (400, BAD_CHARACTERS),
        "body.grants.0.0",
    ),
    "sec/bad-characters/surrogate-as-utf8-bytes": Case(
        # Python's JSON reader decodes UTF-8 "surrogatepass": these bytes become U+DFFF.
        _raw(f"{API}/policy/check", b'{"names": ["\xed\xbf\xbf"]}'),
        (400, BAD_CHARACTERS),
        "lone surrogate U+DFFF",
    ),
    "sec/bad-characters/surrogate-in-case": Case(
        _raw(
            f"{API}/cases",
            b'{"org": "alpha", "type": "new", "title": "T\\udfff",'
            b' "submittals": [{"names": ["x.alpha.ca.gov"]}]}',
        ),
        (400, BAD_CHARACTERS),
        "body.title",
    ),
    "sec/bad-characters/nul-in-case-title": Case(
        _post(
            f"{API}/cases",
            {
                "org": ORG_A,
                "type": "new",
                "title": "T\x00",
                "submittals": [{"names": ["x.alpha.ca.gov"]}],
            },
        ),
        (400, BAD_CHARACTERS),
        "body.title",
    ),
    # --- one limit on the names of a certificate (issue 10, finding 6)
    "sec/max-names/issuance": Case(
        _issue(csr_text(MANY_NAMES)),
        (400, "name.too_many"),
        "101 names were given; a certificate names at most 100",
        _fields(rule="R1", count=101, limit=100),
    ),
    "sec/max-names/csr": Case(
        _post(f"{API}/csr/validate", {"csr": csr_text(MANY_NAMES)}), (400, "name.too_many")
    ),
    "sec/max-names/case": Case(
        _post(
            f"{API}/cases",
            {"org": ORG_A, "type": "new", "title": "T", "submittals": [{"names": MANY_NAMES}]},
        ),
        (400, "name.too_many"),
    ),
    "sec/max-names/case-csr": Case(
        _post(
            f"{API}/cases",
            {
                "org": ORG_A,
                "type": "new",
                "title": "T",
                "submittals": [{"csr": csr_text(MANY_NAMES)}],
            },
        ),
        (400, "name.too_many"),
    ),
    # --- a value echoed in a problem comes back cut to an excerpt (issue 10, finding 5)
    "sec/echo-cut/query-org": Case(
        _get(f"{API}/certificates?org={'q' * 60_000}"),
        (404, "org.unknown"),
        "q" * 64 + "…",
        _short_detail,
    ),
    "sec/echo-cut/path-org": Case(
        _get(f"{API}/orgs/{'p' * 5_000}"), (404, "org.unknown"), "p" * 64 + "…", _short_detail
    ),
}


@pytest.mark.parametrize("case", [pytest.param(c, id=k) for k, c in CASES.items()])
def test_bad_input_gets_a_problem_and_changes_nothing(world: World, case: Case) -> None:
    status, code = case.expect[world.backend] if isinstance(case.expect, dict) else case.expect
    bad = case.make(world)
    before = world.counts()
    headers = bearer(world.tokens[bad.who])
    if bad.content is not None:
        headers["Content-Type"] = "application/json"
    resp = world.client.request(
        bad.method, bad.url, json=bad.json, content=bad.content, headers=headers
    )
    if status < 400:
        # SQLite stores a NUL like any other character: then it is no error at all.
        assert resp.status_code == status, resp.text
        return
    body = assert_problem(resp, status, code)
    assert case.detail in body["detail"]
    if case.check is not None:
        case.check(body)
    assert delta(before, world.counts()) == {}


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", f"{API}/orgs", "GET, POST"),
        ("TRACE", f"{API}/certificates", "GET, POST"),
        ("DELETE", f"{API}/orgs/alpha", "GET, PATCH"),
        ("POST", "/.well-known/acme-challenge/abc", "GET"),
        ("GET", "/acme/new-order", "POST"),
        ("PUT", "/acme/directory", "GET, HEAD"),
    ],
)
def test_a_405_names_every_method_the_resource_takes(
    world: World, method: str, path: str, allow: str
) -> None:
    # RFC 9110 §15.5.6: a 405 carries Allow; several routes may share a path.
    resp = world.client.request(method, path, headers=bearer(world.tokens["operator"]))
    assert resp.status_code == 405, resp.text
    assert resp.headers["Allow"] == allow


def test_problem_document_fields_are_exactly_rfc9457_plus_code(world: World) -> None:
    resp = world.client.get(f"{API}/orgs/nosuch", headers=bearer(world.tokens["operator"]))
    assert resp.json() == {
        "type": "urn:certdesk:problem:org.unknown",
        "title": "not found",
        "status": 404,
        "detail": "no organization with code 'nosuch'",
        "code": "org.unknown",
    }


@pytest.mark.parametrize("backend", ["sqlite"])
def test_unexpected_error_is_a_bare_500_and_logs_no_token(
    services: Services, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    token = services.tokens.create(OPERATOR, role=Role.OPERATOR, org_code=None).secret

    def explode(*_a: object, **_k: object) -> None:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(services.inventory, "search", explode)
    structlog.reset_defaults()  # the development renderer, which can show frame locals
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        resp = client.get(f"{API}/certificates", headers=bearer(token))
    assert resp.status_code == 500
    assert resp.headers["content-type"] == PROBLEM
    assert resp.json() == {
        "type": "urn:certdesk:problem:internal",
        "title": "internal error",
        "status": 500,
        "detail": "an unexpected error occurred",
        "code": "internal",
    }
    logged = capsys.readouterr()
    assert "the disk is on fire" in logged.out + logged.err  # the traceback is logged ...
    assert token not in logged.out + logged.err  # ... without the caller's bearer token
    assert token.split("_", 2)[2] not in logged.out + logged.err  # the secret part


def _db_error(kind: type[DBAPIError], orig: Exception, **kw: Any) -> DBAPIError:
    return kind("SELECT 1", {}, orig, **kw)


# What a request may meet when the database goes away under it (issue 9, part 8): each is a
# 503 with Retry-After, logged as a warning; an error that is a bug stays a 500.
LOST_DATABASE = [
    pytest.param(
        lambda: _db_error(
            OperationalError,
            psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        ),
        503,
        id="503/pg-terminated-backend",
    ),
    pytest.param(
        lambda: _db_error(OperationalError, psycopg.OperationalError("connection refused")),
        503,
        id="503/pg-server-down",
    ),
    pytest.param(
        lambda: _db_error(OperationalError, sqlite3.OperationalError("database is locked")),
        503,
        id="503/sqlite-locked",
    ),
    pytest.param(
        lambda: _db_error(InterfaceError, psycopg.InterfaceError("the connection is closed")),
        503,
        id="503/connection-closed",
    ),
    pytest.param(
        lambda: _db_error(DBAPIError, RuntimeError("lost"), connection_invalidated=True),
        503,
        id="503/disconnect-recognised",
    ),
    pytest.param(lambda: PoolTimeout("QueuePool limit reached"), 503, id="503/pool-exhausted"),
    pytest.param(
        lambda: _db_error(IntegrityError, psycopg.errors.UniqueViolation("duplicate key")),
        500,
        id="500/integrity-error-is-a-bug",
    ),
]


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(("error", "status"), LOST_DATABASE)
def test_a_lost_database_is_a_503_with_retry_after(
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: Callable[[], Exception],
    status: int,
) -> None:
    token = services.tokens.create(OPERATOR, role=Role.OPERATOR, org_code=None).secret

    def lost(*_a: object, **_k: object) -> None:
        raise error()

    monkeypatch.setattr(services.inventory, "search", lost)
    monkeypatch.setattr(services.tokens, "console_session", lost)
    structlog.reset_defaults()
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        api = client.get(f"{API}/certificates", headers=bearer(token))
        client.cookies.set(SESSION_COOKIE, "a-session")
        page = client.get("/")
    logged = "".join(capsys.readouterr())
    if status == 500:
        assert_problem(api, 500, "internal")
        assert page.status_code == 500
        assert "Traceback" in logged
        return
    body = assert_problem(api, 503, "database.unavailable")
    assert "retry" in body["detail"]
    # The console answers with its own page, not a problem document.
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert int(page.headers["retry-after"]) > 0
    assert "Temporarily unavailable" in page.text
    assert "database unavailable" in logged and "warning" in logged
    assert "Traceback" not in logged and "unhandled error" not in logged


# --------------------------------------------------------------------------- fuzz

VALID_CSR = csr_text(["fuzz.alpha.ca.gov"])
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
NAMES = st.from_regex(r"[a-z0-9*_.\-]{0,12}\.(alpha\.)?ca\.gov\.?", fullmatch=True) | st.text(
    max_size=20
)
ISSUE_BODIES = JSON | st.fixed_dictionaries(
    {},
    optional={
        "org": st.sampled_from([ORG_A, "ALPHA", "bravo", "nosuch", "", "a" * 70]) | JSON,
        "csr": st.sampled_from([VALID_CSR, SHA1_CSR, VALID_CSR[:200], "", "-----BEGIN"]) | JSON,
        "days": st.integers(-(2**70), 2**70) | JSON,
        "platform": st.sampled_from(["virtual", "dedicated", "VIRTUAL"]) | JSON,
        "renewal_of": st.text(max_size=50) | JSON,
    },
)
POLICY_BODIES = JSON | st.fixed_dictionaries(
    {},
    optional={
        "org": st.sampled_from([ORG_A, "bravo", "nosuch", None]) | JSON,
        "names": st.lists(NAMES, max_size=6) | JSON,
    },
)
JSON_TYPE = {"Content-Type": "application/json"}
FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def fuzz_client(services: Services) -> Iterator[TestClient]:
    services.orgs.create(OPERATOR, ORG_A, "Alpha", self_managed=True, grants=["zone:alpha.ca.gov"])
    token = services.tokens.create(OPERATOR, role=Role.DELEGATED_ADMIN, org_code=ORG_A).secret
    with TestClient(
        create_app(services), headers=bearer(token), raise_server_exceptions=False
    ) as client:
        yield client


def _no_500(resp: Any) -> None:
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        assert resp.headers["content-type"] == PROBLEM
        assert resp.json()["status"] == resp.status_code


@pytest.mark.parametrize("backend", ["sqlite"])
@FUZZ
@given(body=ISSUE_BODIES)
def test_fuzz_issue_never_500(fuzz_client: TestClient, body: Any) -> None:
    resp = fuzz_client.post(f"{API}/certificates", content=json.dumps(body), headers=JSON_TYPE)
    _no_500(resp)
    assert resp.status_code in (201, 400, 403, 404, 422)


@pytest.mark.parametrize("backend", ["sqlite"])
@FUZZ
@given(body=POLICY_BODIES)
def test_fuzz_policy_check_never_500(fuzz_client: TestClient, body: Any) -> None:
    resp = fuzz_client.post(f"{API}/policy/check", content=json.dumps(body), headers=JSON_TYPE)
    _no_500(resp)
    assert resp.status_code in (200, 400, 404, 422)


# --------------------------------------------------------------------------- the renderer

# Anything a domain error could carry: text with NUL and lone surrogates, giant integers,
# NaN, bytes, sets, objects, deep and odd-keyed containers.
ANY_TEXT = st.text(st.characters(exclude_categories=()) | st.sampled_from(["\x00", "\udfff"]))
ANY_VALUE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([70, 5000]).map(lambda digits: 10**digits)
    | st.floats()
    | ANY_TEXT
    | st.text(min_size=65, max_size=70_000).map(lambda t: t * 3)
    | st.binary(max_size=10)
    | st.builds(object),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.frozensets(st.integers(), max_size=2)
        | st.dictionaries(ANY_TEXT | st.integers() | st.floats() | st.tuples(), inner, max_size=3)
    ),
    max_leaves=10,
)
STATUSES = st.integers(400, 599) | st.integers() | st.just(True)


@settings(database=None, deadline=None, max_examples=300)
@given(
    status=STATUSES,
    code=ANY_TEXT,
    title=ANY_TEXT,
    detail=ANY_TEXT | st.text(min_size=2_000, max_size=3_000),
    extra=st.dictionaries(ANY_TEXT | st.integers(), ANY_VALUE, max_size=4),
)
def test_property_problem_renderer_never_raises(
    status: int, code: str, title: str, detail: str, extra: dict[Any, Any]
) -> None:
    """Issue 10: whatever an error carries, the renderer answers a sendable problem."""
    resp = problems.render(status, code, title, detail, extra)
    body = json.loads(resp.body)
    assert resp.headers["content-type"] == PROBLEM
    assert body["status"] == resp.status_code
    assert 400 <= resp.status_code <= 599
    assert set(body) >= {"type", "title", "status", "detail", "code"}
    texts = [body["title"], body["detail"], body["code"], json.dumps(body, ensure_ascii=False)]
    for text in texts:
        text.encode("utf-8")  # no lone surrogate survives
        assert "\x00" not in text
    # No run of the caller's characters comes back longer than an excerpt.
    assert all(len(run) <= EXCERPT_LENGTH + 1 for run in re.findall(r"[^\s'\"]+", body["detail"]))
    assert len(body["detail"]) <= 2 * 2_000


_BOOM = FastAPI()
problems.install(_BOOM)


@_BOOM.get("/boom")
def _boom() -> None:
    raise _BOOM.state.error


@settings(database=None, deadline=None, max_examples=100)
@given(
    kind=st.sampled_from([InvalidInput, NotFound, Conflict]),
    code=ANY_TEXT,
    detail=ANY_TEXT,
    extra=st.dictionaries(
        ANY_TEXT.filter(lambda k: k not in ("code", "detail", "status", "title")),
        ANY_VALUE,
        max_size=3,
    ),
)
def test_property_domain_error_handler_never_raises(
    kind: type[CertdeskError], code: str, detail: str, extra: dict[str, Any]
) -> None:
    """Any domain error, whatever it carries, becomes its 4xx problem (never a 500)."""
    _BOOM.state.error = kind(code, detail, **extra)
    with TestClient(_BOOM, raise_server_exceptions=True) as client:
        resp = client.get("/boom")
    assert resp.status_code == STATUS[kind.kind]
    assert resp.headers["content-type"] == PROBLEM
    assert resp.json()["status"] == resp.status_code
