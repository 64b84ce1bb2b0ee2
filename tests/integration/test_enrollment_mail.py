"""R10 enrollment mail through a real SMTP server (aiosmtpd on 127.0.0.1, a free port).

The mail carries the single-use link and the training link and no password; delivery
attempts, errors and status are recorded in the outbox; temporary failures are retried and
permanent ones are not; SMTP AUTH, STARTTLS and implicit TLS work as CERTDESK_SMTP_URL says.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from certdesk import notify
from certdesk.config import Settings
from certdesk.errors import InvalidInput
from certdesk.notify import MAX_ATTEMPTS, send_pending
from certdesk.notify.smtp import SmtpTarget, SmtpTransport, parse_smtp_url
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.setup import initialize
from certdesk.store.models import Outbox
from conftest import OPERATOR, ManualClock
from world.mail import Inbox
from world.processes import free_port

SQLITE = pytest.mark.parametrize("backend", ["sqlite"])  # overrides conftest's backend
TRAINING = "https://training.cdt.ca.gov/certdesk"
SENDER = "certdesk@cdt.ca.gov"
PASSWORD = "correct horse battery"


class Server:
    def __init__(self, **kw: Any) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **kw)

    def __enter__(self) -> Server:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


@pytest.fixture
def smtp() -> Iterator[Server]:
    with Server() as server:
        yield server


def make_services(database_url: str, tmp: Path, clock: ManualClock, smtp_url: str) -> Services:
    settings = Settings(
        data_dir=tmp / "data",
        database_url=database_url,
        base_url="https://certdesk.cdt.ca.gov",
        ca_passphrase="test-passphrase",
        training_url=TRAINING,
        smtp_url=smtp_url,
        mail_from=SENDER,
    )
    services = Services(Runtime.open(settings, clock))
    initialize(services, with_token=False)
    services.orgs.create(OPERATOR, "dmv", "DMV", self_managed=True, grants=["zone:dmv.ca.gov"])
    return services


@pytest.fixture
def desk(database_url: str, tmp_path: Path, clock: ManualClock, smtp: Server) -> Iterator[Services]:
    services = make_services(database_url, tmp_path, clock, f"smtp://127.0.0.1:{smtp.port}")
    yield services
    services.rt.close()


def new_user(desk: Services, login: str = "jdoe", email: str = "jane@dmv.ca.gov") -> str:
    return desk.accounts.create(
        OPERATOR, login, name="Jane Doe", email=email, org_code="dmv", roles=["requester"]
    ).link


def outbox(desk: Services) -> list[Outbox]:
    with desk.rt.reads() as s:
        return list(s.scalars(select(Outbox).order_by(Outbox.id)))


def test_enrollment_mail_arrives_with_the_links_and_no_password(
    desk: Services, smtp: Server, clock: ManualClock
) -> None:
    link = new_user(desk)
    report = send_pending(desk.rt, desk.secretbox)
    assert (report.sent, report.retrying, report.failed) == (1, 0, 0)

    (msg,) = smtp.inbox.messages
    assert msg["To"] == "jane@dmv.ca.gov"
    assert msg["From"] == SENDER
    assert msg["Subject"] == "Your certdesk account: set your password"
    assert msg["Message-ID"].endswith("@cdt.ca.gov>")
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    plain, rich = text.get_content(), html.get_content()
    for body in (plain, rich):
        assert link in body  # R10: the single-use link ...
        assert TRAINING in body  # ... and the training material link
        assert "jdoe" in body
        # ... and never a password: no credential field anywhere in the mail.
        assert not re.search(r"password\s*[:=]", body, re.IGNORECASE)
    assert "contains no password" in plain

    (row,) = outbox(desk)
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, "")
    assert row.sent_at == clock.now
    # Once sent, the stored copy no longer holds a usable link.
    token = link.rsplit("/", 1)[1]
    assert token not in row.body_text and token not in row.body_html
    assert "/enroll/[link removed after sending]" in row.body_text

    # The link in the mail works, once.
    mailed = re.search(r"https://\S+/enroll/([0-9a-f]{64})", plain)
    assert mailed is not None and mailed.group(1) == token
    desk.accounts.enroll(mailed.group(1), PASSWORD)
    assert desk.logins.login("jdoe", PASSWORD).user.enrolled

    # Nothing is sent twice.
    assert send_pending(desk.rt, desk.secretbox).sent == 0
    assert len(smtp.inbox.messages) == 1


@SQLITE
def test_a_reset_mail_carries_the_new_link(desk: Services, smtp: Server) -> None:
    new_user(desk)
    reset = desk.accounts.reset(OPERATOR, "jdoe")
    assert send_pending(desk.rt, desk.secretbox).sent == 2
    last = smtp.inbox.messages[-1]
    assert last["Subject"] == "certdesk: reset your password"
    body = last.get_body(("plain",))
    assert body is not None and reset.link in body.get_content()
    assert "keeps working until you use the link" in body.get_content()


@SQLITE
def test_temporary_failures_are_retried_and_recorded(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    port = free_port()  # nobody listens here yet
    desk = make_services(database_url, tmp_path, clock, f"smtp://127.0.0.1:{port}")
    try:
        new_user(desk)
        for attempt in range(1, MAX_ATTEMPTS):
            report = send_pending(desk.rt, desk.secretbox)
            assert (report.sent, report.retrying, report.failed) == (0, 1, 0)
            (row,) = outbox(desk)
            assert (row.status, row.attempts) == ("pending", attempt)
            assert "ConnectionRefusedError" in row.last_error
        report = send_pending(desk.rt, desk.secretbox)
        assert (report.retrying, report.failed) == (0, 1)
        (row,) = outbox(desk)
        assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)
        assert "/enroll/[link removed after sending]" in row.body_text
        assert send_pending(desk.rt, desk.secretbox).as_dict() == {
            "sent": 0, "retrying": 0, "failed": 0, "errors": [],
        }  # fmt: skip
    finally:
        desk.rt.close()


@SQLITE
def test_a_permanent_refusal_fails_at_once_and_the_rest_goes_out(
    desk: Services, smtp: Server
) -> None:
    smtp.inbox.refuse["gone@dmv.ca.gov"] = "550 5.1.1 no such mailbox"
    new_user(desk, "gone", "gone@dmv.ca.gov")
    new_user(desk, "jdoe", "jane@dmv.ca.gov")
    report = send_pending(desk.rt, desk.secretbox)
    assert (report.sent, report.retrying, report.failed) == (1, 0, 1)
    assert "no such mailbox" in report.errors[0]
    gone, jane = outbox(desk)
    assert (gone.status, gone.attempts) == ("failed", 1)
    assert "550" in gone.last_error
    assert jane.status == "sent"
    assert [m["To"] for m in smtp.inbox.messages] == ["jane@dmv.ca.gov"]


@SQLITE
def test_an_attempt_is_claimed_once(desk: Services) -> None:
    """Two senders that read the same pending row: only one may make the attempt."""
    new_user(desk)
    (row,) = outbox(desk)
    assert notify._claim(desk.rt, desk.secretbox, row.id, 0) is not None
    assert notify._claim(desk.rt, desk.secretbox, row.id, 0) is None
    (row,) = outbox(desk)
    assert row.attempts == 1 and row.status == "pending"


def _authenticator(user: str, password: str) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            user.encode(), password.encode(),
        )  # fmt: skip
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535

    return check


@SQLITE
@pytest.mark.parametrize(
    ("password", "delivered"),
    [
        pytest.param("p@ss w0rd/:", True, id="smtp/auth-ok-percent-encoded"),
        pytest.param("wrong", False, id="smtp/auth-refused-is-temporary"),
    ],
)
def test_smtp_auth(
    database_url: str, tmp_path: Path, clock: ManualClock, password: str, delivered: bool
) -> None:
    with Server(
        authenticator=_authenticator("certdesk", "p@ss w0rd/:"), auth_require_tls=False
    ) as server:
        url = f"smtp://certdesk:{quote(password, safe='')}@127.0.0.1:{server.port}"
        desk = make_services(database_url, tmp_path, clock, url)
        try:
            new_user(desk)
            report = send_pending(desk.rt, desk.secretbox)
            (row,) = outbox(desk)
        finally:
            desk.rt.close()
    if delivered:
        assert report.sent == 1 and len(server.inbox.messages) == 1
    else:
        assert report.retrying == 1 and not server.inbox.messages
        assert row.status == "pending" and "SMTPAuthenticationError" in row.last_error
        assert password not in row.last_error


def _tls_pair(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throw-away self-signed certificate for 127.0.0.1: (server, client) contexts."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp / "smtp.pem").write_bytes(cert_pem)
    (tmp / "smtp.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp / "smtp.pem", tmp / "smtp.key")
    client_ctx = ssl.create_default_context(cadata=cert_pem.decode())
    return server_ctx, client_ctx


def _message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = SENDER
    msg["To"] = "jane@dmv.ca.gov"
    msg["Subject"] = "tls test"
    msg.set_content("hello")
    return msg


@pytest.mark.parametrize("scheme", ["smtp+starttls", "smtps"])
def test_tls_transports(tmp_path: Path, scheme: str) -> None:
    server_ctx, client_ctx = _tls_pair(tmp_path)
    kw: dict[str, Any] = (
        {"tls_context": server_ctx, "require_starttls": True}
        if scheme == "smtp+starttls"
        else {"ssl_context": server_ctx}
    )
    with Server(**kw) as server:
        target = parse_smtp_url(f"{scheme}://127.0.0.1:{server.port}")
        transport = SmtpTransport(target, ssl_context=client_ctx, timeout=10)
        try:
            transport.send(_message())
            transport.send(_message())  # the same connection, reused
        finally:
            transport.close()
        assert [m["Subject"] for m in server.inbox.messages] == ["tls test", "tls test"]
        # Without trusting the certificate the connection is refused, not downgraded.
        untrusting = SmtpTransport(target, timeout=10)
        with pytest.raises(ssl.SSLError):
            untrusting.send(_message())
        untrusting.close()


@pytest.mark.parametrize(
    ("url", "target"),
    [
        pytest.param("smtp://mail.ca.gov", SmtpTarget("plain", "mail.ca.gov", 25), id="smtp/plain"),
        pytest.param("smtps://mail.ca.gov", SmtpTarget("tls", "mail.ca.gov", 465), id="smtp/tls"),
        pytest.param(
            "smtp+starttls://mail.ca.gov:2525/",
            SmtpTarget("starttls", "mail.ca.gov", 2525),
            id="smtp/starttls-port",
        ),
        pytest.param(
            "smtps://u%40x:p%3As@mail.ca.gov",
            SmtpTarget("tls", "mail.ca.gov", 465, "u@x", "p:s"),
            id="smtp/credentials",
        ),
    ],
)
def test_smtp_urls(url: str, target: SmtpTarget) -> None:
    assert parse_smtp_url(url) == target
    assert "p:s" not in repr(parse_smtp_url(url))  # the password never shows in a repr


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://mail.ca.gov", id="smtp/bad-scheme"),
        pytest.param("smtp://", id="smtp/no-host"),
        pytest.param("smtp://mail.ca.gov:99999", id="smtp/bad-port"),
        pytest.param("smtp://u:secret@mail.ca.gov/path", id="smtp/path"),
    ],
)
def test_bad_smtp_urls_are_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_smtp_url(url)
    assert err.value.code == "smtp.url"
    assert "secret" not in err.value.detail
