"""Mail in tests (R9, R10): a real SMTP server on loopback (aiosmtpd) that can be stopped and
started, one in a process of its own for long tests, a fake transport for failure injection,
and readers for the messages certdesk sends.
"""

from __future__ import annotations

import asyncio
import os
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from certdesk.notify.wire import Outgoing
from world.processes import free_port

SENDER = "certdesk@cdt.ca.gov"

# --- a real SMTP server ----------------------------------------------------------------------


class Inbox:
    """An aiosmtpd handler that keeps what it accepts and refuses chosen recipients."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: dict[str, str] = {}  # address -> SMTP reply, e.g. "550 no such user"
        self.delay = 0.0  # seconds before accepting (or refusing) each message: a slow server

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refuse:
            if self.delay:
                await asyncio.sleep(self.delay)
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

    def send(self, message: EmailMessage | Outgoing) -> None:
        if isinstance(message, Outgoing):  # the bytes certdesk sends, read as a reader would
            parsed = message_from_bytes(message.data, policy=email_policy.default)
            assert isinstance(parsed, EmailMessage) and parsed["To"] == message.to
            message = parsed
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
