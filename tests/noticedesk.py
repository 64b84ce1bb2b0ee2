"""What the notice tests share (R9): a certdesk with organizations and contacts, a real SMTP
server on loopback (aiosmtpd) that can be stopped and started, a fake transport for
failure injection, and readers for the messages certdesk sends.

Not a conftest: imported as ``noticedesk`` by tests/services/test_notices.py,
tests/integration/test_notice_mail.py, tests/cli/test_notices_cli.py and
tests/web/test_notices_api.py (``tests/`` is on the path).

Certificates come from the real issuance pipeline. Submittal contacts are attached with
direct rows (a case and a submittal pointing at the certificate), clearly test data: the case
workflow itself is exercised by the case-event tests through the case services.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import psycopg
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from casedesk import make_csr
from certdesk.config import Settings
from certdesk.services.casework.contacts import ContactInput
from certdesk.services.lifecycle.notices import NoticeService
from certdesk.services.pki.issuance import IssueCommand
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.setup import initialize
from certdesk.store.models import Case, CertificateRow, Contact, Notice, Submittal
from conftest import OPERATOR, ManualClock, scratch_pg

SENDER = "certdesk@cdt.ca.gov"
START = datetime(2027, 1, 4, 18, 0, tzinfo=UTC)  # a Monday, 10:00 Pacific
KEY = ec.generate_private_key(ec.SECP256R1())  # one key for every test CSR: signing is fast

# --- a real SMTP server ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Inbox:
    """An aiosmtpd handler that keeps what it accepts and refuses chosen recipients."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: dict[str, str] = {}  # address -> SMTP reply, e.g. "550 no such user"
        self.delay = 0.0  # seconds before accepting each message (a slow server)

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.delay:
            await asyncio.sleep(self.delay)
        msg = message_from_bytes(envelope.content, policy=email_policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on 127.0.0.1 at a fixed free port; ``stop()`` and ``start()`` simulate an
    outage (connections are refused while it is down)."""

    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self._controller is not None:
            return
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ExternalSmtpServer:
    """aiosmtpd in a process of its own, storing what it accepts in a Maildir.

    For the long tests: the server then parses on the other CPU instead of competing with the
    code under test for this process's interpreter. ``stop()`` kills it (connections are
    refused), ``start()`` runs a new one on the same port and the same Maildir.
    """

    def __init__(self, maildir: Path) -> None:
        self.port = free_port()
        self.maildir = maildir
        self._proc: subprocess.Popen[bytes] | None = None
        self._seen: set[str] = set()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self._proc is not None:
            return
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}",
             "-c", "aiosmtpd.handlers.Mailbox", str(self.maildir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.recv(100)  # the 220 greeting: the server is up
                return
            except OSError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    raise AssertionError("the aiosmtpd process did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def take(self) -> list[EmailMessage]:
        """The messages accepted since the last call, headers only."""
        new = self.maildir / "new"
        names = sorted(set(os.listdir(new)) - self._seen) if new.exists() else []
        self._seen.update(names)
        parser = BytesHeaderParser(policy=email_policy.default)
        out = []
        for name in names:
            with open(new / name, "rb") as f:
                msg = parser.parse(f)
            assert isinstance(msg, EmailMessage)
            out.append(msg)
        return out

    def __enter__(self) -> ExternalSmtpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- a fake transport --------------------------------------------------------------------------


class Crash(BaseException):
    """The process dies here (not an ``Exception``: nothing in certdesk catches it)."""


@dataclass
class FakeTransport:
    """Records messages; fails on demand the way smtplib does."""

    sent: list[EmailMessage] = field(default_factory=list)
    refuse: dict[str, tuple[int, str]] = field(default_factory=dict)  # address -> (code, text)
    down: bool = False
    crash_before: int | None = None  # die when asked to send message number N (0-based)
    crash_after: int | None = None  # die right after message number N was accepted
    attempts: int = 0
    closed: int = 0
    on_send: Callable[[int], None] | None = None  # called with N before message N goes out

    def send(self, message: EmailMessage) -> None:
        n = self.attempts
        self.attempts += 1
        if self.on_send is not None:
            self.on_send(n)
        if self.crash_before == n:
            raise Crash("killed before the SMTP server saw the message")
        if self.down:
            raise ConnectionRefusedError(111, "Connection refused")
        to = str(message["To"])
        if to in self.refuse:
            code, text = self.refuse[to]
            raise smtplib.SMTPRecipientsRefused({to: (code, text.encode())})
        self.sent.append(message)
        if self.crash_after == n:
            raise Crash("killed after the SMTP server accepted the message")

    def close(self) -> None:
        self.closed += 1


# --- reading what was sent ---------------------------------------------------------------------


@dataclass(frozen=True)
class Got:
    """One notice as a message announced it (X-Certdesk-Notice)."""

    to: str
    subject: str  # "certificate <serial>" or "case <number>"
    reason: str
    late: bool
    notice_id: int


def notices_in(msg: EmailMessage) -> list[Got]:
    out: list[Got] = []
    for header in msg.get_all("X-Certdesk-Notice") or []:
        label, *parts = [p.strip() for p in str(header).split(";")]
        fields = dict(p.split("=", 1) for p in parts)
        out.append(
            Got(
                str(msg["To"]).lower(),
                label,
                fields["reason"],
                fields["late"] == "yes",
                int(fields["id"]),
            )
        )
    return out


def received(messages: Sequence[EmailMessage]) -> list[Got]:
    return [g for m in messages for g in notices_in(m)]


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    content: str = part.get_content()  # type: ignore[attr-defined]
    return content


def html_of(msg: EmailMessage) -> str:
    part = msg.get_body(("html",))
    assert part is not None
    content: str = part.get_content()  # type: ignore[attr-defined]
    return content


# --- a populated certdesk ------------------------------------------------------------------------


@dataclass
class Desk:
    services: Services
    clock: ManualClock
    _seq: int = 0

    @property
    def rt(self) -> Runtime:
        return self.services.rt

    def unique(self, stem: str) -> str:
        self._seq += 1
        return f"{stem}{self._seq}"

    def issue(self, org: str, *names: str, days: int | None = None) -> str:
        """A certificate through the pipeline, valid from the clock's now."""
        wanted = names or (f"{self.unique('www')}.{org}.ca.gov",)
        issued = self.services.issuance.issue(
            OPERATOR,
            IssueCommand(org_code=org, csr=make_csr(wanted, key=KEY), days=days),
        )
        return issued.serial

    def cert(self, serial: str) -> CertificateRow:
        with self.rt.reads() as s:
            row = s.scalars(select(CertificateRow).where(CertificateRow.serial == serial)).one()
            return row

    def org_contact(self, org: str, name: str, email: str) -> None:
        self.services.contacts.add(OPERATOR, org, ContactInput("technical", name, email))

    def attach(self, serials: Sequence[str], contacts: Sequence[tuple[str, str]]) -> None:
        """Test data: a delivered case whose one submittal got each certificate, with
        ``contacts`` ((name, email), stored as given, even when invalid) on each submittal."""
        now = self.clock()
        with self.rt.sessions.begin() as s:
            for serial in serials:
                cert = s.scalars(
                    select(CertificateRow).where(CertificateRow.serial == serial)
                ).one()
                self._seq += 1
                case = Case(
                    number=f"CS-{now.year}-9{self._seq:08d}",
                    org_id=cert.org_id,
                    type="new",
                    state="closed",
                    title="test data: a certificate with contacts",
                    description="",
                    opened_by="test",
                    expedite=False,
                    approval_steps="",
                    approval_round=1,
                    payload="{}",
                    created_at=now,
                    updated_at=now,
                )
                s.add(case)
                s.flush()
                sub = Submittal(
                    case_id=case.id,
                    names=cert.names,
                    cert_type="single",
                    platform="virtual",
                    key_type="ec256",
                    service_option="managed",
                    certificate_id=cert.id,
                    created_at=now,
                )
                s.add(sub)
                s.flush()
                for name, email in contacts:
                    s.add(
                        Contact(
                            org_id=cert.org_id,
                            submittal_id=sub.id,
                            kind="technical",
                            name=name,
                            email=email,
                            phone="",
                            created_at=now,
                            updated_at=now,
                        )
                    )

    def notices(self) -> list[Notice]:
        with self.rt.reads() as s:
            return list(s.scalars(select(Notice).order_by(Notice.id)))


def settings_for(url: str, tmp: Path, **kw: Any) -> Settings:
    base: dict[str, Any] = {
        "data_dir": tmp / "data",
        "database_url": url,
        "base_url": "https://certdesk.cdt.ca.gov",
        "ca_passphrase": "test-passphrase",
        "mail_from": SENDER,
        "notice_retry_seconds": 60,
        # These tests are about which notices go out, not about surviving power loss: the
        # SQLite commits of a sent mark need not wait for the disk.
        "sqlite_synchronous": "normal",
    }
    return Settings(**{**base, **kw})


# What a test adds; emptied between the tests that share a PostgreSQL database (CASCADE takes
# the submittals, case events, approvals, comments and certificate names along).
_TEST_TABLES = "notices, contacts, certificates, cases"


class Snapshots:
    """certdesk initialized once per backend (schema, built-in CA, the organizations dmv and
    chp) and handed to each test in that state: a copy of the file on SQLite; on PostgreSQL
    the one database, emptied of what the previous test added. Initializing (a CA per test)
    would cost most of the tests' time."""

    def __init__(self, tmp: Path) -> None:
        self._tmp = tmp
        self._made: dict[str, str] = {}
        self._pg = ExitStack()  # the PostgreSQL templates, dropped by close()

    def _make(self, backend: str) -> str:
        home = self._tmp / f"template-{backend}"
        home.mkdir()
        if backend == "sqlite":
            url = f"sqlite:///{home / 'certdesk.db'}"
        else:
            url = self._pg.enter_context(scratch_pg("notices"))
        rt = Runtime.open(settings_for(url, home), ManualClock(START))
        try:
            services = Services(rt)
            initialize(services, with_token=False)
            for code, name_ in (("dmv", "Motor Vehicles"), ("chp", "Highway Patrol")):
                services.orgs.create(
                    OPERATOR, code, name_, self_managed=False, grants=[f"zone:{code}.ca.gov"]
                )
        finally:
            rt.close()
        self._made[backend] = url
        return url

    def clone(self, backend: str, tmp: Path) -> str:
        """certdesk as initialized, for one test (its CA files in ``tmp/data``); the URL."""
        fresh = backend not in self._made
        source = self._made.get(backend) or self._make(backend)
        shutil.copytree(self._tmp / f"template-{backend}" / "data", tmp / "data")
        if backend == "sqlite":
            shutil.copy(source.removeprefix("sqlite:///"), tmp / "certdesk.db")
            return f"sqlite:///{tmp / 'certdesk.db'}"
        if not fresh:
            with psycopg.connect(source.replace("+psycopg", ""), autocommit=True) as conn:
                conn.execute(f"TRUNCATE {_TEST_TABLES} RESTART IDENTITY CASCADE")
        return source

    def close(self) -> None:
        self._pg.close()


@contextmanager
def open_desk(
    url: str,
    tmp: Path,
    *,
    clock: ManualClock | None = None,
    transport: Any = None,
    **settings: Any,
) -> Iterator[Desk]:
    """The services on a copy made by :class:`Snapshots` (at ``url``, CA files in ``tmp``)."""
    clock = clock or ManualClock(START)
    rt = Runtime.open(settings_for(url, tmp, **settings), clock)
    services = Services(rt)
    if transport is not None:
        services.notices = NoticeService(rt, transport=lambda: transport)
    try:
        yield Desk(services, clock)
    finally:
        rt.close()
