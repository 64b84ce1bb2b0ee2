"""R10 enrollment mail through a real SMTP server (aiosmtpd on 127.0.0.1, a free port).

The mail carries the single-use link and the training link and no password; it waits in the
one mail queue with the R9 notices (issue 11, part 4), where delivery attempts, errors and
status are recorded; an outage of any length is waited out with backoff and never fails the
mail, a permanent refusal (5xx) does at once; a sender killed while sending neither loses the
mail nor records it twice; SMTP AUTH, STARTTLS and implicit TLS work as CERTDESK_SMTP_URL says.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import signal
import ssl
import subprocess
from collections import Counter
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

from certdesk.config import Settings
from certdesk.errors import InvalidInput
from certdesk.notify.smtp import SmtpTarget, SmtpTransport, parse_smtp_url
from certdesk.services.lifecycle.account_mail import SendReport
from certdesk.services.lifecycle.notice_sending import CLAIM_LEASE, RETRY_CAP
from certdesk.services.people.account_mail import LINK_MARK
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.setup import initialize
from certdesk.store import mail_queue as queue
from certdesk.store.models import AuditRow, Notice
from conftest import OPERATOR, ManualClock
from world.mail import Crash, FakeTransport, Inbox
from world.processes import CERTDESK, certdesk_env, free_port, stop, wait_until

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


def make_services(
    database_url: str, tmp: Path, clock: ManualClock, smtp_url: str, **more: Any
) -> Services:
    settings = Settings(
        data_dir=tmp / "data",
        database_url=database_url,
        base_url="https://certdesk.cdt.ca.gov",
        ca_passphrase="test-passphrase",
        training_url=TRAINING,
        smtp_url=smtp_url,
        mail_from=SENDER,
        **more,
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


def outbox(desk: Services) -> list[Notice]:
    """The account mail in the mail queue, oldest first."""
    with desk.rt.reads() as s:
        return list(
            s.scalars(select(Notice).where(Notice.subject_type == "account").order_by(Notice.id))
        )


def send_pending(desk: Services, **kw: Any) -> SendReport:
    return desk.mail.send(**kw)


def test_enrollment_mail_arrives_with_the_links_and_no_password(
    desk: Services, smtp: Server, clock: ManualClock
) -> None:
    link = new_user(desk)
    report = send_pending(desk)
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
    # Once sent, the stored copy no longer holds the link, not even sealed.
    token = link.rsplit("/", 1)[1]
    assert token not in row.body_text and token not in row.body_html
    assert LINK_MARK in row.body_text and row.sealed_link is None

    # The link in the mail works, once.
    mailed = re.search(r"https://\S+/enroll/([0-9a-f]{64})", plain)
    assert mailed is not None and mailed.group(1) == token
    desk.accounts.enroll(mailed.group(1), PASSWORD)
    assert desk.logins.login("jdoe", PASSWORD).user.enrolled

    # Nothing is sent twice.
    assert send_pending(desk).sent == 0
    assert len(smtp.inbox.messages) == 1


@SQLITE
def test_a_reset_mail_carries_the_new_link(desk: Services, smtp: Server) -> None:
    new_user(desk)
    reset = desk.accounts.reset(OPERATOR, "jdoe")
    assert send_pending(desk).sent == 2
    last = smtp.inbox.messages[-1]
    assert last["Subject"] == "certdesk: reset your password"
    body = last.get_body(("plain",))
    assert body is not None and reset.link in body.get_content()
    assert "keeps working until you use the link" in body.get_content()


def test_an_outage_of_any_length_is_waited_out_and_the_mail_arrives_once(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    """The server is down for 20 worker passes (far more than any attempt limit), each one
    after the backoff moment: the mail waits, its attempts and error recorded, and arrives
    exactly once when the server is back."""
    server = Server()
    desk = make_services(database_url, tmp_path, clock, f"smtp://127.0.0.1:{server.port}")
    try:
        link = new_user(desk)
        for attempt in range(1, 21):
            report = send_pending(desk, due_only=True)
            assert (report.sent, report.retrying, report.failed) == (0, 1, 0)
            (row,) = outbox(desk)
            assert (row.status, row.attempts) == ("pending", attempt)
            assert "ConnectionRefusedError" in row.last_error
            assert row.sealed_link is not None  # still sealed, still sendable
            # Backoff: the next worker pass before the retry moment does not try again.
            assert row.next_attempt_at is not None and row.next_attempt_at > clock.now
            assert send_pending(desk, due_only=True).as_dict() == {
                "sent": 0, "retrying": 0, "failed": 0, "errors": [],
            }  # fmt: skip
            clock.advance(seconds=RETRY_CAP.total_seconds())
        with server:
            assert send_pending(desk, due_only=True).sent == 1
            assert send_pending(desk, due_only=True).sent == 0
            assert send_pending(desk).sent == 0
        (msg,) = server.inbox.messages
        body = msg.get_body(("plain",))
        assert body is not None and link in body.get_content()
        (row,) = outbox(desk)
        assert (row.status, row.attempts, row.last_error) == ("sent", 21, "")
        assert row.sealed_link is None
    finally:
        desk.rt.close()


@SQLITE
def test_mail_send_by_hand_does_not_wait_for_the_backoff(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    """An operator who fixed the server sends what waits now (``certdesk mail send``)."""
    server = Server()
    desk = make_services(database_url, tmp_path, clock, f"smtp://127.0.0.1:{server.port}")
    try:
        new_user(desk)
        assert send_pending(desk, due_only=True).retrying == 1
        with server:
            assert send_pending(desk, due_only=True).sent == 0  # the worker waits ...
            assert send_pending(desk).sent == 1  # ... the operator does not
        assert len(server.inbox.messages) == 1
    finally:
        desk.rt.close()


@SQLITE
def test_a_permanent_refusal_fails_at_once_and_the_rest_goes_out(
    desk: Services, smtp: Server
) -> None:
    smtp.inbox.refuse["gone@dmv.ca.gov"] = "550 5.1.1 no such mailbox"
    new_user(desk, "gone", "gone@dmv.ca.gov")
    new_user(desk, "jdoe", "jane@dmv.ca.gov")
    report = send_pending(desk)
    assert (report.sent, report.retrying, report.failed) == (1, 0, 1)
    assert "no such mailbox" in report.errors[0]
    gone, jane = outbox(desk)
    assert (gone.status, gone.attempts) == ("failed", 1)
    assert "550" in gone.last_error and gone.sealed_link is None  # failed for good
    assert send_pending(desk).as_dict()["sent"] == 0  # never tried again
    assert jane.status == "sent"
    assert [m["To"] for m in smtp.inbox.messages] == ["jane@dmv.ca.gov"]


@SQLITE
def test_an_attempt_is_claimed_once(desk: Services, clock: ManualClock) -> None:
    """Two senders that read the same waiting mail: only one may make the attempt."""
    new_user(desk)
    lease = clock.now + CLAIM_LEASE
    claims = []
    for sender in ("one", "two"):
        with desk.rt.sessions.begin() as s:
            claims.append(
                queue.claim_due(s, clock.now, sender, lease, None, subject_types=("account",))
            )
    (row,) = outbox(desk)
    assert claims == [{row.id: None}, {}]
    assert (row.status, row.claimed_by) == ("sending", "one")


@SQLITE
@pytest.mark.parametrize(
    ("crash", "repeats"),
    [
        pytest.param({"crash_before": 0}, 0, id="R10/killed-before-the-server-saw-it"),
        pytest.param({"crash_after": 0}, 1, id="R10/killed-after-the-server-accepted-it"),
    ],
)
def test_a_sender_killed_while_sending_loses_nothing_and_records_once(
    desk: Services, clock: ManualClock, crash: dict[str, int], repeats: int
) -> None:
    """The process dies in the middle of a send (``Crash`` is not an Exception: nothing in
    certdesk catches it, as nothing runs after SIGKILL). Its claim stands until it runs out;
    then the next sender takes the mail over and sends it, and the queue records it sent once.
    Only a mail the server had already accepted can arrive twice, with the same Message-ID."""
    link = new_user(desk)
    dying = FakeTransport(**crash)
    with pytest.raises(Crash):
        desk.mail.send(dying, due_only=True, worker_id="dying")
    (row,) = outbox(desk)
    assert (row.status, row.claimed_by) == ("sending", "dying")
    # Too early: the dead sender's claim still stands; nobody sends its mail.
    later = FakeTransport()
    assert desk.mail.send(later, worker_id="restarted").sent == 0
    assert later.sent == []
    clock.advance(seconds=CLAIM_LEASE.total_seconds() + 60)
    report = desk.mail.send(later, due_only=True, worker_id="restarted")
    assert (report.sent, report.retrying, report.failed) == (1, 0, 0)
    (row,) = outbox(desk)
    assert (row.status, row.claimed_by, row.sealed_link) == ("sent", None, None)
    assert row.attempts == 2  # the interrupted attempt counts
    delivered = dying.sent + later.sent
    assert len(delivered) == 1 + repeats
    assert len({m["Message-ID"] for m in delivered}) == 1
    body = later.sent[0].get_body(("plain",))
    assert body is not None and link in body.get_content()
    assert desk.mail.send(later, due_only=True).sent == 0  # nothing more to send


def test_a_mail_send_killed_mid_run_loses_nothing_and_records_each_mail_once(
    desk: Services, smtp: Server, clock: ManualClock, tmp_path: Path
) -> None:
    """``certdesk mail send`` is killed with SIGKILL while 30 enrollment mails go out; a
    sender started after its claims ran out sends the rest. Every mail arrives and is
    recorded sent once; only a mail the dead process had in flight can arrive twice (the
    at-least-once window), with the same Message-ID."""
    addresses = [f"u{i:02d}@dmv.ca.gov" for i in range(30)]
    for i, address in enumerate(addresses):
        new_user(desk, f"user{i:02d}", address)
    env = {
        **certdesk_env(desk.rt.settings),
        "CERTDESK_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
        "CERTDESK_MAIL_FROM": SENDER,
    }
    smtp.inbox.delay = 0.1  # a slow server: the kill lands in the middle of the run
    log = tmp_path / "mail-send.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(CERTDESK), "mail", "send", "--json"], env=env, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until(
            lambda: len(smtp.inbox.messages) >= 5, timeout=90, what="5 messages",
            alive=[(proc, log)],
        )  # fmt: skip
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        stop(proc)
    smtp.inbox.delay = 0
    before = len(smtp.inbox.messages)
    assert 5 <= before < 30
    # The dead process's claims stand for CLAIM_LEASE of real time; then they are taken over.
    clock.now = dt.datetime.now(dt.UTC) + CLAIM_LEASE + dt.timedelta(minutes=2)
    report = desk.mail.send(due_only=True)
    assert report.failed == 0 and report.sent >= 30 - before
    rows = outbox(desk)
    assert len(rows) == 30
    assert {(r.status, r.claimed_by, r.sealed_link) for r in rows} == {("sent", None, None)}
    got = Counter(str(m["To"]) for m in smtp.inbox.messages)
    assert sorted(got) == addresses  # none lost
    twice = [to for to, n in got.items() if n > 1]
    assert len(twice) <= 1 and set(got.values()) <= {1, 2}
    for to in twice:
        assert len({m["Message-ID"] for m in smtp.inbox.messages if m["To"] == to}) == 1


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
            report = send_pending(desk)
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


CERT_SERVICES = "certs@cdt.ca.gov"


@pytest.mark.parametrize(
    ("reply", "passes"),
    [
        pytest.param("550 5.1.1 no such mailbox", 1, id="R10/5xx-tells-cert-services-once"),
        pytest.param("452 4.2.2 mailbox full", 2, id="R10/4xx-attempts-used-up-tells-once"),
    ],
)
def test_r10_an_account_mail_that_fails_for_good_tells_cert_services_once(
    database_url: str, tmp_path: Path, clock: ManualClock, smtp: Server, reply: str, passes: int
) -> None:
    """The person never got their link: cert services are told which mail, to whom, why,
    and what to do (correct the address, send a new link), once, audited; the failed link
    itself is never passed on, and a failed telling is not told about again."""
    url = f"smtp://127.0.0.1:{smtp.port}"
    desk = make_services(
        database_url, tmp_path, clock, url, cert_services_email=CERT_SERVICES, notice_max_attempts=2
    )
    try:
        gone = "gone@dmv.ca.gov"
        smtp.inbox.refuse[gone] = reply
        new_user(desk, "gone", gone)
        for _ in range(passes):
            desk.mail.send()
        (failed,) = [n for n in outbox(desk) if n.contact_email == gone]
        assert (failed.status, failed.attempts) == ("failed", passes)
        for _ in range(3):  # later passes send the telling once, and nothing more
            desk.mail.send()
        told = [m for m in smtp.inbox.messages if str(m["To"]) == CERT_SERVICES]
        assert len(told) == 1
        (msg,) = told
        assert msg["Subject"] == f"certdesk: a mail to {gone} could not be delivered"
        body = msg.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        assert reply in text and "Your certdesk account: set your password" in text
        assert "certdesk user reset gone" in text
        assert "https://certdesk.cdt.ca.gov/users/gone" in text
        assert "/enroll/" not in text and LINK_MARK not in text  # never the failed link
        rows = [n for n in outbox(desk) if n.reason == f"undeliverable#{failed.id}"]
        assert CERT_SERVICES in [n.contact_email for n in rows]
        assert all(n.status == "sent" for n in rows)
        with desk.rt.reads() as s:
            audited = s.scalars(
                select(AuditRow.object_id).where(AuditRow.action == "mail.undeliverable")
            ).all()
        assert audited == [str(failed.id)]

        # The telling itself refused for good: recorded failed, nobody told about it.
        smtp.inbox.refuse[CERT_SERVICES] = "550 5.1.1 no such mailbox"
        new_user(desk, "gone2", "gone2@dmv.ca.gov")
        smtp.inbox.refuse["gone2@dmv.ca.gov"] = "550 5.1.1 no such mailbox"
        for _ in range(3):
            desk.mail.send()
        second = [n for n in outbox(desk) if n.contact_email == "gone2@dmv.ca.gov"]
        telling = [
            n
            for n in outbox(desk)
            if n.reason == f"undeliverable#{second[0].id}" and n.contact_email == CERT_SERVICES
        ]
        assert [n.status for n in telling] == ["failed"]
        assert not [n for n in outbox(desk) if n.reason == f"undeliverable#{telling[0].id}"]
    finally:
        desk.rt.close()
