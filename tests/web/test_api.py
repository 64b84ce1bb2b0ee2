"""Every route of the HTTP API, end to end through the FastAPI app, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import importlib
import pkgutil
import platform
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from alembic.script import ScriptDirectory
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509 import ocsp
from cryptography.x509.verification import PolicyBuilder, Store
from fastapi.routing import APIRoute
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

import certdesk
from certdesk.config import Settings
from certdesk.core.access import Role
from certdesk.core.calendar import PACIFIC, validity_for
from certdesk.services.pki.revocation import Reason
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.store.db import alembic_config
from certdesk.store.schema import head_revision
from certdesk.web import api as api_package
from certdesk.web.app import create_app
from conftest import BACKENDS, OPERATOR, ManualClock
from world.api import ORG_A, ORG_B, ORG_M, TestClient, World, bearer, build_world
from world.csr import csr_text

API = "/api/v1"
# Tables whose rows differ only in input run on SQLite; flows run on both backends.
SQLITE = pytest.mark.parametrize("backend", ["sqlite"])  # overrides conftest's backend


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    """The app with an operator token on every request; two self-managed organizations."""
    services.orgs.create(
        OPERATOR, "alpha", "Alpha Agency", self_managed=True, grants=["zone:alpha.ca.gov"]
    )
    services.orgs.create(
        OPERATOR, "bravo", "Bravo Agency", self_managed=True, grants=["zone:bravo.ca.gov"]
    )
    token = services.tokens.create(OPERATOR, role=Role.OPERATOR, org_code=None)
    with TestClient(
        create_app(services), headers=bearer(token.secret), raise_server_exceptions=False
    ) as c:
        yield c


def issue(client: TestClient, org: str, names: list[str], **extra: Any) -> dict[str, Any]:
    resp = client.post(f"{API}/certificates", json={"org": org, "csr": csr_text(names), **extra})
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def ca_certs(services: Services) -> tuple[x509.Certificate, x509.Certificate, str, str]:
    """(root, issuing CA, root slug, issuing slug)."""
    found = services.authority.all_certificates()
    ((root_row, root),) = [(r, c) for r, c in found if r.is_root]
    ((inter_row, inter),) = [(r, c) for r, c in found if not r.is_root]
    return root, inter, root_row.slug, inter_row.slug


# --------------------------------------------------------------------------- organizations


def test_orgs_create_list_show_and_grants(client: TestClient) -> None:
    created = client.post(
        f"{API}/orgs",
        json={
            "code": "DMV",
            "name": "Department of Motor Vehicles",
            "service": "self-managed",
            "grants": ["zone:DMV.ca.gov", "host:permits.ca.gov"],
        },
    )
    assert created.status_code == 201, created.text
    dmv = {
        "code": "dmv",
        "name": "Department of Motor Vehicles",
        "service": "self-managed",
        "grants": ["zone:dmv.ca.gov", "host:permits.ca.gov"],
        "issuer": "builtin",
        "grant_issuers": {},
    }
    assert created.json() == dmv
    managed = client.post(f"{API}/orgs", json={"code": "cdt", "name": "Technology"})
    assert managed.status_code == 201
    assert managed.json() == {
        "code": "cdt",
        "name": "Technology",
        "service": "managed",
        "grants": [],
        "issuer": "builtin",
        "grant_issuers": {},
    }

    listed = client.get(f"{API}/orgs")
    assert listed.status_code == 200
    assert sorted(o["code"] for o in listed.json()) == ["alpha", "bravo", "cdt", "dmv"]
    assert client.get(f"{API}/orgs/dmv").json() == dmv
    assert client.get(f"{API}/orgs/DMV").json() == dmv

    added = client.post(f"{API}/orgs/dmv/grants", json={"grant": "zone:apps.ca.gov"})
    assert added.status_code == 201
    assert added.json()["grants"] == ["zone:dmv.ca.gov", "host:permits.ca.gov", "zone:apps.ca.gov"]

    removed = client.delete(f"{API}/orgs/dmv/grants/host:permits.ca.gov")
    assert removed.status_code == 200
    assert removed.json()["grants"] == ["zone:dmv.ca.gov", "zone:apps.ca.gov"]
    assert client.get(f"{API}/orgs/dmv").json()["grants"] == ["zone:dmv.ca.gov", "zone:apps.ca.gov"]


# --------------------------------------------------------------------------- tokens


def test_token_create_and_use(client: TestClient) -> None:
    resp = client.post(
        f"{API}/tokens", json={"role": "delegated_admin", "org": "alpha", "label": "ci"}
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["role"] == "delegated_admin"
    assert body["org"] == "alpha"
    assert body["token"].startswith(f"cd_{body['prefix']}_")
    assert len(body["token"]) > 40

    # The new token acts for its organization only.
    seen = client.get(f"{API}/orgs", headers=bearer(body["token"]))
    assert seen.status_code == 200
    assert [o["code"] for o in seen.json()] == ["alpha"]

    auditor = client.post(f"{API}/tokens", json={"role": "auditor"})
    assert auditor.status_code == 201
    assert auditor.json()["org"] is None
    everything = client.get(f"{API}/orgs", headers=bearer(auditor.json()["token"]))
    assert sorted(o["code"] for o in everything.json()) == ["alpha", "bravo"]


# --------------------------------------------------------------------------- policy


@SQLITE
@pytest.mark.parametrize(
    ("org", "names", "allowed", "expected"),
    [
        pytest.param(
            None,
            ["www.alpha.ca.gov", "WWW.Bravo.CA.GOV"],
            True,
            [
                ("R1", "name.allowed", "www.alpha.ca.gov", "suffix ca.gov"),
                ("R1", "name.allowed", "www.bravo.ca.gov", "suffix ca.gov"),
            ],
            id="operator-scope/all-allowed",
        ),
        pytest.param(
            None,
            ["ok.ca.gov", "ca.gov", "evilca.gov", "x.ca.gov."],
            False,
            [
                ("R1", "name.allowed", "ok.ca.gov", "suffix ca.gov"),
                ("R1", "name.bare_suffix", "ca.gov", None),
                ("R1", "name.lookalike", "evilca.gov", None),
                ("R1", "name.trailing_dot", None, None),
            ],
            id="operator-scope/r1-refusals",
        ),
        pytest.param(
            "alpha",
            ["*.alpha.ca.gov", "bücher.alpha.ca.gov", "www.bravo.ca.gov", "a_b.alpha.ca.gov"],
            False,
            [
                ("R2", "name.allowed", "*.alpha.ca.gov", "zone alpha.ca.gov"),
                ("R2", "name.allowed", "xn--bcher-kva.alpha.ca.gov", "zone alpha.ca.gov"),
                ("R2", "name.not_granted", "www.bravo.ca.gov", None),
                ("R1", "name.underscore", None, None),
            ],
            id="org/granted-and-not",
        ),
        pytest.param(
            "ALPHA",
            ["alpha.ca.gov", "deep.www.alpha.ca.gov"],
            True,
            [
                ("R2", "name.allowed", "alpha.ca.gov", "zone alpha.ca.gov"),
                ("R2", "name.allowed", "deep.www.alpha.ca.gov", "zone alpha.ca.gov"),
            ],
            id="org/all-granted",
        ),
    ],
)
def test_policy_check(
    client: TestClient,
    org: str | None,
    names: list[str],
    allowed: bool,
    expected: list[tuple[str, str, str | None, str | None]],
) -> None:
    payload: dict[str, Any] = {"names": names}
    if org is not None:
        payload["org"] = org
    resp = client.post(f"{API}/policy/check", json=payload)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["allowed"] is allowed
    assert [r["name"] for r in body["results"]] == names
    for result, (rule, code, normalized, reason) in zip(body["results"], expected, strict=True):
        assert (result["rule"], result["code"], result["normalized"]) == (rule, code, normalized)
        assert result["allowed"] is (code == "name.allowed")
        assert result["reason"]
        if reason is not None:
            assert result["reason"] == reason


@SQLITE
@pytest.mark.parametrize(
    ("org", "names", "key", "acceptable", "key_type", "codes"),
    [
        pytest.param(
            "alpha", ["www.alpha.ca.gov"], None, True, "ec256", ["name.allowed"], id="granted"
        ),
        pytest.param(
            "alpha",
            ["www.alpha.ca.gov", "www.bravo.ca.gov"],
            None,
            False,
            "ec256",
            ["name.allowed", "name.not_granted"],
            id="one-not-granted",
        ),
        pytest.param(
            None,
            ["www.bravo.ca.gov"],
            "rsa2048",
            True,
            "rsa2048",
            ["name.allowed"],
            id="operator-scope/rsa",
        ),
    ],
)
def test_csr_validate(
    client: TestClient,
    org: str | None,
    names: list[str],
    key: str | None,
    acceptable: bool,
    key_type: str,
    codes: list[str],
) -> None:
    private = rsa.generate_private_key(65537, 2048) if key == "rsa2048" else None
    payload: dict[str, Any] = {"csr": csr_text(names, key=private, cn=names[0])}
    if org:
        payload["org"] = org
    resp = client.post(f"{API}/csr/validate", json=payload)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["acceptable"] is acceptable
    assert body["key_type"] == key_type
    assert body["signature_hash"] == "sha256"
    assert body["subject"] == f"CN={names[0]}"
    assert [v["code"] for v in body["names"]] == codes
    assert [v["name"] for v in body["names"]] == names
    assert client.get(f"{API}/certificates").json()["items"] == []  # validation issues nothing


# --------------------------------------------------------------------------- issuance


def test_issue_returns_a_chain_that_verifies(
    client: TestClient, services: Services, clock: ManualClock
) -> None:
    body = issue(client, "alpha", ["www.alpha.ca.gov", "api.alpha.ca.gov"], platform="dedicated")
    root, inter, root_slug, _ = ca_certs(services)

    leaf = x509.load_pem_x509_certificate(body["certificate"].encode())
    chain = x509.load_pem_x509_certificates(body["chain"].encode())
    assert chain == [inter]  # the issuing CA only; the root is the trust anchor
    assert body["fullchain"] == body["certificate"] + body["chain"]
    assert body["serial"] == format(leaf.serial_number, "x")
    assert body["organization"] == "alpha"
    assert body["names"] == ["www.alpha.ca.gov", "api.alpha.ca.gov"]
    # The default validity is the pipeline's (R13: at most 200 days at this date) and ends
    # at 17:00 Pacific (R7), as the certificate itself says.
    assert body["not_before"] == "2026-11-26T18:00:00Z"
    not_after = datetime.fromisoformat(body["not_after"])
    assert not_after == validity_for(clock.now).not_after == leaf.not_valid_after_utc
    assert not_after.astimezone(PACIFIC).time() == time(17, 0)
    assert timedelta(days=190) < not_after - clock.now <= timedelta(days=200)

    served_root = client.get(f"/ca/{root_slug}.cer")
    assert x509.load_der_x509_certificate(served_root.content) == root
    verifier = (
        PolicyBuilder()
        .store(Store([root]))
        .time(clock.now)
        .build_server_verifier(x509.DNSName("api.alpha.ca.gov"))
    )
    verified = verifier.verify(leaf, chain)
    assert verified == [leaf, inter, root]

    shown = client.get(f"{API}/certificates/{body['serial']}").json()
    assert shown["platform"] == "dedicated"
    assert shown["status"] == "active"


def test_issue_with_days_ends_at_five_pm_pacific(client: TestClient) -> None:
    body = issue(client, "alpha", ["www.alpha.ca.gov"], days=10)
    # 2026-11-26 + 10 days = 2026-12-06, 17:00 PST = 01:00Z the next day.
    assert body["not_after"] == "2026-12-07T01:00:00Z"


# --------------------------------------------------------------------------- inventory


@pytest.fixture(scope="module", params=BACKENDS)
def listing(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[World, dict[str, str]]]:
    """A world used only for reading: its three standing certificates (A: alpha, B: bravo,
    M: mgd; 200 days) plus a2 (alpha, 10 days) and b2 (bravo, 20 days); A is revoked."""
    with build_world(request.param, tmp_path_factory.mktemp("listing")) as world:
        serials = {"A": world.certs[ORG_A], "B": world.certs[ORG_B], "M": world.certs[ORG_M]}
        serials["a2"] = world.issue(ORG_A, "api.alpha.ca.gov", days=10)
        serials["b2"] = world.issue(ORG_B, "api.bravo.ca.gov", days=20)
        world.services.revocation.revoke(OPERATOR, serials["A"], Reason.SUPERSEDED)
        yield world, serials


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("", ["b2", "a2", "M", "B", "A"], id="all-newest-first"),
        pytest.param("org=alpha", ["a2", "A"], id="org"),
        pytest.param("org=BRAVO", ["b2", "B"], id="org-case"),
        pytest.param("name=api.alpha.ca.gov", ["a2"], id="name"),
        pytest.param("name=API.Alpha.CA.gov", ["a2"], id="name-case"),
        pytest.param("name=nothing.ca.gov", [], id="name-none"),
        pytest.param("status=revoked", ["A"], id="status-revoked"),
        pytest.param("status=active", ["b2", "a2", "M", "B"], id="status-active"),
        pytest.param("status=expired", [], id="status-expired-none-yet"),
        pytest.param("expiring_within=15d", ["a2"], id="expiring-15d"),
        pytest.param("expiring_within=3w", ["b2", "a2"], id="expiring-3w"),
        pytest.param("org=alpha&status=active", ["a2"], id="org-and-status"),
        pytest.param("org=bravo&expiring_within=30d", ["b2"], id="org-and-expiring"),
        pytest.param("status=active&expiring_within=30d", ["b2", "a2"], id="status-and-expiring"),
    ],
)
def test_list_filters(
    listing: tuple[World, dict[str, str]], query: str, expected: list[str]
) -> None:
    world, serials = listing
    resp = world.client.get(f"{API}/certificates?{query}", headers=bearer(world.tokens["operator"]))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [item["serial"] for item in body["items"]] == [serials[k] for k in expected]
    assert body["next_cursor"] is None


@pytest.fixture
def inventory(client: TestClient) -> dict[str, str]:
    """a1 (alpha, 200 days, revoked), a2 (alpha, 10 days), b1 (bravo, 20 days)."""
    a1 = issue(client, "alpha", ["www.alpha.ca.gov"])["serial"]
    a2 = issue(client, "alpha", ["api.alpha.ca.gov"], days=10)["serial"]
    b1 = issue(client, "bravo", ["www.bravo.ca.gov"], days=20)["serial"]
    revoked = client.post(f"{API}/certificates/{a1}/revoke", json={"reason": "superseded"})
    assert revoked.status_code == 200
    return {"a1": a1, "a2": a2, "b1": b1}


def test_list_expired_after_time_passes(
    client: TestClient, inventory: dict[str, str], clock: ManualClock
) -> None:
    clock.advance(days=11)  # past a2's 10-day validity, before b1's 20 days
    expired = client.get(f"{API}/certificates?status=expired").json()["items"]
    assert [i["serial"] for i in expired] == [inventory["a2"]]
    assert expired[0]["status"] == "expired"
    active = client.get(f"{API}/certificates?status=active").json()["items"]
    assert [i["serial"] for i in active] == [inventory["b1"]]


def test_pagination_visits_every_certificate_once_newest_first(client: TestClient) -> None:
    issued = [
        issue(
            client, "alpha" if i % 2 else "bravo", [f"h{i}.{'alpha' if i % 2 else 'bravo'}.ca.gov"]
        )["serial"]
        for i in range(7)
    ]
    seen: list[str] = []
    sizes: list[int] = []
    url = f"{API}/certificates?limit=3"
    cursor: str | None = None
    for _ in range(10):  # bounded: a cursor that never ends is a bug, not a hang
        resp = client.get(url + (f"&cursor={cursor}" if cursor else ""))
        assert resp.status_code == 200, resp.text
        page = resp.json()
        sizes.append(len(page["items"]))
        seen += [item["serial"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sizes == [3, 3, 1]
    assert seen == list(reversed(issued))

    # Filters hold across pages too.
    alpha_pages = client.get(f"{API}/certificates?org=alpha&limit=2").json()
    assert len(alpha_pages["items"]) == 2
    rest = client.get(
        f"{API}/certificates?org=alpha&limit=2&cursor={alpha_pages['next_cursor']}"
    ).json()
    alpha = [i["serial"] for i in alpha_pages["items"] + rest["items"]]
    assert alpha == [s for i, s in reversed(list(enumerate(issued))) if i % 2]


def test_show_certificate(client: TestClient, services: Services) -> None:
    first = issue(client, "alpha", ["www.alpha.ca.gov"])
    renewal = issue(client, "alpha", ["www.alpha.ca.gov"], renewal_of=first["serial"])
    _, _, _, inter_slug = ca_certs(services)
    for spelled in (renewal["serial"], renewal["serial"].upper(), "0x" + renewal["serial"]):
        resp = client.get(f"{API}/certificates/{spelled}")
        assert resp.status_code == 200, resp.text
        shown = resp.json()
        assert shown["serial"] == renewal["serial"]
        assert shown["organization"] == "alpha"
        assert shown["names"] == ["www.alpha.ca.gov"]
        assert shown["status"] == "active"
        assert shown["key_type"] == "ec256"
        assert shown["platform"] == "virtual"
        assert shown["issuer"] == inter_slug
        assert shown["renewal_of"] == first["serial"]
        assert shown["requested_by"].startswith("token:")
        assert shown["revoked_at"] is None
        assert shown["not_after"] == renewal["not_after"]
        leaf = x509.load_pem_x509_certificate(renewal["certificate"].encode())
        assert shown["fingerprint_sha256"] == leaf.fingerprint(hashes.SHA256()).hex()


@SQLITE
@pytest.mark.parametrize(
    ("fmt", "media", "ext"),
    [
        pytest.param("pem", "application/x-pem-file", "pem", id="pem"),
        pytest.param("der", "application/pkix-cert", "cer", id="der"),
        pytest.param("chain", "application/x-pem-file", "chain.pem", id="chain"),
        pytest.param("p7b", "application/pkcs7-mime", "p7b", id="p7b"),
    ],
)
def test_export(client: TestClient, services: Services, fmt: str, media: str, ext: str) -> None:
    body = issue(client, "alpha", ["www.alpha.ca.gov"])
    leaf = x509.load_pem_x509_certificate(body["certificate"].encode())
    _, inter, _, _ = ca_certs(services)
    resp = client.get(f"{API}/certificates/{body['serial']}/export?format={fmt}")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == media
    assert resp.headers["content-disposition"] == (f'attachment; filename="{body["serial"]}.{ext}"')
    parsed = {
        "pem": lambda d: [x509.load_pem_x509_certificate(d)],
        "der": lambda d: [x509.load_der_x509_certificate(d)],
        "chain": x509.load_pem_x509_certificates,
        "p7b": pkcs7.load_der_pkcs7_certificates,
    }[fmt](resp.content)
    assert parsed == ([leaf] if fmt in ("pem", "der") else [leaf, inter])


def test_export_defaults_to_pem(client: TestClient) -> None:
    body = issue(client, "alpha", ["www.alpha.ca.gov"])
    resp = client.get(f"{API}/certificates/{body['serial']}/export")
    assert resp.status_code == 200
    assert resp.text == body["certificate"]


# --------------------------------------------------------------------------- revocation


def _ocsp_request(leaf: x509.Certificate, issuer: x509.Certificate) -> bytes:
    req = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build()
    return req.public_bytes(serialization.Encoding.DER)


def _ocsp(
    client: TestClient, der: bytes, method: str, issuer: x509.Certificate
) -> ocsp.OCSPResponse:
    if method == "POST":
        resp = client.post(
            "/ocsp", content=der, headers={"Content-Type": "application/ocsp-request"}
        )
    else:
        resp = client.get("/ocsp/" + quote(base64.b64encode(der).decode(), safe=""))
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/ocsp-response"
    parsed = ocsp.load_der_ocsp_response(resp.content)
    assert parsed.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    # Signed by the issuing CA itself (no delegated responder certificate).
    assert parsed.certificates == []
    hash_algorithm = parsed.signature_hash_algorithm
    assert hash_algorithm is not None
    public_key = issuer.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(parsed.signature, parsed.tbs_response_bytes, ec.ECDSA(hash_algorithm))
    return parsed


def _crl(client: TestClient, slug: str, issuer: x509.Certificate) -> x509.CertificateRevocationList:
    resp = client.get(f"/crl/{slug}.crl")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/pkix-crl"
    crl = x509.load_der_x509_crl(resp.content)
    assert crl.issuer == issuer.subject
    assert crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    return crl


def test_an_ocsp_post_sent_as_a_form_is_still_answered(
    client: TestClient, services: Services
) -> None:
    # curl --data-binary @req.der, without -H, labels the body a urlencoded form; the app's
    # character check parsed it as one and refused the DER's NUL bytes (a form without one
    # left the route a consumed stream: a 500). The route takes raw bytes whatever the label.
    body = issue(client, "alpha", ["form.alpha.ca.gov"])
    leaf = x509.load_pem_x509_certificate(body["certificate"].encode())
    _, inter, _, _ = ca_certs(services)
    request_der = _ocsp_request(leaf, inter)
    resp = client.post(
        "/ocsp", content=request_der, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert resp.status_code == 200, resp.text
    answer = ocsp.load_der_ocsp_response(resp.content)
    assert answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert answer.serial_number == leaf.serial_number
    # A multipart form is not an OCSP request either, but it is bytes: malformedRequest.
    wrapped = client.post("/ocsp", files={"request": ("req.der", request_der)})
    assert wrapped.status_code == 200, wrapped.text
    malformed = ocsp.load_der_ocsp_response(wrapped.content).response_status
    assert malformed is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_revoke_shows_in_crl_and_ocsp(
    client: TestClient, services: Services, clock: ManualClock
) -> None:
    body = issue(client, "alpha", ["www.alpha.ca.gov"])
    other = issue(client, "alpha", ["api.alpha.ca.gov"])
    leaf = x509.load_pem_x509_certificate(body["certificate"].encode())
    _, inter, _, inter_slug = ca_certs(services)
    request_der = _ocsp_request(leaf, inter)

    before = _crl(client, inter_slug, inter)
    assert before.get_revoked_certificate_by_serial_number(leaf.serial_number) is None
    for method in ("POST", "GET"):
        answer = _ocsp(client, request_der, method, inter)
        assert answer.serial_number == leaf.serial_number
        assert answer.certificate_status is ocsp.OCSPCertStatus.GOOD

    clock.advance(minutes=5)
    resp = client.post(
        f"{API}/certificates/{body['serial']}/revoke", json={"reason": "keyCompromise"}
    )
    assert resp.status_code == 200, resp.text
    revoked = resp.json()
    assert revoked["status"] == "revoked"
    assert revoked["revocation_reason"] == "keyCompromise"
    assert revoked["revoked_at"] == "2026-11-26T18:05:00Z"

    after = _crl(client, inter_slug, inter)
    entry = after.get_revoked_certificate_by_serial_number(leaf.serial_number)
    assert entry is not None
    assert entry.revocation_date_utc == datetime(2026, 11, 26, 18, 5, tzinfo=UTC)
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.key_compromise
    other_serial = int(other["serial"], 16)
    assert after.get_revoked_certificate_by_serial_number(other_serial) is None
    number = after.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number > before.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number

    for method in ("POST", "GET"):
        answer = _ocsp(client, request_der, method, inter)
        assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED
        assert answer.revocation_reason is x509.ReasonFlags.key_compromise
        assert answer.revocation_time_utc == datetime(2026, 11, 26, 18, 5, tzinfo=UTC)
    assert client.get(f"{API}/certificates/{body['serial']}").json()["status"] == "revoked"


def test_ca_certificates_are_served(client: TestClient, services: Services) -> None:
    for row, cert in services.authority.all_certificates():
        resp = client.get(f"/ca/{row.slug}.cer")
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "application/pkix-cert"
        assert x509.load_der_x509_certificate(resp.content) == cert


# --------------------------------------------------------------------------- operations


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "version": certdesk.__version__}
    ready = client.get("/readyz", headers={"Authorization": ""})
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        # This process only: the lifecycle workers are not asked (issue 9, part 7).
        "checks": {"database": "ok", "schema": "ok", "ca": "ok"},
    }


def _previous_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_revision(head_revision())
    assert head is not None and isinstance(head.down_revision, str)
    return head.down_revision


@pytest.mark.parametrize(
    ("revision", "why"),
    [
        pytest.param(_previous_revision, "schema.outdated", id="schema/older-needs-upgrade"),
        pytest.param(lambda: "f00dfeedbeef", "schema.newer", id="schema/newer-than-this-code"),
    ],
)
def test_readyz_503_when_the_schema_is_not_current(
    client: TestClient, services: Services, revision: Any, why: str
) -> None:
    with services.rt.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision()})
    try:
        resp = client.get("/readyz")
        assert resp.status_code == 503
        assert resp.json() == {
            "status": "not ready",
            "checks": {"database": "ok", "schema": why, "ca": "ok"},
        }
    finally:
        with services.rt.engine.begin() as conn:
            conn.execute(
                text("UPDATE alembic_version SET version_num = :v"), {"v": head_revision()}
            )
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize(
    ("change", "why"),
    [
        pytest.param(
            {"ca_passphrase": "not-the-passphrase"}, "ca.key_locked", id="wrong-passphrase"
        ),
        pytest.param({"data_dir": "elsewhere"}, "ca.key_missing", id="key-file-missing"),
    ],
)
def test_readyz_503_when_the_ca_key_is_unusable(
    services: Services, change: dict[str, str], why: str, tmp_path: Any
) -> None:
    settings = services.rt.settings
    if "data_dir" in change:
        change = {"data_dir": str(tmp_path / change["data_dir"])}
    broken = Services(
        Runtime.open(Settings(**{**settings.model_dump(), **change}), services.rt.clock)
    )
    try:
        with TestClient(create_app(broken), raise_server_exceptions=False) as c:
            resp = c.get("/readyz")
        assert resp.status_code == 503
        body = resp.json()
        assert body["status"] == "not ready"
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["ca"] == why  # a code, never the key file's path
    finally:
        broken.rt.close()


def _metric(text: str, name: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and not sample.labels:
                return float(sample.value)
    raise AssertionError(f"metric {name} not exposed")


def test_metrics(client: TestClient) -> None:
    empty = client.get("/metrics")
    assert empty.status_code == 200
    assert empty.headers["content-type"].startswith("text/plain")
    assert _metric(empty.text, "certdesk_certificates_issued") == 0
    assert _metric(empty.text, "certdesk_issuance_seconds_count") == 0
    build = [
        s
        for family in text_string_to_metric_families(empty.text)
        for s in family.samples
        if s.name == "certdesk_build_info"
    ]
    assert [(s.labels, s.value) for s in build] == [
        ({"version": certdesk.__version__, "python": platform.python_version()}, 1.0)
    ]

    first = issue(client, "alpha", ["www.alpha.ca.gov"])
    issue(client, "bravo", ["www.bravo.ca.gov"])
    issue(client, "bravo", ["api.bravo.ca.gov"])
    client.post(f"{API}/certificates/{first['serial']}/revoke", json={"reason": "superseded"})
    text = client.get("/metrics").text
    assert "certdesk_issuance_seconds" in text
    assert _metric(text, "certdesk_issuance_seconds_count") == 3
    assert _metric(text, "certdesk_certificates_issued") == 3  # revoked ones count as issued
    assert _metric(text, "certdesk_certificates_revoked") == 1


EXPECTED_API_ROUTES = {
    "/api/v1/orgs": {"get", "post"},
    "/api/v1/orgs/{code}": {"get", "patch"},
    "/api/v1/orgs/{code}/grants": {"post"},
    "/api/v1/orgs/{code}/grants/{grant}": {"delete"},
    "/api/v1/tokens": {"get", "post"},
    "/api/v1/tokens/{prefix}": {"delete"},
    "/api/v1/policy/check": {"post"},
    "/api/v1/csr/validate": {"post"},
    "/api/v1/certificates": {"get", "post"},
    "/api/v1/certificates/{serial}": {"get"},
    "/api/v1/certificates/{serial}/export": {"get"},
    "/api/v1/certificates/{serial}/revoke": {"post"},
}


def _api_routers() -> dict[str, set[str]]:
    """Path -> methods of every router module under ``certdesk.web.api``."""
    served: dict[str, set[str]] = {}
    for info in pkgutil.iter_modules(api_package.__path__):
        module = importlib.import_module(f"{api_package.__name__}.{info.name}")
        router = getattr(module, "router", None)
        for route in getattr(router, "routes", []):
            assert isinstance(route, APIRoute)
            assert route.methods is not None
            served.setdefault(route.path, set()).update(m.lower() for m in route.methods)
    return served


@SQLITE
def test_openapi_lists_every_api_route(client: TestClient) -> None:
    resp = client.get("/openapi.json", headers={"Authorization": ""})
    assert resp.status_code == 200
    spec = resp.json()
    documented = {
        path: {m for m in ops if m in {"get", "post", "put", "patch", "delete"}}
        for path, ops in spec["paths"].items()
        if path.startswith(API)
    }
    # The routes of this suite, each with exactly its methods ...
    assert {p: documented.get(p) for p in EXPECTED_API_ROUTES} == EXPECTED_API_ROUTES
    # ... and no route of any API router is left out of the document (none can hide).
    assert documented == _api_routers()

    # Each of them is served, and only with a bearer token.
    schemes = spec["components"]["securitySchemes"]
    assert [s["scheme"] for s in schemes.values()] == ["bearer"]
    for path, methods in EXPECTED_API_ROUTES.items():
        concrete = path.format(code="alpha", grant="zone:alpha.ca.gov", serial="ab", prefix="ab")
        for method in methods:
            assert spec["paths"][path][method].get("security"), (path, method)
            refused = client.request(method.upper(), concrete, headers={"Authorization": ""})
            assert refused.status_code == 401, (method, path, refused.text)

    # The PKI and health endpoints are public and documented too.
    for public in ("/crl/{slug}.crl", "/ca/{slug}.cer", "/ocsp", "/healthz", "/readyz"):
        assert public in spec["paths"]
