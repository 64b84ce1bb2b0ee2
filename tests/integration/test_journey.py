"""The whole journey of a case on PostgreSQL, through the HTTP API, with real accounts
(R3, R4, R5, R8, R10, R11, R12, R15):

requester opens a case with two single-name submittals and a SAN submittal → the agency's
approver and cert services approve → cert services fulfils → the requester downloads the
certificates (chains verified by ``openssl verify`` and ``cryptography``) and the generated
key (a PKCS#12 that opens with the password, once) → revokes one inside the window (the CRL
and OCSP say so) → changes one on day 24 → a change after day 25 is refused with the clear
message and nothing changed. Accounts are made by the accounts service and enrolled through
their links; everyone signs in with a password.
"""

from __future__ import annotations

import subprocess
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import ocsp
from cryptography.x509.verification import PolicyBuilder, Store
from sqlalchemy import select
from starlette.exceptions import StarletteDeprecationWarning

from certdesk.services.people.account_mail import opened
from certdesk.services.registry import Services
from certdesk.store.models import Notice
from certdesk.web.app import create_app
from conftest import OPERATOR, ManualClock
from world.csr import make_csr
from world.desk import Desk, snapshot

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.postgres
API = "/api/v1"
PASSWORD = "Journey-Password-2026!"
P12_PASSWORD = "a long pkcs12 password"


def openssl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=30
    )


class Person:
    def __init__(self, client: TestClient, token: str) -> None:
        self._client = client
        self._headers = {"Authorization": f"Bearer {token}"}

    def __call__(self, method: str, url: str, body: Any = None, **params: Any) -> Any:
        return self._client.request(
            method, API + url, json=body, headers=self._headers, params=params or None
        )

    def ok(self, method: str, url: str, body: Any = None, status: int = 200) -> Any:
        resp = self(method, url, body)
        assert resp.status_code == status, resp.text
        return resp.json()


def enrol(services: Services, client: TestClient, login: str, org: str | None, role: str) -> Person:
    """An account made by the accounts service, enrolled by its link, signed in (R10)."""
    link = services.accounts.create(
        OPERATOR,
        login,
        name=login.title(),
        email=f"{login}@cdt.ca.gov",
        org_code=org,
        roles=[role],
    )
    with services.rt.reads() as s:
        mail = s.scalars(select(Notice).where(Notice.contact_email == f"{login}@cdt.ca.gov")).one()
    assert link.link in opened(
        mail.body_text, mail.sealed_link, services.secretbox
    )  # it goes out by mail
    token = link.link.rsplit("/", 1)[1]
    assert client.post(f"{API}/enroll", json={"token": token, "password": PASSWORD}).is_success
    return sign_in(client, login)


def sign_in(client: TestClient, login: str) -> Person:
    session = client.post(f"{API}/session", json={"login_id": login, "password": PASSWORD})
    assert session.status_code == 201, session.text
    return Person(client, session.json()["token"])


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_full_journey_on_postgresql(
    services: Services, clock: ManualClock, tmp_path: Path, backend: str
) -> None:
    assert backend == "postgresql" and services.rt.engine.dialect.name == "postgresql"
    services.orgs.create(
        OPERATOR,
        "dmv",
        "Motor Vehicles",
        self_managed=False,
        grants=["zone:dmv.ca.gov", "host:permits.ca.gov"],
    )
    services.costs.set_cost(OPERATOR, "dmv", 36500)  # R11: $365.00 per certificate-year
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        ana = enrol(services, client, "ana", "dmv", "requester")
        abe = enrol(services, client, "abe", "dmv", "approver")
        opal = enrol(services, client, "opal", None, "operator")
        carl_org = services.orgs.create(
            OPERATOR, "chp", "Highway Patrol", self_managed=False, grants=["zone:chp.ca.gov"]
        )
        assert carl_org.code == "chp"
        carl = enrol(services, client, "carl", "chp", "requester")

        # 1. The requester opens a case: two single-name submittals and a SAN submittal.
        agency_csr = make_csr(["api.dmv.ca.gov"]).decode()
        case = ana.ok(
            "POST",
            "/cases",
            {
                "org": "dmv",
                "type": "new",
                "title": "Portal certificates",
                "submittals": [
                    {"names": ["www.dmv.ca.gov"], "platform": "dedicated", "validity_days": 90},
                    {"csr": agency_csr},
                    {"names": ["portal.dmv.ca.gov", "permits.ca.gov"]},
                ],
            },
            status=201,
        )
        number = case["number"]
        assert [s["cert_type"] for s in case["submittals"]] == ["single", "single", "san"]
        assert ana.ok("POST", f"/cases/{number}/submit")["state"] == "pending_approval"

        # 2. Both approvals (R4); the last one sets the R5 dates.
        assert abe.ok("POST", f"/cases/{number}/approve")["state"] == "pending_approval"
        approved = opal.ok("POST", f"/cases/{number}/approve")
        assert approved["state"] == "approved" and approved["due_date"] == "2026-12-04"

        # 3. Cert services fulfils.
        clock.advance(hours=3)
        delivered_at = clock.now
        case = opal.ok("POST", f"/cases/{number}/fulfil")
        assert case["state"] == "delivered"
        assert case["window_ends_at"] == (delivered_at + timedelta(days=25)).isoformat().replace(
            "+00:00", "Z"
        )

        # 4. The requester receives: chains verify with openssl and cryptography.
        got = ana.ok("GET", f"/cases/{number}/certificates")
        certs = got["certificates"]
        assert [c["names"] for c in certs] == [
            ["www.dmv.ca.gov"],
            ["api.dmv.ca.gov"],
            ["portal.dmv.ca.gov", "permits.ca.gov"],
        ]
        assert [c["cost_cents"] for c in certs] == [9000, 19800, 19800]  # R11
        root = next(c for i, c in services.authority.all_certificates() if i.is_root)
        inter_subject = x509.load_pem_x509_certificates(certs[0]["fullchain"].encode())[1].subject
        (tmp_path / "root.pem").write_bytes(pem(root))
        for i, c in enumerate(certs):
            leaf, intermediate = x509.load_pem_x509_certificates(c["fullchain"].encode())
            (tmp_path / f"leaf{i}.pem").write_bytes(pem(leaf))
            (tmp_path / f"chain{i}.pem").write_bytes(pem(intermediate))
            done = openssl(
                "verify", "-attime", str(int(clock.now.timestamp())), "-purpose", "sslserver",
                "-CAfile", "root.pem", "-untrusted", f"chain{i}.pem", f"leaf{i}.pem",
                cwd=tmp_path,
            )  # fmt: skip
            assert done.returncode == 0 and done.stdout.strip() == f"leaf{i}.pem: OK", done
            verifier = (
                PolicyBuilder()
                .store(Store([root]))
                .time(clock.now)
                .build_server_verifier(x509.DNSName(c["names"][-1]))
            )
            assert verifier.verify(leaf, [intermediate])[-1] == root

        # 5. The generated key: a PKCS#12 that opens with the password, once (R12).
        sub_ids = [s["id"] for s in case["submittals"]]
        key_url = f"/cases/{number}/submittals/{sub_ids[0]}/key"
        assert carl("POST", key_url, {"password": P12_PASSWORD}).status_code == 404
        resp = ana("POST", key_url, {"password": P12_PASSWORD})
        assert resp.status_code == 200 and resp.headers["content-type"] == "application/x-pkcs12"
        key, cert, extra = pkcs12.load_key_and_certificates(resp.content, P12_PASSWORD.encode())
        assert [c.subject for c in extra] == [inter_subject]
        assert (
            key is not None
            and cert is not None
            and format(cert.serial_number, "x") == (certs[0]["serial"])
        )
        (tmp_path / "www.p12").write_bytes(resp.content)
        (tmp_path / "pw").write_text(P12_PASSWORD)
        opened = openssl(
            "pkcs12", "-in", "www.p12", "-passin", "file:pw", "-nokeys", "-clcerts", cwd=tmp_path
        )
        assert opened.returncode == 0 and "BEGIN CERTIFICATE" in opened.stdout, opened.stderr
        again = ana("POST", key_url, {"password": P12_PASSWORD})
        assert again.status_code == 409 and again.json()["code"] == "key.downloaded"

        # 6. Inside the window the requester revokes one; CRL and OCSP show it (R8).
        revoked = certs[1]["serial"]
        assert carl("POST", f"/cases/{number}/revoke", {"serial": revoked}).status_code == 404
        after = ana.ok(
            "POST", f"/cases/{number}/revoke", {"serial": revoked, "reason": "keyCompromise"}
        )
        assert after["certificates"][1]["status"] == "revoked"
        leaf1 = x509.load_pem_x509_certificate((tmp_path / "leaf1.pem").read_bytes())
        inter = x509.load_pem_x509_certificate((tmp_path / "chain1.pem").read_bytes())
        slug = services.authority.issuing().slug
        crl = x509.load_der_x509_crl(client.get(f"/crl/{slug}.crl").content)
        entry = crl.get_revoked_certificate_by_serial_number(int(revoked, 16))
        assert entry is not None
        request = ocsp.OCSPRequestBuilder().add_certificate(leaf1, inter, hashes.SHA1()).build()
        answer = client.post(
            "/ocsp",
            content=request.public_bytes(serialization.Encoding.DER),
            headers={"Content-Type": "application/ocsp-request"},
        )
        status = ocsp.load_der_ocsp_response(answer.content)
        assert status.certificate_status == ocsp.OCSPCertStatus.REVOKED
        assert status.revocation_reason == x509.ReasonFlags.key_compromise

        # 7. Day 24: a change on the same case; day 25: refused, nothing changed.
        clock.now = delivered_at + timedelta(days=24)
        ana = sign_in(client, "ana")  # a session lasts CERTDESK_SESSION_HOURS
        changed = ana.ok(
            "POST",
            f"/cases/{number}/reissue",
            {"submittal_id": sub_ids[2], "platform": "dedicated"},
        )
        assert changed["certificates"][-1]["renewal_of"] == certs[2]["serial"]
        clock.now = delivered_at + timedelta(days=25)
        ana, opal = sign_in(client, "ana"), sign_in(client, "opal")
        desk = Desk("postgresql", services, clock)
        before = snapshot(desk)
        late = ana("POST", f"/cases/{number}/reissue", {"submittal_id": sub_ids[0]})
        assert late.status_code == 409, late.text
        body = late.json()
        assert body["code"] == "case.window_closed"
        assert "open a new case (R8)" in body["detail"]
        late_revoke = ana("POST", f"/cases/{number}/revoke", {"serial": certs[0]["serial"]})
        assert late_revoke.status_code == 409
        assert snapshot(desk) == before

        # 8. Usage for the day of delivery (R11), and an intact audit chain (R15).
        day = delivered_at.date().isoformat()
        usage = opal("GET", "/reports/usage", org="dmv", **{"from": day, "to": day}).json()
        assert usage["total"] == {
            "certificates": 3,
            "dedicated": 1,
            "virtual": 2,
            "cost_cents": 48600,
        }
        checked, broken = services.audit.verify(OPERATOR)
        assert broken is None and checked > 20
