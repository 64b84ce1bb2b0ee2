"""Real peers for the vendor-CA tests: Debian's ``pebble`` as the vendor (EAB required),
``bind9`` as the zone's authoritative server (RFC 2136 + TSIG), and a loopback HTTP listener
for http-01. Everything listens on 127.0.0.1 on free ports, under a test's temporary folder.

A plain module, not a ``conftest.py`` (that name would shadow ``tests/conftest.py`` for
``from conftest import ...``); test modules import the pieces they use.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certdesk.ca.acme.account import Account, ExternalAccountBinding, new_account_key, register
from certdesk.ca.acme.backend import AcmeIssuer, AcmeSettings
from certdesk.ca.acme.dns01 import NameServer, TsigKey
from certdesk.ca.acme.problems import Backoff
from certdesk.ca.acme.session import AcmeSession, Endpoint
from certdesk.ca.acme.solvers import ByZone, Solver
from certdesk.ca.issuer import Intent, IssueRequest

ZONE = "dmv.ca.gov"
EAB_KID = "dmv-vendor-kid"
# RFC 8555 §7.3.4: the HMAC key is base64url; pebble decodes it the same way.
EAB_HMAC = base64.urlsafe_b64encode(b"k" * 32 + b"dmv-eab-test-key").decode().rstrip("=")
PEBBLE_VALIDITY = timedelta(days=90)
# Retries as the backend makes them, without the seconds of waiting (tests stop pebble).
FAST_BACKOFF = Backoff(attempts=3, base=timedelta(milliseconds=20))
PEBBLE_OCSP_URL = "http://ocsp.pebble.invalid/"
# What pebble 2.4.0's leaves break of the vendor pre-storage lint (certdesk.ca.vendor_lint),
# tolerated for pebble only, the way an operator would for a lab CA: pebble puts no
# certificate policy in its leaves (BR §7.1.2.7.9; a public CA must), and it sets
# keyEncipherment on every leaf, ECDSA keys included (RFC 8813 §3 forbids it). Everything
# else pebble issues passes; tests/ca/test_vendor_lint.py checks both against pkilint.
PEBBLE_LINT_TOLERATED = frozenset({"lint.policies", "lint.ec_key_encipherment"})
TSIG = TsigKey(
    name="certdesk-update.",
    secret=base64.b64encode(b"certdesk dns-01 test key, 32 b!").decode(),
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not come up within {timeout:.0f} s")


@dataclass
class Pebble:
    """One pebble process; ``stop``/``start`` keep ports and config (its state is in memory)."""

    workdir: Path
    env: Mapping[str, str]
    dns_port: int | None = None
    blocklist: tuple[str, ...] = ()  # names pebble refuses to order (with their subdomains)
    port: int = field(default_factory=free_port)
    management_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        ca = trustme.CA()
        server = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_bundle = self.workdir / "pebble-https-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_bundle))
        server.private_key_pem.write_to_path(str(self.workdir / "key.pem"))
        server.cert_chain_pems[0].write_to_path(str(self.workdir / "cert.pem"))
        config = {
            "pebble": {
                "listenAddress": f"127.0.0.1:{self.port}",
                "managementListenAddress": f"127.0.0.1:{self.management_port}",
                "certificate": str(self.workdir / "cert.pem"),
                "privateKey": str(self.workdir / "key.pem"),
                "httpPort": self.http_port,
                "tlsPort": free_port(),
                # Put in every leaf's AIA as a real vendor's revocation pointer would be
                # (BR §7.1.2.7.7); pebble serves no OCSP, and nothing here asks it.
                "ocspResponderURL": PEBBLE_OCSP_URL,
                "certificateValidityPeriod": int(PEBBLE_VALIDITY.total_seconds()),
                "externalAccountBindingRequired": True,
                "externalAccountMACKeys": {EAB_KID: EAB_HMAC},
                "domainBlocklist": list(self.blocklist),
            }
        }
        self.config = self.workdir / "pebble-config.json"
        self.config.write_text(json.dumps(config))
        self._tls = ssl.create_default_context(cafile=str(self.ca_bundle))

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(f"https://127.0.0.1:{self.port}/dir", ca_bundle=str(self.ca_bundle))

    def start(self) -> None:
        args = ["pebble", "-config", str(self.config)]
        if self.dns_port is not None:
            args += ["-dnsserver", f"127.0.0.1:{self.dns_port}"]
        env = {"PATH": os.environ["PATH"], **self.env}
        with open(self.workdir / "pebble.log", "ab") as log:
            self.process = subprocess.Popen(
                args, cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        _wait_for(self._ready, "pebble")

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"pebble exited: {(self.workdir / 'pebble.log').read_text()}")
        try:
            self._get(f"https://127.0.0.1:{self.port}/dir")
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def _get(self, url: str) -> bytes:
        with urllib.request.urlopen(url, context=self._tls, timeout=5) as resp:
            body: bytes = resp.read()
            return body

    def _management(self, path: str) -> bytes:
        return self._get(f"https://127.0.0.1:{self.management_port}{path}")

    def roots(self) -> tuple[x509.Certificate, ...]:
        """Every root pebble signs under (``/roots/0`` and, with alternates, ``/roots/N``)."""
        found: list[x509.Certificate] = []
        for i in range(4):
            try:
                found.append(x509.load_pem_x509_certificate(self._management(f"/roots/{i}")))
            except OSError:
                break
        return tuple(found)

    def cert_status(self, serial: int) -> dict[str, object]:
        """Pebble's own record of a certificate (management ``/cert-status-by-serial``)."""
        data: dict[str, object] = json.loads(self._management(f"/cert-status-by-serial/{serial:x}"))
        return data


@contextmanager
def running_pebble(
    workdir: Path,
    *,
    always_valid: bool,
    dns_port: int | None = None,
    blocklist: tuple[str, ...] = (),
    **extra_env: str,
) -> Iterator[Pebble]:
    env = {
        "PEBBLE_VA_NOSLEEP": "1",
        "PEBBLE_WFE_NONCEREJECT": "0",
        "PEBBLE_AUTHZREUSE": "0",
        **extra_env,
    }
    if always_valid:
        env["PEBBLE_VA_ALWAYS_VALID"] = "1"
    pebble = Pebble(workdir=workdir, env=env, dns_port=dns_port, blocklist=blocklist)
    pebble.start()
    try:
        yield pebble
    finally:
        pebble.stop()


@dataclass
class Bind9:
    """``named`` serving ZONE from a file, accepting TSIG-signed updates for it."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # Further zones served the same way (empty but for SOA/NS), e.g. a CNAME target's zone.
    extra_zones: tuple[str, ...] = ()

    @property
    def server(self) -> NameServer:
        return NameServer("127.0.0.1", self.port)

    def start(self) -> None:
        zone_file = self.workdir / f"{ZONE}.db"
        zone_file.write_text(
            f"$ORIGIN {ZONE}.\n$TTL 60\n"
            f"@ IN SOA ns1.{ZONE}. hostmaster.{ZONE}. 1 3600 600 86400 60\n"
            f"@ IN NS ns1.{ZONE}.\n"
            f"ns1 IN A 127.0.0.1\n"
            # Every name in the zone is this machine, so pebble's http-01 reaches the listener.
            f"@ IN A 127.0.0.1\n* IN A 127.0.0.1\n"
        )
        extra = ""
        for other in self.extra_zones:
            other_file = self.workdir / f"{other}.db"
            other_file.write_text(
                f"$ORIGIN {other}.\n$TTL 60\n"
                f"@ IN SOA ns1.{ZONE}. hostmaster.{ZONE}. 1 3600 600 86400 60\n"
                f"@ IN NS ns1.{ZONE}.\n"
            )
            extra += (
                f'zone "{other}" {{ type primary; file "{other_file}";'
                f' allow-update {{ key "{TSIG.name.rstrip(".")}"; }}; }};\n'
            )
        conf = self.workdir / "named.conf"
        conf.write_text(
            f"""
key "{TSIG.name.rstrip(".")}" {{ algorithm {TSIG.algorithm}; secret "{TSIG.secret}"; }};
options {{
  directory "{self.workdir}";
  pid-file "{self.workdir}/named.pid";
  listen-on port {self.port} {{ 127.0.0.1; }};
  listen-on-v6 {{ none; }};
  recursion no;
  dnssec-validation no;
  allow-query {{ any; }};
}};
controls {{ }};
zone "{ZONE}" {{
  type primary;
  file "{zone_file}";
  allow-update {{ key "{TSIG.name.rstrip(".")}"; }};
}};
{extra}"""
        )
        with open(self.workdir / "named.log", "ab") as log:
            self.process = subprocess.Popen(
                ["named", "-g", "-4", "-c", str(conf)],
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait_for(self._ready, "named")

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"named exited: {(self.workdir / 'named.log').read_text()}")
        if "running" not in (self.workdir / "named.log").read_text():
            return False
        # named logs "running" a moment before its UDP listener answers, and answers SERVFAIL
        # for a zone it has not loaded yet: ready once the zone's SOA comes back.
        query = dns.message.make_query(ZONE, dns.rdatatype.SOA)
        try:
            reply = dns.query.udp(query, "127.0.0.1", port=self.port, timeout=0.2)
        except (dns.exception.Timeout, OSError):
            return False
        return reply.rcode() == dns.rcode.NOERROR and bool(reply.answer)

    def update(self, *changes: tuple[str, str, str], zone: str = ZONE) -> None:
        """RFC 2136 update signed with the zone's TSIG key: (name, type, value) added; a value
        of "" deletes the name's records of that type."""
        keyring = dns.tsigkeyring.from_text({TSIG.name: TSIG.secret})
        msg = dns.update.UpdateMessage(zone + ".", keyring=keyring, keyalgorithm=TSIG.algorithm)
        for name, rdtype, value in changes:
            if value:
                msg.add(name + ".", 60, rdtype, value)
            else:
                msg.delete(name + ".", rdtype)
        answer = dns.query.tcp(msg, "127.0.0.1", port=self.port, timeout=5)
        assert answer.rcode() == 0, answer

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@contextmanager
def running_bind9(workdir: Path, extra_zones: tuple[str, ...] = ()) -> Iterator[Bind9]:
    if shutil.which("named") is None:
        raise AssertionError("bind9 is missing: run `make system-deps`")
    named = Bind9(workdir=workdir, extra_zones=extra_zones)
    named.start()
    try:
        yield named
    finally:
        named.stop()


class _ChallengeHandler(http.server.BaseHTTPRequestHandler):
    lookup: Callable[[str], str | None]

    def do_GET(self) -> None:
        prefix = "/.well-known/acme-challenge/"
        answer = self.lookup(self.path[len(prefix) :]) if self.path.startswith(prefix) else None
        body = (answer or "not found").encode()
        self.send_response(200 if answer else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@contextmanager
def challenge_listener(port: int, lookup: Callable[[str], str | None]) -> Iterator[list[str]]:
    """Serve ``/.well-known/acme-challenge/<token>`` on 127.0.0.1:port; yields the paths asked."""
    asked: list[str] = []

    def remember(token: str) -> str | None:
        asked.append(token)
        return lookup(token)

    handler = type("Handler", (_ChallengeHandler,), {"lookup": staticmethod(remember)})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield asked
    finally:
        server.shutdown()
        server.server_close()


# --- requests and issuers -------------------------------------------------------------------


class RecordingJournal:
    """A journal that keeps what the backend reported, in order."""

    def __init__(self) -> None:
        self.intents: list[Intent] = []

    def record(self, intent: Intent) -> None:
        self.intents.append(intent)


def csr_for(
    names: tuple[str, ...], key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None
) -> x509.CertificateSigningRequest:
    key = key or ec.generate_private_key(ec.SECP256R1())
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())
    )


def request_for(names: tuple[str, ...], *, max_days: int = 200) -> IssueRequest:
    now = datetime.now(UTC)
    return IssueRequest(
        csr=csr_for(names),
        names=names,
        not_before=now,
        not_after=now + timedelta(days=max_days - 1),
        max_days=max_days,
    )


def unique_names(*labels: str) -> tuple[str, ...]:
    """Names no earlier test asked for (pebble may reuse authorizations per name)."""
    tag = secrets.token_hex(4)
    return tuple(f"{label}-{tag}.{ZONE}" for label in labels)


def registered(pebble: Pebble) -> Account:
    binding = ExternalAccountBinding(EAB_KID, EAB_HMAC)
    return register(pebble.endpoint, binding, key=new_account_key(), backoff=FAST_BACKOFF)


def issuer_for(
    pebble: Pebble,
    account: Account,
    solver: ByZone | Solver,
    *,
    wait: timedelta = timedelta(seconds=30),
    anchors: tuple[x509.Certificate, ...] | None = None,
    profiles: Mapping[str, str] | None = None,
    lint_tolerate: frozenset[str] | None = None,
) -> AcmeIssuer:
    session = AcmeSession(
        pebble.endpoint, account.key, account_url=account.url, backoff=FAST_BACKOFF
    )
    settings = AcmeSettings(
        anchors=pebble.roots() if anchors is None else anchors,
        profiles=dict(profiles or {}),
        wait=wait,
        poll_interval=timedelta(milliseconds=50),
        lint_tolerate=PEBBLE_LINT_TOLERATED if lint_tolerate is None else lint_tolerate,
    )
    return AcmeIssuer(session, solver, settings)
