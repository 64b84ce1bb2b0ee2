"""Revocation as a relying party sees it: a real ``certdesk serve`` judged by the openssl CLI.

The server is started the way an operator starts it (``certdesk init`` then ``certdesk serve``
with ``CERTDESK_*`` settings), on SQLite and on PostgreSQL. A certificate is issued through
the HTTP API; then ``openssl verify`` checks the chain and the CRLs found at the URLs written
in the certificates (RFC 5280 §4.2.1.13), ``openssl ocsp`` asks the OCSP responder over POST
and GET (RFC 6960 §A.1), and a revocation through the API must show in both.

The CRL freshness rule (republished past half its life, so ``nextUpdate`` is never reached;
republished when a revocation is newer) is checked at the service level with a manual clock.
"""

from __future__ import annotations

import base64
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import update

from certdesk.config import Settings
from certdesk.core.calendar import max_validity_days
from certdesk.core.keys import KeyType
from certdesk.services.pki.issuance import IssueCommand
from certdesk.services.pki.revocation import Reason
from certdesk.services.registry import Services
from certdesk.store.models import CertificateRow
from conftest import OPERATOR, ManualClock, scratch_database
from world.processes import certdesk_env, free_port, run_cli, serving

LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def openssl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run openssl; the caller judges the exit code (a failed verify is an expected result)."""
    return subprocess.run(
        ["openssl", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def openssl_ok(*args: str | Path, cwd: Path) -> str:
    done = openssl(*args, cwd=cwd)
    assert done.returncode == 0, f"openssl {' '.join(map(str, args))}:\n{done.stderr}"
    return done.stdout + done.stderr


@dataclass(frozen=True)
class LiveServer:
    url: str
    token: str
    root_slug: str
    inter_slug: str
    root_pem: Path  # the trust anchor a relying party installs
    home: Path

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ],
)
def server_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database of its own for the server of this module (empty; ``init`` migrates it)."""
    with scratch_database(request.param, tmp_path_factory.mktemp("db"), "ocsp") as url:
        yield url


@pytest.fixture(scope="module")
def server(server_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("server")
    port = free_port()
    settings = Settings(
        data_dir=home / "data",
        database_url=server_database,
        base_url=f"http://127.0.0.1:{port}",
        ca_passphrase="openssl-test-passphrase",
    )
    env = certdesk_env(settings)
    report = run_cli(["init"], env)
    token = report["operator_token"]
    assert token, report
    slugs = {bool(i["root"]): i["id"] for i in report["issuers"]}

    with serving(env, home, port):
        root_der = httpx.get(f"{settings.base_url}/ca/{slugs[True]}.cer", timeout=10).content
        root_pem = home / "root.pem"
        root_pem.write_bytes(
            x509.load_der_x509_certificate(root_der).public_bytes(serialization.Encoding.PEM)
        )
        live = LiveServer(settings.base_url, token, slugs[True], slugs[False], root_pem, home)
        with live.client() as c:
            r = c.post(
                "/api/v1/orgs",
                json={"code": "dmv", "name": "DMV", "grants": ["zone:dmv.ca.gov"]},
            )
            assert r.status_code == 201, r.text
        yield live


@dataclass(frozen=True)
class Leaf:
    serial: str
    dir: Path
    cert: x509.Certificate

    @property
    def pem(self) -> Path:
        return self.dir / "leaf.pem"

    @property
    def inter(self) -> Path:
        return self.dir / "inter.pem"


def issue(server: LiveServer, name: str) -> Leaf:
    """A key and CSR made here (the client side), the certificate from POST /certificates."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    with server.client() as c:
        r = c.post(
            "/api/v1/certificates",
            json={"org": "dmv", "csr": csr.public_bytes(serialization.Encoding.PEM).decode()},
        )
    assert r.status_code == 201, r.text
    body = r.json()
    home = server.home / body["serial"]
    home.mkdir()
    (home / "leaf.pem").write_text(body["certificate"])
    (home / "inter.pem").write_text(body["chain"])
    assert body["fullchain"] == body["certificate"] + body["chain"]
    return Leaf(body["serial"], home, x509.load_pem_x509_certificate(body["certificate"].encode()))


def crl_url(cert: x509.Certificate) -> str:
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    (point,) = cdp
    assert point.full_name is not None
    (uri,) = point.full_name
    assert isinstance(uri, x509.UniformResourceIdentifier)
    return uri.value


def fetch_crl(url: str, into: Path) -> tuple[Path, str]:
    """Download a DER CRL, convert it to PEM for ``-CRLfile``; also its ``-text`` dump."""
    r = httpx.get(url, timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pkix-crl"
    der = into.with_suffix(".crl")
    der.write_bytes(r.content)
    text = openssl_ok("crl", "-inform", "DER", "-in", der, "-noout", "-text", cwd=into.parent)
    pem = into.with_suffix(".crl.pem")
    openssl_ok("crl", "-inform", "DER", "-in", der, "-out", pem, cwd=into.parent)
    return pem, text


def crl_number(text: str) -> int:
    m = re.search(r"X509v3 CRL Number: *\n\s*(\d+)", text)
    assert m, text
    return int(m.group(1))


def openssl_time(text: str, label: str) -> datetime:
    m = re.search(rf"{label}: (\w{{3}} +\d+ [\d:]+ \d{{4}}) GMT", text)
    assert m, f"no {label} in:\n{text}"
    return datetime.strptime(m.group(1), "%b %d %H:%M:%S %Y").replace(tzinfo=UTC)


# --- the chain and the CRLs -----------------------------------------------------------------


def test_openssl_verifies_the_issued_chain(server: LiveServer) -> None:
    leaf = issue(server, "www.dmv.ca.gov")
    out = openssl_ok(
        "verify", "-CAfile", server.root_pem, "-untrusted", leaf.inter, leaf.pem, cwd=leaf.dir
    )
    assert "leaf.pem: OK" in out
    # R7: notAfter is 17:00 in Los Angeles; R13: within the CA/B maximum at issuance.
    dates = openssl_ok("x509", "-in", leaf.pem, "-noout", "-startdate", "-enddate", cwd=leaf.dir)
    start = datetime.strptime(dates.split("notBefore=")[1].split("\n")[0], "%b %d %H:%M:%S %Y GMT")
    end = datetime.strptime(dates.split("notAfter=")[1].split("\n")[0], "%b %d %H:%M:%S %Y GMT")
    local_end = end.replace(tzinfo=UTC).astimezone(LOS_ANGELES)
    assert (local_end.hour, local_end.minute, local_end.second) == (17, 0, 0)
    assert end - start <= timedelta(days=max_validity_days(start.replace(tzinfo=UTC)))


def test_crls_at_the_distribution_points_are_valid_and_current(server: LiveServer) -> None:
    leaf = issue(server, "crl.dmv.ca.gov")
    inter = x509.load_pem_x509_certificate(leaf.inter.read_bytes())
    bundle = leaf.dir / "cas.pem"
    bundle.write_bytes(leaf.inter.read_bytes() + server.root_pem.read_bytes())

    now = datetime.now(UTC)
    for cert, slug, issuer_pem in (
        (leaf.cert, server.inter_slug, leaf.inter),
        (inter, server.root_slug, server.root_pem),
    ):
        url = crl_url(cert)
        assert url == f"{server.url}/crl/{slug}.crl"
        _pem, text = fetch_crl(url, leaf.dir / slug)
        assert crl_number(text) >= 1
        this_update = openssl_time(text, "Last Update")
        next_update = openssl_time(text, "Next Update")
        assert this_update <= now + timedelta(seconds=5)
        assert next_update > now
        issuer_line = openssl_ok("x509", "-in", issuer_pem, "-noout", "-subject", cwd=leaf.dir)
        assert issuer_line.split("=", 1)[1].strip() in text
        # The CRL signature verifies with its issuer's certificate.
        out = openssl_ok(
            "crl", "-inform", "DER", "-in", leaf.dir / f"{slug}.crl", "-CAfile", bundle,
            "-noout", cwd=leaf.dir,
        )  # fmt: skip
        assert "verify OK" in out


# --- OCSP -----------------------------------------------------------------------------------


def ocsp_post(server: LiveServer, leaf: Leaf) -> str:
    """``openssl ocsp`` against the responder (POST, with a nonce); its whole output."""
    return openssl_ok(
        "ocsp", "-issuer", leaf.inter, "-cert", leaf.pem, "-url", f"{server.url}/ocsp",
        "-CAfile", server.root_pem, cwd=leaf.dir,
    )  # fmt: skip


def ocsp_get(server: LiveServer, leaf: Leaf) -> str:
    """RFC 6960 §A.1 GET: openssl builds the request, httpx fetches /ocsp/<base64, url-encoded>,
    openssl checks the response (its signature, and the status of this leaf)."""
    req, resp = leaf.dir / "req.der", leaf.dir / "resp.der"
    openssl_ok(
        "ocsp", "-issuer", leaf.inter, "-cert", leaf.pem, "-no_nonce", "-reqout", req,
        cwd=leaf.dir,
    )  # fmt: skip
    encoded = quote(base64.b64encode(req.read_bytes()).decode(), safe="")
    r = httpx.get(f"{server.url}/ocsp/{encoded}", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/ocsp-response"
    resp.write_bytes(r.content)
    return openssl_ok(
        "ocsp", "-respin", resp, "-issuer", leaf.inter, "-cert", leaf.pem,
        "-CAfile", server.root_pem, cwd=leaf.dir,
    )  # fmt: skip


@pytest.mark.parametrize(
    "ask", [pytest.param(ocsp_post, id="POST"), pytest.param(ocsp_get, id="GET")]
)
def test_ocsp_says_good_and_the_response_verifies(
    server: LiveServer, ask: Callable[[LiveServer, Leaf], str]
) -> None:
    leaf = issue(server, f"ocsp-{ask.__name__.removeprefix('ocsp_')}.dmv.ca.gov")
    out = ask(server, leaf)
    assert "leaf.pem: good" in out
    assert "Response verify OK" in out
    assert "revoked" not in out


def test_ocsp_for_a_serial_never_issued_is_unknown(server: LiveServer) -> None:
    leaf = issue(server, "known.dmv.ca.gov")
    req = leaf.dir / "req.der"
    openssl_ok(
        "ocsp", "-issuer", leaf.inter, "-serial", "0x1234567890abcdef", "-no_nonce",
        "-reqout", req, cwd=leaf.dir,
    )  # fmt: skip
    r = httpx.post(
        f"{server.url}/ocsp",
        content=req.read_bytes(),
        headers={"Content-Type": "application/ocsp-request"},
        timeout=10,
    )
    (leaf.dir / "resp.der").write_bytes(r.content)
    out = openssl_ok(
        "ocsp", "-respin", "resp.der", "-issuer", leaf.inter, "-serial", "0x1234567890abcdef",
        "-CAfile", server.root_pem, cwd=leaf.dir,
    )  # fmt: skip
    assert ": unknown" in out
    assert "Response verify OK" in out


# --- revocation -----------------------------------------------------------------------------


def verify_with_crls(
    server: LiveServer, leaf: Leaf, *crls: Path
) -> subprocess.CompletedProcess[str]:
    crl_args: list[str | Path] = []
    for crl in crls:
        crl_args += ["-CRLfile", crl]
    return openssl(
        "verify", "-crl_check_all", *crl_args, "-CAfile", server.root_pem,
        "-untrusted", leaf.inter, leaf.pem, cwd=leaf.dir,
    )  # fmt: skip


def test_revocation_shows_in_ocsp_and_in_a_newer_crl(server: LiveServer) -> None:
    bystander = issue(server, "still-good.dmv.ca.gov")
    leaf = issue(server, "compromised.dmv.ca.gov")
    inter_cert = x509.load_pem_x509_certificate(leaf.inter.read_bytes())
    root_crl, _ = fetch_crl(crl_url(inter_cert), leaf.dir / "root")
    before, before_text = fetch_crl(crl_url(leaf.cert), leaf.dir / "before")
    assert f"{int(leaf.serial, 16):X}" not in before_text

    ok = verify_with_crls(server, leaf, before, root_crl)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    with server.client() as c:
        r = c.post(f"/api/v1/certificates/{leaf.serial}/revoke", json={"reason": "keyCompromise"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "revoked"

    for ask in (ocsp_post, ocsp_get):
        out = ask(server, leaf)
        assert "leaf.pem: revoked" in out, out
        assert "Reason: keyCompromise" in out
        assert "Revocation Time:" in out
        assert "Response verify OK" in out

    after, after_text = fetch_crl(crl_url(leaf.cert), leaf.dir / "after")
    assert crl_number(after_text) > crl_number(before_text)
    entry = re.search(
        rf"Serial Number: 0*{leaf.serial.upper()}\n\s+Revocation Date: .*\n"
        r"\s+CRL entry extensions:\n\s+X509v3 CRL Reason Code: *\n\s+Key Compromise",
        after_text,
    )
    assert entry, after_text

    revoked = verify_with_crls(server, leaf, after, root_crl)
    assert revoked.returncode != 0
    assert "certificate revoked" in revoked.stdout + revoked.stderr
    # The same CRL leaves the other certificate of the CA valid: the failure is this serial.
    other = verify_with_crls(server, bystander, after, root_crl)
    assert other.returncode == 0, other.stdout + other.stderr
    assert "leaf.pem: good" in ocsp_post(server, bystander)


# --- CRL freshness (service level, manual clock) --------------------------------------------


def crl_facts(der: bytes) -> tuple[int, datetime, datetime, set[int]]:
    crl = x509.load_der_x509_crl(der)
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert crl.next_update_utc is not None
    return number, crl.last_update_utc, crl.next_update_utc, {r.serial_number for r in crl}


HALF_LIFE = timedelta(hours=84)  # crl_validity_hours 168 / 2


@pytest.mark.parametrize(
    ("advance", "republished"),
    [
        pytest.param(timedelta(0), False, id="fresh/just-published"),
        pytest.param(timedelta(hours=1), False, id="fresh/1h"),
        pytest.param(HALF_LIFE - timedelta(seconds=1), False, id="fresh/1s-before-half-life"),
        pytest.param(HALF_LIFE, True, id="stale/at-half-life"),
        pytest.param(timedelta(hours=100), True, id="stale/past-half-life"),
        pytest.param(timedelta(hours=169), True, id="stale/past-nextUpdate"),
    ],
)
@pytest.mark.parametrize("ca", ["root", "issuing"])
def test_crl_is_republished_past_half_its_life(
    services: Services,
    settings: Settings,
    clock: ManualClock,
    ca: str,
    advance: timedelta,
    republished: bool,
) -> None:
    assert settings.crl_validity_hours == 168
    slugs = {i.is_root: i.slug for i, _ in services.authority.all_certificates()}
    slug = slugs[ca == "root"]
    first = services.revocation.crl(slug)  # the CRL init published, cached in the database
    number, this_update, next_update, _ = crl_facts(first)
    assert next_update - this_update == timedelta(hours=168)

    clock.advance(seconds=advance.total_seconds())
    served = services.revocation.crl(slug)
    again = services.revocation.crl(slug)
    assert again == served  # a republished CRL is then cached too
    new_number, new_this, new_next, _ = crl_facts(served)
    if republished:
        assert new_number == number + 1
        assert new_this == clock.now.replace(microsecond=0)
    else:
        assert served == first
    # Whatever is served is never past its nextUpdate, and has at least half its life left.
    assert new_next - clock.now >= HALF_LIFE


def test_a_revocation_newer_than_the_crl_forces_a_new_crl(
    services: Services, clock: ManualClock
) -> None:
    """revoke() republishes at once; should the process die before that, the next CRL
    request must notice the revocation is newer than the CRL — even within the same second."""
    services.orgs.create(OPERATOR, "dmv", "DMV", self_managed=False, grants=[])
    issued = [
        services.issuance.issue(
            OPERATOR,
            IssueCommand("dmv", services.csrs.generate([f"{n}.dmv.ca.gov"], KeyType.EC256).csr_pem),
        )
        for n in ("a", "b")
    ]
    slug = services.authority.issuing().slug
    clock.advance(seconds=30)
    services.revocation.revoke(OPERATOR, issued[0].serial, Reason.SUPERSEDED)
    number, *_ = crl_facts(services.revocation.crl(slug))

    # Same second as that CRL: a second revocation is committed and its process dies
    # before publishing (no publish_crl call).
    clock.advance(seconds=0.5)
    with services.rt.sessions.begin() as s:
        s.execute(
            update(CertificateRow)
            .where(CertificateRow.serial == issued[1].serial)
            .values(
                status="revoked",
                revoked_at=clock.now.replace(microsecond=0),
                revocation_reason="keyCompromise",
            )
        )
    clock.advance(seconds=0.1)
    new_number, _, _, listed = crl_facts(services.revocation.crl(slug))
    assert new_number == number + 1
    assert listed == {i.certificate.serial_number for i in issued}
